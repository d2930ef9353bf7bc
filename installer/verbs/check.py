"""``./install.sh check``: prove a user can work (issue 14).

For each enabled catalog entry of the profile (or those named by ``--image``), a test
user starts a named server with that profile through the hub's REST API; the hub's own
progress messages are shown live, one line each; then the server is stopped and the
user removed, whatever happens. Prints a table (or ``--json``); exit 1 names the
entries that failed. The API token is the one the install made (``check-token`` in
the state folder); it is never taken from the command line. With it the check mints a
short-lived token for the test user, starts and stops the servers with that one, and
revokes it at the end.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from installer.check.cluster import remove_volumes
from installer.check.hub_api import HubClient
from installer.check.probes import make_probe
from installer.check.report import render, report_dict
from installer.check.run import DEFAULT_TIMEOUT, run_check
from installer.check.token import read_token
from installer.components.jupyterhub.steps import hub_url
from installer.components.jupyterhub.values import offered_images
from installer.config.profile import Profile
from installer.engine.commands import RealRunner, Redactor
from installer.engine.events import Event, ItemFinished, LogLine, StepProgress
from installer.engine.printable import printable
from installer.engine.redacting import RedactingSink
from installer.errors import ExitCode, UsageError
from installer.verbs.common import add_json_option, add_profile_option, emit_json, profile_from_args, stderr

NAME = "check"
HELP = "start a server with each offered image through the hub's API, check it, and remove it again"
EXAMPLES = """\
./install.sh check
  ./install.sh check --profile profiles/gpu.yaml --image pytorch --json > check.json
  ./install.sh check --hub-url http://10.0.0.5:30080/ --timeout 900"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options."""
    add_profile_option(parser, help="profile YAML: its catalog entries are what is checked (default: built-in)")
    parser.add_argument("--image", action="append", metavar="NAME", default=None,
                        help="check only this catalog entry (repeatable; default: every enabled entry)")
    parser.add_argument("--hub-url", metavar="URL", default=None,
                        help="the hub's address (default: the profile's NodePort on this host's address)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"how long one server may take to become ready (default: {DEFAULT_TIMEOUT:.0f})")
    parser.add_argument("--state-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                        help="the install's state folder, which holds the check's API token")
    parser.add_argument("--no-probes", action="store_true",
                        help="only start and stop each server through the hub; no kubectl (no looks inside the pods, "
                             "no volume clean-up)")
    add_json_option(parser)


class _LiveLines:
    """Shows the hub's progress messages as they come, one line each (on stderr, so ``--json`` stays clean)."""

    def emit(self, event: Event) -> None:
        if isinstance(event, StepProgress) and event.message:
            stderr(f"  {printable(event.item or '')}: {printable(event.message)}")
        elif isinstance(event, ItemFinished):
            stderr(f"  {printable(event.item)}: {'ok' if event.status == 'ok' else 'FAILED'}")
        elif isinstance(event, LogLine) and event.level == "error":
            stderr(f"  {printable(event.message)}")


def entries_for(profile_entries: list[str], wanted: list[str] | None) -> list[str]:
    """The entries to check, in profile order; an unknown ``--image`` is bad input naming it."""
    if not wanted:
        return profile_entries
    unknown = [name for name in wanted if name not in profile_entries]
    if unknown:
        raise UsageError(f"--image {', '.join(unknown)}: not an enabled catalog entry of the profile",
                         f"choose from: {', '.join(profile_entries) or '(none)'}")
    return [name for name in profile_entries if name in wanted]


def run(args: argparse.Namespace) -> ExitCode:
    """Check every chosen entry; exit 1 naming the ones that failed."""
    from installer.install_run import default_state_dir

    state_dir = getattr(args, "state_dir", None) or default_state_dir()
    profile = _installed_profile(Path(state_dir)) if getattr(args, "profile", None) is None else None
    profile = profile or profile_from_args(args)
    entries = entries_for([image.name for image in offered_images(profile.jupyterhub)], args.image)
    url = args.hub_url or hub_url(profile.jupyterhub, _address())
    token = read_token(Path(state_dir))
    redactor = Redactor([token])
    sink = RedactingSink(_LiveLines(), redactor)
    client = HubClient(url, token)
    images = {image.name: image for image in offered_images(profile.jupyterhub)}
    runner = RealRunner(redactor=redactor)
    namespace = profile.jupyterhub.namespace
    probe = None if args.no_probes else make_probe(client, runner, images, namespace)
    volumes = None if args.no_probes else lambda user: remove_volumes(runner, namespace, user)
    report = run_check(client, entries, sink, timeout=args.timeout, probe=probe, remove_volumes=volumes,
                       secret=redactor.add)
    document = report_dict(report, url)
    if args.json:
        emit_json(document)
    else:
        sys.stdout.write(render(document))
    if not report.ok:
        names = ", ".join(report.failed) or "clean-up"
        stderr(f"check failed: {names}")
        return ExitCode.STEP_FAILED
    return ExitCode.OK


def _address() -> str | None:
    from installer.wizard.model import primary_address

    return primary_address() or None


def _installed_profile(state_dir: Path) -> Profile | None:
    """The catalog the install (and the later ``images`` changes) applied, when this user can read it."""
    from installer.daytwo.saved import load_installed, profile_path

    try:
        return load_installed(state_dir) if profile_path(state_dir).is_file() else None
    except OSError:  # not root: the defaults, as before (an edited file's error names its line)
        return None
