"""``./install.sh join ADDR:25000/TOKEN --bundle-from URL --manifest-sha256 HEX``: the new node's side."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from installer.errors import ExitCode, UsageError
from installer.verbs.common import add_host_root_option, add_profile_option, profile_from_args

NAME = "join"
HELP = "on a new node: fetch and import its images from a member's bundle server, then join the cluster"
EXAMPLES = ("sudo ./install.sh join 10.0.0.5:25000/TOKEN/CHECK --bundle-from http://10.0.0.5:25080 "
            "--manifest-sha256 HEX --worker")


def configure(parser: argparse.ArgumentParser) -> None:
    """The command ``add-node`` printed, and this node's output and state options."""
    parser.add_argument("connection", metavar="ADDR:PORT/TOKEN[/CHECK]", help="from `./install.sh add-node`")
    parser.add_argument("--bundle-from", required=True, metavar="URL", help="the member's bundle server")
    parser.add_argument("--manifest-sha256", required=True, metavar="HEX", help="the manifest's sha256 (add-node)")
    parser.add_argument("--worker", action="store_true", help="join as a worker (no control plane)")
    add_profile_option(parser, help="the cluster's profile (the one add-node printed)")
    add_host_root_option(parser)
    parser.add_argument("--state-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                        help="journal and fetched files (default: /var/lib/jupyterhub-offline-installer)")
    parser.add_argument("--node-name", metavar="NAME", help="this node's name in the cluster (default: its hostname)")
    parser.add_argument("--wait-timeout", type=int, default=600, metavar="S",
                        help="seconds to wait for the member to see this node Ready")
    parser.add_argument("--skip-check", action="append", default=argparse.SUPPRESS, metavar="ID",
                        help="skip a failed preflight check by id (recorded in the log); repeatable")
    parser.add_argument("--output", choices=("text", "jsonl"), default=argparse.SUPPRESS)
    parser.add_argument("--log-file", type=Path, metavar="PATH", default=argparse.SUPPRESS)
    parser.add_argument("--containerd-socket", type=Path, metavar="PATH", default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> ExitCode:
    """Run the join plan with console (or JSON-lines) output."""
    import re

    from installer.bundle.importer import MICROK8S_SOCKET
    from installer.engine.events import EventSink, FanOut
    from installer.engine.logfile import LogFileSink, default_log_path
    from installer.headless.console import ConsoleSink, JsonLinesSink, indent_block
    from installer.install_run import default_state_dir
    from installer.nodes.connection import check_connection
    from installer.nodes.fetch import check_base_url
    from installer.nodes.plan import run_join
    from installer.nodes.steps import JoinTarget

    connection = check_connection(args.connection)
    url = check_base_url(args.bundle_from)
    if not re.fullmatch(r"[0-9a-fA-F]{64}", args.manifest_sha256):
        msg = f"--manifest-sha256 {args.manifest_sha256!r} is not 64 hex digits"
        raise UsageError(msg, "Copy it from the member's `./install.sh add-node` output.")
    if os.geteuid() != 0:
        msg = "join changes this host (snaps, images, MicroK8s) and must run as root"
        raise UsageError(msg, "Run it with sudo.")
    profile = profile_from_args(args)
    state_dir = getattr(args, "state_dir", None) or default_state_dir()
    target = JoinTarget(connection, url, args.manifest_sha256.lower(), args.worker,
                        args.node_name or socket.gethostname(), state_dir / "join-spool",
                        socket=getattr(args, "containerd_socket", MICROK8S_SOCKET), wait_timeout=args.wait_timeout)
    output = getattr(args, "output", "text")
    screen: EventSink = JsonLinesSink(sys.stdout) if output == "jsonl" else ConsoleSink(sys.stdout)
    sinks = FanOut(screen)
    log = LogFileSink(getattr(args, "log_file", None) or default_log_path(), None)
    sinks.add(log)
    try:
        result = run_join(profile, target, sinks, state_dir=state_dir, host_root=getattr(args, "host_root", Path("/")),
                          skip_checks=frozenset(getattr(args, "skip_check", None) or ()))
    finally:
        log.close()
    if result.error is not None:
        sys.stderr.write(indent_block(f"error: {result.error.message}") + "\n")
        if result.error.hint:
            sys.stderr.write(indent_block(f"hint: {result.error.hint}") + "\n")
    elif output != "jsonl":
        sys.stdout.write(f"{target.node_name} joined the cluster; the member lists it Ready.\n")
    return result.exit_code
