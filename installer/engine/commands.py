"""The one place the installer starts external programs.

Every command is an argv list (never a shell string, never ``shell=True``), has a
timeout, is logged with its duration, keeps its output for the log file and shows
it to the operator only on failure, and has secrets replaced by ``***`` before
anything is logged or raised.

Three runners share one interface:

* :class:`RealRunner` runs programs.
* :class:`DryRunRunner` records commands that would change the host and runs only
  read-only probes (``mutates=False``), so a dry-run plan reflects the real host.
* :class:`RecordingRunner` answers from a script: the stand-in for MicroK8s and
  the Kubernetes API in tests, which cannot run on development machines.

:class:`Daemon` is the one exception to run-to-completion: a program the installer
starts, keeps running and stops itself (the demo's private containerd).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, cast

import yaml

from installer.engine.events import CommandRan, EventSink, NullSink
from installer.errors import CommandFailed

_LOGGER: Final = logging.getLogger(__name__)

TAIL_CHARS: Final = 2000
WITHHELD: Final = "(output not shown: it may hold secrets)"
"""How much of a failed command's output goes into the error message."""

Stdin = bytes | IO[bytes] | Iterable[bytes] | None
"""What a command may read: nothing, bytes, a binary file, or an iterator of chunks."""


class Redactor:
    """Replaces every registered secret with ``***`` in any text.

    One instance is shared by the runner, the sinks and the file writer, so a
    password given once in the profile is hidden everywhere it could surface.
    A secret is found however a serialiser spelt it (see :func:`secret_pattern`),
    not only as the raw value: a values file lays a multi-line password out as an
    indented block or a folded quoted scalar, which no fixed list of forms covers.
    """

    MASK: Final = "***"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._short: set[str] = set()
        """Secrets too short to mask in text; :meth:`holds_secret` still finds them as whole values."""
        self._lock = threading.Lock()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        """Register a secret; very short values are not masked in text (they would mask noise)."""
        if secret and len(secret.strip()) < 3:
            with self._lock:
                self._short.add(secret)
        if secret and len(secret.strip()) >= 3:
            pattern = secret_pattern(secret)
            with self._lock:
                self._secrets.update(v for v in serialized_forms(secret) if len(v) >= 3)
                self._patterns[secret] = pattern

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret masked, longest first."""
        if not text:
            return text
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
            patterns = [self._patterns[key] for key in sorted(self._patterns, key=len, reverse=True)]
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, self.MASK)
        for pattern in patterns:
            text = pattern.sub(self.MASK, text)
        return text

    def holds_secret(self, value: str) -> bool:
        """True when a registered secret's words (spacing aside) are still in ``value``, or a short one is all of it."""
        with self._lock:
            secrets, short = list(self._patterns), set(self._short)
        return value in short or any(_squeezed(secret) in _squeezed(value) for secret in secrets)

    def argv(self, argv: Sequence[str]) -> tuple[str, ...]:
        """Redact each argument."""
        return tuple(self(arg) for arg in argv)


def serialized_forms(secret: str) -> set[str]:
    """``secret`` as it appears raw and inside JSON and YAML text (values files, ``helm get values``).

    A password with a quote, a backslash or a newline is escaped differently by each
    format, so masking only the raw value would let the escaped copy through.
    """
    forms = {secret, json.dumps(secret)[1:-1], secret.replace("'", "''")}
    for style in ('"', "'"):
        for unicode in (True, False):
            dumped = yaml.safe_dump(secret, default_style=style, width=1 << 30, allow_unicode=unicode)
            forms.add(dumped.strip().removesuffix("...").strip()[1:-1])
    return {form for form in forms if form}


_SPACE: Final = " \t\r\n"
_SPACE_RUN: Final = (r"(?:[ \t\r\n]|\\[ nrtN_LP]|\\(?=\r?\n)|\\x(?:09|0[aAdD]|20)"
                     r"|\\u(?:00(?:09|0[aAdD]|20)|2028|2029))+")
"""Whatever a serialiser may turn a run of spaces and line breaks into: itself, other
whitespace (YAML folds a line break into a blank line plus indentation, a block scalar
indents every line), escapes (``\\n``, ``\\u000a``), YAML's ``\\``-newline continuation."""
_LINE_CONTINUATION: Final = r"(?:\\\r?\n[ \t]*)?"
"""A YAML double-quoted scalar may be broken at any character by ``\\`` + newline + indentation."""
_SHORT_ESCAPES: Final = {"\"": '\\\\"', "\\": "\\\\\\\\", "/": "\\\\/", "\0": "\\\\0", "\a": "\\\\a",
                         "\b": "\\\\b", "\v": "\\\\v", "\f": "\\\\f", "\x1b": "\\\\e",
                         "\x85": "\\\\N", "\xa0": "\\\\_", "\u2028": "\\\\L", "\u2029": "\\\\P"}


def _char_pattern(char: str) -> str:
    """Every spelling of one character of a secret in JSON or YAML text, escaped ones first."""
    code = ord(char)
    options = []
    if char in _SHORT_ESCAPES:
        options.append(_SHORT_ESCAPES[char])
    if char == "'":
        options.append("''")
    if code > 0xFFFF:  # JSON spells it as a UTF-16 surrogate pair
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        options.append(r"\\u" + _anycase(f"{high:04x}") + r"\\u" + _anycase(f"{low:04x}"))
    else:
        options.append(r"\\u" + _anycase(f"{code:04x}"))
    if code < 0x100:
        options.append(r"\\x" + _anycase(f"{code:02x}"))
    options.append(r"\\U" + _anycase(f"{code:08x}"))
    options.append(re.escape(char))
    return "(?:" + "|".join(options) + ")"


def _squeezed(text: str) -> str:
    return " ".join(text.split())


def _anycase(hex_digits: str) -> str:
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in hex_digits)


def secret_pattern(secret: str) -> re.Pattern[str]:
    """A regex matching ``secret`` as any JSON or YAML serialiser may have written it.

    Each character may be escaped (``\\"``, ``''``, ``\\u00fc``, Go's ``\\u0026`` for ``&``, a
    surrogate pair); each run of whitespace may become other whitespace, indentation or an
    escape, which covers block scalars (``|``, ``|-``, ``>``), folded and quoted scalars at
    any indentation. Leading and trailing whitespace is left out of the match: the
    secret's words are what must not show.
    """
    core = secret.strip(_SPACE)
    parts: list[str] = []
    for word in re.split(r"[ \t\r\n]+", core):
        parts.append(_LINE_CONTINUATION.join(_char_pattern(char) for char in word))
    return re.compile(_SPACE_RUN.join(parts))


@dataclass(frozen=True)
class CommandResult:
    """What a command did. ``returncode`` is ``None`` when it timed out."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0


def _tail(text: str, limit: int = TAIL_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def _first_line_and_tail(text: str, limit: int) -> str:
    """The tail of a long output, and its first line too: a program that says what went wrong first and then
    dumps what it was given (Helm quoting the values) keeps its "Error: ..." line in the message."""
    text = text.strip()
    if len(text) <= limit:
        return text
    first = text.split("\n", 1)[0][:200]
    return first + "\n" + _tail(text[len(first):], limit - len(first))


class CommandRunner:
    """Interface and shared behaviour of the runners.

    Subclasses implement :meth:`_execute`; :meth:`run` adds logging, redaction,
    events and the failure check so they are the same for every backend.
    """

    dry_run: bool = False

    def __init__(self, sink: EventSink | None = None, redactor: Redactor | None = None) -> None:
        self.sink: EventSink = sink or NullSink()
        self.redact = redactor or Redactor()
        self.step_id: str | None = None
        """The step running now, stamped on every :class:`CommandRan` event."""

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = 120.0,
        check: bool = True,
        stdin: Stdin = None,
        env: dict[str, str] | None = None,
        mutates: bool = True,
        hint: str = "",
        on_stdout_line: Callable[[str], None] | None = None,
        secret_output: bool = False,
        raw_stdout: bool = False,
    ) -> CommandResult:
        """Run ``argv`` and return its result.

        Args:
            argv: program and arguments; never a shell string.
            timeout: seconds before the command is killed; ``None`` waits forever
                (only for commands that stream a known, finite input).
            check: raise :class:`CommandFailed` on a non-zero exit or timeout.
            stdin: bytes, a binary file, or an iterator of chunks fed to the program.
            env: extra environment variables.
            mutates: ``False`` for read-only probes; a dry-run still runs those.
            hint: what the operator should do if it fails (goes into the error).
            on_stdout_line: called with each stdout line as it arrives (progress).
            secret_output: stdout may hold secrets the redactor does not know (the
                cluster's current Helm values, say): the caller gets it, events and logs do not.
            raw_stdout: the caller gets stdout exactly as written, secrets not masked, because it
                only parses it (a rendered chart, an image listing: a password that happens to be
                part of an image name would otherwise change the name); events, logs and errors
                still get the masked text only.
        """
        if isinstance(argv, str):  # a shell string would be a bug, never a feature
            msg = f"command must be an argv list, got a string: {argv!r}"
            raise TypeError(msg)
        argv = tuple(str(a) for a in argv)
        shown = self.redact.argv(argv)
        result = self._execute(argv, timeout=timeout, stdin=stdin, env=env, mutates=mutates,
                               on_stdout_line=on_stdout_line)
        raw = result.stdout
        stdout, stderr = self.redact(result.stdout), self.redact(result.stderr)
        result = CommandResult(shown, result.returncode, stdout, stderr, result.duration, result.dry_run)
        shown_stdout = WITHHELD if secret_output and stdout else _tail(stdout)
        self.sink.emit(CommandRan(argv=shown, returncode=result.returncode, duration=result.duration,
                                  stdout_tail=shown_stdout, stderr_tail=_tail(stderr),
                                  dry_run=result.dry_run, step_id=self.step_id, probe=not mutates))
        _LOGGER.debug("%s -> %s in %.2fs", " ".join(shown), result.returncode, result.duration)
        if check and not result.ok:
            raise command_failed(result, hint, timeout)
        return dataclasses.replace(result, stdout=raw) if raw_stdout else result

    def which(self, program: str) -> str | None:
        """Where ``program`` is on PATH, or None."""
        return shutil.which(program)

    def daemon(self, argv: Sequence[str], log: Path) -> Daemon:
        """A long-running program (``kubectl port-forward``) started the way this runner starts commands."""
        return Daemon(argv, log)

    def _execute(self, argv: tuple[str, ...], *, timeout: float | None, stdin: Stdin,
                 env: dict[str, str] | None, mutates: bool,
                 on_stdout_line: Callable[[str], None] | None) -> CommandResult:
        raise NotImplementedError


def describe_end(result: CommandResult, timeout: float | None = None) -> str:
    """How a command ended, in words: a timeout, a crash (signal), a missing program, an exit code."""
    if result.returncode is None:
        return f"did not finish within {timeout:g} s and was stopped" if timeout else "did not finish and was stopped"
    if result.returncode == 127:
        return "could not be started (program not found)"
    if result.returncode < 0:
        try:
            name = signal.Signals(-result.returncode).name
        except ValueError:
            name = f"signal {-result.returncode}"
        return f"crashed (killed by {name})"
    return f"exited with code {result.returncode}"


def command_failed(result: CommandResult, hint: str = "", timeout: float | None = None) -> CommandFailed:
    """Build the error for a failed result: the command, how it ended, its last output."""
    command = " ".join(result.argv)
    how = describe_end(result, timeout)
    output = _first_line_and_tail(result.stderr or result.stdout, 800)
    message = f"`{command}` {how}" + (f":\n{output}" if output else "")
    last = output.splitlines()[-1].strip() if output else ""
    return CommandFailed(message, hint or "See the log file for the full output.", ended=how, last_output=last)


def _feed(pipe: IO[bytes], stdin: Stdin, errors: list[BaseException]) -> None:
    """Write ``stdin`` into the child's pipe from a thread, so big inputs never sit in memory."""
    try:
        if isinstance(stdin, (bytes, bytearray)):
            pipe.write(stdin)
        elif hasattr(stdin, "read"):
            reader = cast(IO[bytes], stdin)  # hasattr() does not narrow the union
            while chunk := reader.read(1 << 20):
                pipe.write(chunk)
        elif stdin is not None:
            for chunk in stdin:
                pipe.write(chunk)
    except BrokenPipeError:
        pass  # the program exited early; its exit code tells why
    except BaseException as exc:  # noqa: BLE001 - re-raised by the caller thread
        errors.append(exc)
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _drain(pipe: IO[bytes], sink: list[str], on_line: Callable[[str], None] | None) -> None:
    for raw in iter(pipe.readline, b""):
        line = raw.decode("utf-8", "replace")
        sink.append(line)
        if on_line is not None:
            on_line(line.rstrip("\n"))
    pipe.close()


def _load_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None  # not Linux: children outlive a killed installer (documented limitation)


_PRCTL: Final = _load_prctl()
_PR_SET_PDEATHSIG: Final = 1


def _die_with_installer() -> None:
    """In the child, before exec: get SIGKILL when the installer dies, even by SIGKILL.

    Without this a ``ctr images import`` or ``helm upgrade`` started by a killed
    installer runs on unseen, and races the re-run the operator starts next. It only
    calls a function resolved before the fork (no lock, no allocation worth naming),
    which keeps it safe in a threaded parent.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command and everything it started (it leads its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


class RealRunner(CommandRunner):
    """Runs programs for real.

    Each command leads its own process group (Ctrl-C reaches only the installer, which
    stops the command itself), is killed with everything it started on a timeout, and
    dies with the installer if the installer is killed.
    """

    def _execute(self, argv: tuple[str, ...], *, timeout: float | None, stdin: Stdin,
                 env: dict[str, str] | None, mutates: bool,
                 on_stdout_line: Callable[[str], None] | None) -> CommandResult:
        full_env = {**os.environ, **(env or {})}
        start = time.monotonic()
        try:
            proc = subprocess.Popen(  # argv list, no shell, by design
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
                start_new_session=True,  # Ctrl-C reaches the installer, which stops children itself
                preexec_fn=_die_with_installer if _PRCTL is not None else None,  # noqa: PLW1509 - see its docstring
            )
        except FileNotFoundError:
            return CommandResult(argv, 127, "", f"{argv[0]}: not found", time.monotonic() - start)
        except PermissionError as exc:
            return CommandResult(argv, 126, "", f"{argv[0]}: {exc}", time.monotonic() - start)
        out: list[str] = []
        err: list[str] = []
        feed_errors: list[BaseException] = []
        threads = [
            threading.Thread(target=_drain, args=(proc.stdout, out, on_stdout_line), daemon=True),
            threading.Thread(target=_drain, args=(proc.stderr, err, None), daemon=True),
        ]
        if stdin is not None:
            threads.append(threading.Thread(target=_feed, args=(proc.stdin, stdin, feed_errors), daemon=True))
        for thread in threads:
            thread.start()
        returncode: int | None
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            returncode = None
        except BaseException:
            _kill_group(proc)
            raise
        for thread in threads:
            thread.join(timeout=5)
        if feed_errors:
            raise feed_errors[0]
        return CommandResult(argv, returncode, "".join(out), "".join(err), time.monotonic() - start)


class Daemon:
    """A program that runs until the installer stops it, its output going to a log file.

    Like every command it is an argv list, leads its own process group and dies with
    the installer; unlike them it has no timeout and its output is not captured.

    Args:
        argv: the program and its arguments.
        log: file that receives its stdout and stderr (quoted when it fails to start).
    """

    def __init__(self, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = tuple(argv)
        self.log = log
        self.env = env
        """Added to the installer's environment (the runner's own additions: :meth:`CommandRunner.daemon`)."""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (returns at once; the caller waits for whatever "ready" means); its log starts empty."""
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(  # argv list, no shell, by design
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                env={**os.environ, **self.env} if self.env else None,
                preexec_fn=_die_with_installer if _PRCTL is not None else None,  # noqa: PLW1509 - see its docstring
            )

    @property
    def running(self) -> bool:
        """Started and not exited."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """Its exit status once it ended (``-N`` for signal N), else ``None``."""
        return None if self._proc is None else self._proc.poll()

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL to its whole group after ``grace`` seconds."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with_group = True
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            with_group = False
            proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            if with_group:
                _kill_group(proc)
            else:
                proc.kill()
                proc.wait()

    def log_tail(self, chars: int = 1500) -> str:
        """The end of its log, for an error message."""
        try:
            return self.log.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""


Answer = CommandResult | Callable[[tuple[str, ...]], CommandResult]


@dataclass
class RecordingRunner(CommandRunner):
    """Answers commands from a script and records every call.

    ``answers`` maps an argv *prefix* to a result (or a function of the argv); the
    longest matching prefix wins. Unscripted commands succeed with empty output,
    unless ``strict`` is set. This stands in only for what cannot run here
    (MicroK8s, Helm against a cluster, the Kubernetes API).
    """

    answers: dict[tuple[str, ...], Answer] = field(default_factory=dict)
    strict: bool = False
    calls: list[tuple[str, ...]] = field(default_factory=list)
    stdin_seen: list[bytes] = field(default_factory=list)
    sink_: EventSink | None = None
    redactor_: Redactor | None = None

    def __post_init__(self) -> None:
        CommandRunner.__init__(self, self.sink_, self.redactor_)

    def answer(self, prefix: Sequence[str], stdout: str = "", returncode: int = 0, stderr: str = "") -> None:
        """Script the result of every command starting with ``prefix``."""
        self.answers[tuple(prefix)] = CommandResult(tuple(prefix), returncode, stdout, stderr)

    def _execute(self, argv: tuple[str, ...], *, timeout: float | None, stdin: Stdin,
                 env: dict[str, str] | None, mutates: bool,
                 on_stdout_line: Callable[[str], None] | None) -> CommandResult:
        self.calls.append(argv)
        if isinstance(stdin, (bytes, bytearray)):
            self.stdin_seen.append(bytes(stdin))
        match = max((p for p in self.answers if argv[: len(p)] == p), key=len, default=None)
        if match is None:
            if self.strict:
                return CommandResult(argv, 127, "", f"unscripted command: {' '.join(argv)}")
            return CommandResult(argv, 0)
        answer = self.answers[match]
        result = answer(argv) if callable(answer) else answer
        if on_stdout_line is not None:
            for line in result.stdout.splitlines():
                on_stdout_line(line)
        return CommandResult(argv, result.returncode, result.stdout, result.stderr, 0.0)

    def which(self, program: str) -> str | None:
        """Pretend every scripted program exists."""
        return f"/usr/bin/{program}" if any(p and p[0] == program for p in self.answers) else None

    def ran(self, *prefix: str) -> list[tuple[str, ...]]:
        """The recorded calls starting with ``prefix``."""
        return [c for c in self.calls if c[: len(prefix)] == prefix]


class DryRunRunner(CommandRunner):
    """Records commands that would change the host; runs read-only probes for real.

    The probes go through ``probe_runner`` (a :class:`RealRunner` by default), so a
    dry-run shows what the real host would need rather than a guess.
    """

    dry_run = True

    def __init__(self, sink: EventSink | None = None, redactor: Redactor | None = None,
                 probe_runner: CommandRunner | None = None) -> None:
        super().__init__(sink, redactor)
        self.probe = probe_runner or RealRunner(NullSink(), self.redact)
        self.recorded: list[tuple[str, ...]] = []

    def _execute(self, argv: tuple[str, ...], *, timeout: float | None, stdin: Stdin,
                 env: dict[str, str] | None, mutates: bool,
                 on_stdout_line: Callable[[str], None] | None) -> CommandResult:
        if not mutates:
            return self.probe._execute(argv, timeout=timeout, stdin=stdin, env=env, mutates=False,
                                       on_stdout_line=on_stdout_line)
        self.recorded.append(argv)
        if hasattr(stdin, "close"):
            stdin.close()  # type: ignore[union-attr]  # hasattr() does not narrow the union
        return CommandResult(argv, 0, "", "", 0.0, dry_run=True)

    def which(self, program: str) -> str | None:
        """Probe PATH through the probe runner."""
        return self.probe.which(program)
