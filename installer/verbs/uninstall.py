"""``./install.sh uninstall``: remove the hub and the other releases, keeping the users' volumes.

``--delete-data`` also deletes the hub's namespace with the users' volumes; it asks for the
namespace's name to be typed (without a terminal: ``--confirm NAMESPACE``). ``--remove-microk8s``
removes the snap too.
"""

from __future__ import annotations

import argparse
import sys
import threading

from installer.errors import ExitCode, Interrupted, UsageError
from installer.install_run import InstallOptions
from installer.lifecycle.uninstall import data_namespace, run_uninstall
from installer.verbs.lifecycle_common import (
    add_change_options,
    console,
    finish,
    installed_from_args,
    require_root,
    say,
    state_dir,
)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Namespaces Kubernetes itself needs: its NamespaceLifecycle admission plugin refuses to delete most of them
(kubernetes plugin/pkg/admission/namespace/lifecycle/admission.go, immortal namespaces)."""

NAME = "uninstall"
HELP = "remove the Helm releases and applied manifests (users' volumes are kept unless --delete-data)"
EXAMPLES = """\
sudo ./install.sh uninstall
  sudo ./install.sh uninstall --delete-data                      asks for the namespace name
  sudo ./install.sh uninstall --delete-data --confirm jupyterhub --remove-microk8s"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options."""
    parser.add_argument("--delete-data", action="store_true",
                        help="also delete the hub's namespace with every user's volume (asks to type its name)")
    parser.add_argument("--confirm", metavar="NAMESPACE",
                        help="the hub's namespace, typed in advance for --delete-data without a terminal")
    parser.add_argument("--remove-microk8s", action="store_true", help="also remove the MicroK8s snap")
    add_change_options(parser)


def confirm_delete(namespace: str, typed: str | None) -> None:
    """Require the namespace's name before the users' volumes are deleted.

    Raises:
        UsageError: no terminal and no ``--confirm``, or ``--confirm`` names another namespace.
        Interrupted: the name typed at the prompt is not the namespace's.
    """
    if typed is not None:
        if typed != namespace:
            msg = f"--confirm {typed!r} is not the hub's namespace {namespace!r}; nothing was changed"
            raise UsageError(msg, f"Pass --confirm {namespace} to delete its users' volumes.")
        return
    if not sys.stdin.isatty():
        msg = "--delete-data deletes every user's volume and needs the hub's namespace typed, but there is no terminal"
        raise UsageError(msg, f"Run it in a terminal, or pass --confirm {namespace}.")
    sys.stderr.write(f"This deletes the namespace {namespace} with every user's volume. Type {namespace} to go on: ")
    sys.stderr.flush()
    if sys.stdin.readline().strip() != namespace:
        msg = "the name typed is not the hub's namespace; nothing was changed"
        raise Interrupted(msg, "Run it again and type the namespace exactly.")


def run(args: argparse.Namespace) -> ExitCode:
    """Confirm a data deletion, then run the uninstall (``--dry-run``: the commands only)."""
    folder = state_dir(args)
    installed = installed_from_args(args, folder, NAME)
    dry_run = bool(getattr(args, "dry_run", False))
    namespace = data_namespace(installed.profile)
    if args.confirm is not None and not args.delete_data:
        raise UsageError("--confirm goes with --delete-data", "Add --delete-data, or leave out --confirm.")
    if args.delete_data and namespace in SYSTEM_NAMESPACES:
        msg = f"the hub runs in the namespace {namespace}, which Kubernetes itself needs: it cannot be deleted"
        raise UsageError(msg, f"Delete the users' volumes by hand: microk8s kubectl -n {namespace} get pvc")
    if args.delete_data and not dry_run:
        confirm_delete(namespace, args.confirm)
    require_root(dry_run, NAME)
    if not args.delete_data:
        say(args, f"the users' volumes in the namespace {namespace} are kept (--delete-data removes them)")
    options = InstallOptions(profile=installed.profile, dry_run=dry_run, state_dir=folder, host_root=args.host_root,
                             bundle_dir=installed.bundle)
    with console(args, installed.profile, dry_run=dry_run) as sinks:
        result = run_uninstall(options, sinks, delete_data=args.delete_data,
                               remove_microk8s=args.remove_microk8s, cancel=threading.Event())
    return finish(result, NAME)
