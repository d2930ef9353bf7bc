"""One error family for the whole installer, and the exit codes it maps to.

Every error an operator can meet is an :class:`InstallerError` with a message that
names the file, key or image concerned and a hint that says what to do. The CLI
catches this base class once (``installer.cli.main``) and turns it into an exit
code; nothing else calls ``sys.exit``.

Exit codes are an API (scripts and the headless mode depend on them):

====  =====================================================
code  meaning
====  =====================================================
0     done (every step ok or skipped)
1     an install step failed
2     bad input: command line, profile, or bundle
3     preflight failed
4     another installer holds the lock
130   interrupted (Ctrl-C / SIGTERM); the journal lets a re-run resume
====  =====================================================
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes."""

    OK = 0
    STEP_FAILED = 1
    BAD_INPUT = 2
    PREFLIGHT_FAILED = 3
    LOCKED = 4
    INTERRUPTED = 130


class InstallerError(Exception):
    """Base of every error shown to the operator.

    Args:
        message: one line naming what is wrong (file, key, image, command).
        hint: what the operator should do about it.
    """

    exit_code: ExitCode = ExitCode.STEP_FAILED
    title: str = "Error"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(InstallerError):
    """The command line is wrong."""

    exit_code = ExitCode.BAD_INPUT
    title = "Bad command line"


class ProfileError(InstallerError):
    """A profile file cannot be read or does not validate."""

    exit_code = ExitCode.BAD_INPUT
    title = "Bad profile"


class BundleError(InstallerError):
    """The offline bundle is missing something, or a file does not match."""

    exit_code = ExitCode.BAD_INPUT
    title = "Bad offline bundle"


class PreflightFailed(InstallerError):
    """A required check failed; the install did not start."""

    exit_code = ExitCode.PREFLIGHT_FAILED
    title = "Preflight failed"


class StepFailed(InstallerError):
    """An install step failed; later steps were not run."""

    exit_code = ExitCode.STEP_FAILED
    title = "Install step failed"


class CommandFailed(StepFailed):
    """An external command exited non-zero, crashed or timed out.

    The message carries the command (secrets redacted) and the tail of its output;
    ``ended`` says how it ended in words and ``last_output`` is its last output line,
    for callers that summarise one failure among many (the image import).
    """

    title = "Command failed"

    def __init__(self, message: str, hint: str = "", *, ended: str = "", last_output: str = "") -> None:
        super().__init__(message, hint)
        self.ended = ended
        self.last_output = last_output


class LockHeld(InstallerError):
    """Another installer run holds the lock."""

    exit_code = ExitCode.LOCKED
    title = "Another installer is running"


class Interrupted(InstallerError):
    """The run was cancelled; the journal keeps what was done."""

    exit_code = ExitCode.INTERRUPTED
    title = "Interrupted"


def exit_code_for(error: BaseException) -> ExitCode:
    """Map any exception to the documented exit code."""
    if isinstance(error, InstallerError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    return ExitCode.STEP_FAILED
