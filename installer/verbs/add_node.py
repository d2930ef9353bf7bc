"""``./install.sh add-node``: on a member, a join token, the bundle server, and the commands for the new node."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from installer.config.profile import Profile
from installer.engine.commands import RealRunner, Redactor
from installer.errors import ExitCode
from installer.verbs.common import (
    add_bundle_option,
    add_json_option,
    add_profile_option,
    bundle_from_args,
    emit_json,
    profile_from_args,
    stderr,
)

NAME = "add-node"
HELP = "on a member: print the command that joins a new node, and serve it the bundle for a limited time"
EXAMPLES = "sudo ./install.sh add-node --worker --profile profiles/gpu.yaml"

REPO = Path(__file__).resolve().parents[2]


def _minutes(text: str) -> float:
    """A positive number of minutes (fractions allowed: ``0.5``)."""
    value = float(text)
    if not 0 < value <= 1440:
        msg = f"{text} is not between 0 and 1440 minutes"
        raise argparse.ArgumentTypeError(msg)
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Role, output, bundle, and where and how long to serve."""
    parser.add_argument("--worker", action="store_true", help="the new node joins as a worker (no control plane)")
    add_json_option(parser)
    add_profile_option(parser, help="the profile this cluster was installed with (the new node imports its images)")
    add_bundle_option(parser)
    parser.add_argument("--address", metavar="IP", help="the member address the new node reaches (default: the first "
                                                        "microk8s add-node offers)")
    parser.add_argument("--port", type=int, metavar="N", help="bundle server port (default: the profile's "
                                                              "microk8s.bundle_server_port, 25080)")
    parser.add_argument("--minutes", type=_minutes, metavar="M", help="how long the server and the token stay valid "
                                                                 "(default: microk8s.bundle_server_minutes, 60)")


def run(args: argparse.Namespace, stop: threading.Event | None = None) -> ExitCode:
    """Token, server, commands; then serve until the time is up (or Ctrl-C)."""
    from installer.nodes import member
    from installer.nodes.server import INSTALLER_TAR, BundleServer

    profile = profile_from_args(args)
    bundle = bundle_from_args(args, profile)
    minutes = args.minutes or profile.microk8s.bundle_server_minutes
    port = args.port if args.port is not None else profile.microk8s.bundle_server_port
    runner = RealRunner(redactor=Redactor(profile.secrets()))
    _check_signature(bundle, profile, runner)  # a member with trust configured never serves a bundle it would refuse
    info = member.add_node_token(runner, max(1, round(minutes * 60)))
    connection = info.connection(args.address)
    address = connection.split(":", 1)[0]
    server = BundleServer(bundle, address, port, minutes * 60.0, repo=REPO,
                          node_status=lambda name, query: member.node_status(runner, name, query))
    manifest_sha = server.prepare()
    server.start()
    url = f"http://{address}:{server.port}"
    profile_arg = str(args.profile) if getattr(args, "profile", None) else None
    command = member.join_command(connection, url, manifest_sha, worker=args.worker, profile=profile_arg)
    fetch = member.fetch_installer_command(url, server.sha256_of(INSTALLER_TAR))
    until = time.strftime("%H:%M", time.localtime(server.deadline))
    if args.json:
        emit_json({"join_command": command, "fetch_installer": fetch, "bundle_url": url,
                   "manifest_sha256": manifest_sha, "connection": connection, "worker": args.worker,
                   "serving_until": server.deadline})
    else:
        sys.stdout.write(f"On the new node, get the installer (no USB disk needed):\n  {fetch}\n"
                         f"then join it (as root):\n  {command}\n")
        sys.stdout.flush()
    stderr(f"serving the bundle at {url} until {until} (Ctrl-C stops it sooner); keep this running while nodes join")
    try:
        server.wait(stop)
    except KeyboardInterrupt:
        server.stop()
        stderr("bundle server stopped")
        return ExitCode.OK
    stderr("bundle server stopped: its time is up (run add-node again for a new token and server)")
    return ExitCode.OK


def _check_signature(bundle: Path, profile: Profile, runner: RealRunner) -> None:
    """The install's signature rule (the profile's or the kept trust file), said on stderr.

    Raises:
        BundleError: trust is configured and the bundle is unsigned, signed by another key, or changed.
    """
    from installer.bundle.signature import check_signature, resolve_trust
    from installer.install_run import default_state_dir

    signature = check_signature(bundle, resolve_trust(None, profile.bundle_trust(), default_state_dir()), runner)
    sys.stderr.write(f"bundle {bundle}: {signature.describe()}\n")
    warning = signature.warning()
    if warning:
        sys.stderr.write(f"warning: {warning}\n")
