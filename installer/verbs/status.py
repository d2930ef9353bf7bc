"""``./install.sh status``: whether an install runs now, or how the last one ended (after a dropped SSH session)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from installer.engine.lastrun import describe_last_run, read_record
from installer.errors import ExitCode, UsageError

NAME = "status"
HELP = "say whether an install is running (its pid and log) or how the last one ended"
EXAMPLES = "./install.sh status"


def configure(parser: argparse.ArgumentParser) -> None:
    """The state folder to look in."""
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="the install's state folder (default: /var/lib/jupyterhub-offline-installer)")


def run(args: argparse.Namespace) -> ExitCode:
    """Print one paragraph; exit 4 while an install runs, else the last install's exit code (0 when none ran)."""
    state_dir = args.state_dir or _state_dir()
    described = describe_last_run(state_dir)
    if described is None:
        sys.stdout.write(f"no install has run with the state folder {state_dir}\n")
        return ExitCode.OK
    running, text = described
    sys.stdout.write(text + "\n")
    from installer.bundle.signature import recorded_signature  # who signed the bundle the last install used

    signer = recorded_signature(state_dir)
    if signer:
        sys.stdout.write(signer + "\n")
    if running:
        return ExitCode.LOCKED
    record = read_record(state_dir)
    code = record.exit_code if record is not None and record.exit_code is not None else ExitCode.INTERRUPTED
    try:
        return ExitCode(code)
    except ValueError:
        return ExitCode.STEP_FAILED


def _state_dir() -> Path:
    """The install's state folder: root's, even when asked without sudo (a non-root install has none).

    Raises:
        UsageError: that folder exists but this user cannot read it (it is root's, mode 0700).
    """
    from installer import install_run

    installs = install_run.DEFAULT_STATE_DIR
    if installs.exists() and os.geteuid() != 0:
        if not os.access(installs, os.R_OK | os.X_OK):
            msg = f"cannot read the install's state folder {installs} as this user"
            raise UsageError(msg, "Run: sudo ./install.sh status")
        return installs
    return install_run.default_state_dir()
