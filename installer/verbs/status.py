"""``./install.sh status``: whether an install runs now, or how the last one ended (after a dropped SSH session)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from installer.engine.lastrun import describe_last_run, read_record
from installer.errors import ExitCode

NAME = "status"
HELP = "say whether an install is running (its pid and log) or how the last one ended"
EXAMPLES = "./install.sh status"


def configure(parser: argparse.ArgumentParser) -> None:
    """The state folder to look in."""
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="the install's state folder (default: /var/lib/jupyterhub-offline-installer)")


def run(args: argparse.Namespace) -> ExitCode:
    """Print one paragraph; exit 4 while an install runs, else the last install's exit code (0 when none ran)."""
    from installer.install_run import default_state_dir

    state_dir = args.state_dir or default_state_dir()
    described = describe_last_run(state_dir)
    if described is None:
        sys.stdout.write(f"no install has run with the state folder {state_dir}\n")
        return ExitCode.OK
    running, text = described
    sys.stdout.write(text + "\n")
    if running:
        return ExitCode.LOCKED
    record = read_record(state_dir)
    code = record.exit_code if record is not None and record.exit_code is not None else ExitCode.INTERRUPTED
    try:
        return ExitCode(code)
    except ValueError:
        return ExitCode.STEP_FAILED
