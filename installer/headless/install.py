"""The unattended install: ``./install.sh --profile FILE`` (and its ``--dry-run``)."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from installer.engine.events import EventSink, FanOut, LogLine
from installer.engine.hangup import survive_hangup
from installer.engine.logfile import LogFileSink
from installer.engine.runner import RunResult
from installer.errors import ExitCode, Interrupted, UsageError
from installer.headless.console import ConsoleSink, JsonLinesSink, indent_block
from installer.headless.summary import check_lines, summary_lines
from installer.install_run import InstallOptions, make_redactor, run_install


def require_root(options: InstallOptions) -> None:
    """A real install changes the host: refuse early, in one line, when not root."""
    if not options.dry_run and os.geteuid() != 0:
        msg = "a real install changes the host and must run as root: sudo ./install.sh ..."
        raise UsageError(msg, "Add --dry-run to see the plan without root.")


def require_bundle(options: InstallOptions) -> None:
    """A real install needs its bundle folder: a mistyped --bundle is bad input (exit 2), said first.

    A dry-run goes on without it: the plan is worth reading on a machine without the bundle.
    """
    bundle = options.bundle()
    if not options.dry_run and not bundle.is_dir():
        msg = f"bundle folder {bundle} does not exist"
        raise UsageError(msg, "Give the offline-images folder with --bundle DIR (or bundle: in the profile).")


def confirm(options: InstallOptions, assume_yes: bool) -> None:
    """Ask before changing the host when a person is at the terminal."""
    if options.dry_run or assume_yes or not sys.stdin.isatty():
        return
    sys.stderr.write(f"This will install JupyterHub on this host from {options.bundle()}. Continue? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        msg = "cancelled at the confirmation prompt; nothing was changed"
        raise Interrupted(msg, "Run again and answer y, or pass --yes.")


def make_sinks(output: str, log_file: Path | None, options: InstallOptions,
               verbose: bool) -> tuple[FanOut, LogFileSink | None]:
    """Console or JSON lines on stdout, plus the log file."""
    redactor = make_redactor(options.profile)
    screen: EventSink = JsonLinesSink(sys.stdout) if output == "jsonl" else ConsoleSink(sys.stdout, verbose=verbose)
    sinks = FanOut(screen)  # run_install masks secrets in every event before any sink sees it
    log = LogFileSink(log_file, redactor) if log_file is not None else None
    if log is not None:
        sinks.add(log)
    return sinks, log


def run_headless(options: InstallOptions, *, output: str, log_file: Path | None, assume_yes: bool,
                 verbose: bool = False) -> ExitCode:
    """Run the plan with console (or JSON-lines) output and return the exit code."""
    require_root(options)
    require_bundle(options)
    confirm(options, assume_yes)
    sinks, log = make_sinks(output, log_file, options, verbose)
    if log is not None and output != "jsonl":
        sys.stderr.write(f"log: {log.path}\n")
    def hung_up() -> None:  # in the signal handler: the main thread may hold the sinks' lock, so emit from another
        note = LogLine(level="warning", message="the terminal closed: the install goes on without it; "
                                                "run ./install.sh again to see how it ended")
        threading.Thread(target=sinks.emit, args=(note,), daemon=True).start()

    try:
        with survive_hangup(hung_up):
            result: RunResult = run_install(options, sinks, cancel=threading.Event(),
                                            log_file=log.path if log is not None else None)
    finally:
        if log is not None:
            log.close()
    print_summary(result, options, output, log)
    if result.status == "interrupted":
        sys.stderr.write("interrupted: run the same command again to resume; finished steps are skipped.\n")
    elif result.error is not None:
        redact = make_redactor(options.profile)
        lead = (f"dry-run: on this host a real run would fail (exit {int(result.exit_code)}): "
                if options.dry_run else "error: ")
        sys.stderr.write(indent_block(f"{lead}{redact(result.error.message)}") + "\n")
        if result.error.hint:
            sys.stderr.write(indent_block(f"hint: {redact(result.error.hint)}") + "\n")
    return result.exit_code


def print_summary(result: RunResult, options: InstallOptions, output: str, log: LogFileSink | None) -> None:
    """The end-of-run lines (the wizard prints the same when it exits): the hub, the login, the files; or the failure.

    With ``--output jsonl`` stdout holds only JSON lines (``plan_finished`` carries the results), so only a
    failure is said, on stderr.
    """
    redact = make_redactor(options.profile)
    lines = summary_lines(result, options.profile, log_file=log.path if log is not None else None,
                          saved_profile=options.profile.source,
                          simulated=options.url_note())
    if not result.ok:
        sys.stderr.write("".join(redact(line) + "\n" for line in [lines[0], *check_lines(result, options.url_note())]))
    elif output != "jsonl":
        sys.stdout.write("".join(redact(line) + "\n" for line in lines))
        sys.stdout.flush()
