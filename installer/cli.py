"""Command line: parse, dispatch, and turn every :class:`InstallerError` into an exit code.

This is the only module that ends the process. Results go to stdout, diagnostics
to stderr. See :mod:`installer.errors` for the exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, ModuleType
from typing import Final, NoReturn

from installer import __version__
from installer.engine.logfile import default_log_path
from installer.engine.printable import printable
from installer.errors import ExitCode, InstallerError, UsageError, exit_code_for
from installer.verbs import VERBS
from installer.verbs.common import folder_path

_LOGGER: Final = logging.getLogger(__name__)

EXAMPLES: Final = """\
examples:
  sudo ./install.sh                                   open the wizard
  ./install.sh --demo                                 try the wizard on a small demo bundle
  sudo ./install.sh --profile profiles/gpu.yaml       install unattended from a profile
  ./install.sh --profile profiles/gpu.yaml --dry-run  show every command and file, change nothing
  sudo ./install.sh --profile profiles/cpu.yaml --yes --output jsonl > events.jsonl

exit codes:
  0 done   1 an install step failed   2 bad input (command line, profile, bundle)
  3 preflight failed   4 another installer is running   130 interrupted (run again to resume)
"""


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` (exit 2 through the one handler) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", f"See `{self.prog} --help`.")


def _verb_modules() -> list[ModuleType]:
    return [importlib.import_module(f"installer.verbs.{name}") for name in VERBS]


def build_parser() -> argparse.ArgumentParser:
    """The parser for the install mode and every subcommand."""
    parser = _Parser(
        prog="install.sh",
        description="Install JupyterHub on MicroK8s on an air-gapped server, from the offline bundle.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--profile", type=Path, metavar="FILE", help="run unattended from this profile YAML")
    parser.add_argument("--dry-run", action="store_true",
                        help="show every command and file the install would run or write; change nothing")
    parser.add_argument("--demo", action="store_true",
                        help="build a small demo bundle in a temp folder and run on it (no root needed)")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--output", choices=("text", "jsonl"), default="text",
                        help="text for people; jsonl: one JSON event per line on stdout (see README)")
    parser.add_argument("--log-file", type=Path, metavar="PATH",
                        help=f"log file (default: {default_log_path()})")
    parser.add_argument("--bundle", type=folder_path, metavar="DIR",
                        help="offline-images folder (overrides the profile)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="journal and generated files (default: /var/lib/jupyterhub-offline-installer)")
    parser.add_argument("--host-root", type=Path, metavar="DIR", default=Path("/"),
                        help="read /sys and /proc under DIR (a copy of another host's; for support and tests)")
    parser.add_argument("--skip-check", action="append", default=[], metavar="ID",
                        help="skip a failed preflight check by id (recorded in the log); repeatable")
    parser.add_argument("--no-check", action="store_true",
                        help="do not end with the acceptance check (a server per image, probed, removed)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every command as it runs")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=_Parser)
    for module in _verb_modules():
        verb = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP,
                              epilog=f"examples:\n  {module.EXAMPLES}" if module.EXAMPLES else None,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        module.configure(verb)
        verb.set_defaults(verb_module=module)
    return parser


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _install_mode(args: argparse.Namespace) -> ExitCode:
    """No subcommand: the wizard with a terminal, headless with --profile."""
    from installer.config.profile import Profile, load_profile
    from installer.install_run import InstallOptions, default_state_dir

    if args.demo:
        from installer.demo.prepare import run_demo

        return run_demo(args)
    previous = None if args.dry_run else _last_install(args.state_dir or default_state_dir())
    if args.profile is None:
        if args.dry_run or not (sys.stdin.isatty() and sys.stdout.isatty()):
            if not args.dry_run:
                msg = "no terminal for the wizard: give a profile for an unattended install"
                raise UsageError(msg, "Run `sudo ./install.sh --profile profiles/cpu.yaml`, or run in a terminal.")
        else:
            from installer.tui.app import run_wizard

            return run_wizard(args, previous_run=previous or "")
    profile = load_profile(args.profile) if args.profile else Profile()
    options = InstallOptions(profile=profile, dry_run=args.dry_run,
                             state_dir=args.state_dir or default_state_dir(), host_root=args.host_root,
                             skip_checks=frozenset(args.skip_check), bundle_dir=args.bundle,
                             check=not args.no_check)
    from installer.headless.install import run_headless

    log_file = args.log_file or default_log_path()
    return run_headless(options, output=args.output, log_file=log_file, assume_yes=args.yes, verbose=args.verbose)


def _last_install(state_dir: Path) -> str | None:
    """How the last install of ``state_dir`` ended, said on stderr; an install still running stops this one.

    Raises:
        LockHeld: an install is running (the message names its pid and log file).
    """
    from installer.engine.lastrun import describe_last_run
    from installer.errors import LockHeld

    described = describe_last_run(state_dir)
    if described is None:
        return None
    running, text = described
    if running:
        raise LockHeld(text, "Wait for it to end (it goes on without a terminal), then run ./install.sh again "
                             "to see how it ended.")
    sys.stderr.write(f"note: {text}\n")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    # Operators see events; Python logging only surfaces real errors (a bug's traceback, a library's complaint).
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        args = build_parser().parse_args(argv)
        module = getattr(args, "verb_module", None)
        return int(module.run(args) if module else _install_mode(args))
    except InstallerError as exc:
        sys.stderr.write(f"error: {printable(exc.message)}\n")
        if exc.hint:
            sys.stderr.write(f"hint: {printable(exc.hint)}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: run the same command again to resume; finished steps are skipped.\n")
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)
    except Exception as exc:  # noqa: BLE001 - last resort: say it is a bug, keep the traceback
        traceback.print_exc(file=sys.stderr)
        sys.stderr.write(f"error: unexpected {type(exc).__name__}: {printable(str(exc))} "
                         "(a bug in the installer; please report it with the log)\n")
        return int(exit_code_for(exc))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
