"""``./install.sh upgrade --bundle NEW``: move a running installation to a new bundle.

Shows what changes (chart versions, images added and no longer needed) before anything is
touched, then verifies the new bundle, imports what is new, upgrades the releases in install
order and records the result. Images no longer needed stay pinned unless ``--prune``.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from installer.bundle.importer import DEFAULT_NAMESPACE, MICROK8S_SOCKET
from installer.errors import ExitCode, UsageError
from installer.install_run import InstallOptions
from installer.lifecycle.upgrade import pending_bundle, prepare, run_upgrade
from installer.verbs.common import emit_json, folder_path
from installer.verbs.lifecycle_common import (
    add_change_options,
    console,
    finish,
    installed_from_args,
    require_root,
    say,
    state_dir,
)

NAME = "upgrade"
HELP = "upgrade the installation from a new bundle (charts, images); resumes an interrupted upgrade"
EXAMPLES = """\
sudo ./install.sh upgrade --bundle /media/usb/offline-images
  ./install.sh upgrade --bundle /media/usb/offline-images --dry-run
  sudo ./install.sh upgrade --bundle /media/usb/offline-images --prune
  sudo ./install.sh upgrade            resume an interrupted upgrade"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options."""
    parser.add_argument("--bundle", type=folder_path, metavar="DIR", default=argparse.SUPPRESS,
                        help="the new offline-images folder (default: that of an interrupted upgrade)")
    parser.add_argument("--prune", action="store_true",
                        help="unpin images nothing needs any more, so the kubelet's image GC may remove them")
    add_change_options(parser)
    parser.add_argument("--no-check", action="store_true",
                        help="leave out the acceptance check at the end (run `./install.sh check` later)")
    parser.add_argument("--json", action="store_true", help="print the changes as one JSON document and stop")
    parser.add_argument("--containerd-socket", type=Path, default=MICROK8S_SOCKET, metavar="PATH",
                        help=f"containerd socket (default: {MICROK8S_SOCKET})")
    parser.add_argument("--containerd-namespace", default=DEFAULT_NAMESPACE, metavar="NS",
                        help=f"containerd namespace (default: {DEFAULT_NAMESPACE})")


def run(args: argparse.Namespace) -> ExitCode:
    """Show the changes, then run the upgrade (``--dry-run``: the commands only)."""
    folder = state_dir(args)
    bundle = getattr(args, "bundle", None) or pending_bundle(folder)
    if bundle is None:
        msg = "no new bundle given and no interrupted upgrade to resume"
        raise UsageError(msg, "Give the new offline-images folder: ./install.sh upgrade --bundle DIR")
    installed = installed_from_args(args, folder, NAME)
    from installer.daytwo.saved import pending_path

    if pending_path(folder).is_file():  # its profile names the old charts: applied later, it would downgrade the hub
        msg = f"a catalog change did not finish ({pending_path(folder)})"
        raise UsageError(msg, "Finish it with `sudo ./install.sh images resume`, or give it up with "
                              "`sudo ./install.sh images resume --abandon`, then run the upgrade again.")
    upgrade = prepare(installed, Path(bundle))
    if args.json:
        emit_json({"bundle": str(upgrade.bundle), "changes": upgrade.changes.to_dict()})
        return ExitCode.OK
    dry_run = bool(getattr(args, "dry_run", False))
    say(args, f"upgrade from {installed.bundle} to {upgrade.bundle}:")
    for line in upgrade.changes.lines(prune=args.prune):
        say(args, f"  {line}")
    require_root(dry_run, NAME)
    options = InstallOptions(profile=upgrade.profile, dry_run=dry_run, state_dir=folder, host_root=args.host_root,
                             bundle_dir=upgrade.bundle, containerd_socket=args.containerd_socket,
                             namespace=args.containerd_namespace, check=not args.no_check)
    with console(args, upgrade.profile, dry_run=dry_run) as sinks:
        result = run_upgrade(upgrade, options, sinks, prune=args.prune, cancel=threading.Event())
    if upgrade.changes.added and not dry_run:
        from installer.daytwo.cluster import other_nodes_warning
        from installer.engine.events import NullSink
        from installer.install_run import make_context, make_redactor

        ctx = make_context(options, NullSink(), redactor=make_redactor(upgrade.profile))
        warning = other_nodes_warning(ctx, f"the {len(upgrade.changes.added)} new image(s)")
        if warning:
            say(args, f"warning: {warning}")
    return finish(result, NAME)
