"""What ``upgrade`` and ``uninstall`` share: the state folder, the installed record, the console output."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from installer.config.profile import Profile, load_profile
from installer.engine.events import EventSink, FanOut
from installer.engine.logfile import LogFileSink, default_log_path
from installer.engine.runner import RunResult
from installer.errors import ExitCode, UsageError
from installer.headless.console import ConsoleSink, JsonLinesSink, indent_block
from installer.install_run import make_redactor
from installer.lifecycle.installed import Installed, load_installed


def add_change_options(parser: argparse.ArgumentParser) -> None:
    """``--state-dir``, ``--profile`` and ``--dry-run``, as the install spells them."""
    parser.add_argument("--state-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                        help="the install's state folder (default: /var/lib/jupyterhub-offline-installer)")
    parser.add_argument("--profile", type=Path, metavar="FILE", default=argparse.SUPPRESS,
                        help="the profile the install used (default: the one the install recorded)")
    parser.add_argument("--dry-run", action="store_true", default=argparse.SUPPRESS,
                        help="show every command it would run; change nothing")


def state_dir(args: argparse.Namespace) -> Path:
    """``--state-dir`` or the install's."""
    from installer.install_run import default_state_dir

    return Path(getattr(args, "state_dir", None) or default_state_dir())


def installed_from_args(args: argparse.Namespace, folder: Path, verb: str) -> Installed:
    """The installed record (or ``--profile``'s profile in its place).

    Raises:
        UsageError: no install finished with this state folder and no profile was given.
    """
    installed = load_installed(folder, uninstalled=verb == "uninstall")
    profile_path = getattr(args, "profile", None)
    if profile_path is not None:
        profile = load_profile(profile_path)
        if installed is not None:
            return Installed(profile, installed.manifest, installed.bundle, installed.folder)
        return Installed(profile, None, profile.bundle_dir(), folder)
    if installed is None:
        msg = f"no finished install is recorded in the state folder {folder}"
        raise UsageError(msg, f"Give the profile the install used: ./install.sh {verb} --profile FILE "
                              "(or --state-dir DIR for another state folder).")
    return installed


def require_root(dry_run: bool, verb: str) -> None:
    """A real change needs root."""
    if not dry_run and os.geteuid() != 0:
        msg = f"{verb} changes the host and must run as root: sudo ./install.sh {verb} ..."
        raise UsageError(msg, "Add --dry-run to see what it would do without root.")


def say(args: argparse.Namespace, text: str) -> None:
    """A line for the operator: on stdout, or on stderr when stdout carries JSON lines."""
    stream = sys.stderr if getattr(args, "output", "text") == "jsonl" else sys.stdout
    stream.write(text + "\n")
    stream.flush()


@contextlib.contextmanager
def console(args: argparse.Namespace, profile: Profile, *, dry_run: bool) -> Iterator[FanOut]:
    """Console lines (or JSON lines with ``--output jsonl``) on stdout, and the install's log file for a real run."""
    screen: EventSink = (JsonLinesSink(sys.stdout) if getattr(args, "output", "text") == "jsonl"
                         else ConsoleSink(sys.stdout, verbose=bool(getattr(args, "verbose", False))))
    sinks = FanOut(screen)
    log = None
    if not dry_run:
        log = LogFileSink(getattr(args, "log_file", None) or default_log_path(), make_redactor(profile))
        sinks.add(log)
        sys.stderr.write(f"log: {log.path}\n")
    try:
        yield sinks
    finally:
        if log is not None:
            log.close()


def finish(result: RunResult, verb: str) -> ExitCode:
    """Say how it ended on stderr when it did not end well; the exit code."""
    if result.status == "interrupted":
        sys.stderr.write(f"interrupted: run `./install.sh {verb}` again to resume; finished steps are skipped.\n")
    elif result.error is not None:
        sys.stderr.write(indent_block(f"error: {result.error.message}") + "\n")
        if result.error.hint:
            sys.stderr.write(indent_block(f"hint: {result.error.hint}") + "\n")
    return result.exit_code
