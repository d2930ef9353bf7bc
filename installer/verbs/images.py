"""``./install.sh images``: the notebook image catalog of the running hub (list, add, edit, shelf, remove).

Each change edits the profile the install saved in its state folder, shows the hub's
values diff, then applies it as one ``helm upgrade`` of the hub
(:mod:`installer.daytwo.apply`); ``--dry-run`` shows the diff only. An interrupted change
is finished by the next ``images`` change (or ``images resume``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from installer.bundle.contents import load_bundle
from installer.bundle.imageref import normalize_ref
from installer.bundle.importer import DEFAULT_NAMESPACE, MICROK8S_SOCKET, ContainerdStore, ImageImporter
from installer.bundle.step import select_items
from installer.components.jupyterhub.image_checks import check_notebook_images
from installer.config.profile import Profile
from installer.daytwo import catalog, saved
from installer.daytwo.apply import apply_profile, change_options
from installer.daytwo.cluster import other_nodes_warning, servers_using
from installer.engine.commands import RealRunner
from installer.engine.events import NullSink
from installer.engine.lock import LOCK_NAME, InstallLock
from installer.engine.plan import StepContext
from installer.engine.printable import printable
from installer.errors import BundleError, ExitCode, StepFailed, UsageError
from installer.headless.console import ConsoleSink
from installer.install_run import make_context, make_redactor
from installer.verbs.common import add_json_option, emit_json, stderr

NAME = "images"
HELP = "list and change the notebook image catalog of the installed hub (add from a top-up bundle, shelf, remove)"
EXAMPLES = """\
./install.sh images list
  sudo ./install.sh images add --bundle /media/usb/topup quay.io/jupyter/pytorch-notebook:2024-12-09 \\
      --name pytorch --gpus 1
  sudo ./install.sh images disable pytorch --dry-run
  sudo ./install.sh images remove pytorch --keep-image"""


def _common(parser: argparse.ArgumentParser, *, change: bool = True) -> None:
    parser.add_argument("--state-dir", type=Path, metavar="DIR",
                        help="the install's state folder (default: /var/lib/jupyterhub-offline-installer)")
    parser.add_argument("--containerd-socket", type=Path, default=MICROK8S_SOCKET, metavar="PATH",
                        help=f"MicroK8s's containerd (default: {MICROK8S_SOCKET})")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="containerd namespace (default: k8s.io)")
    parser.add_argument("--ctr", metavar="PATH", help="ctr binary (default: MicroK8s's, else ctr on PATH)")
    if change:
        parser.add_argument("--dry-run", action="store_true", help="show the values diff only; change nothing")


def _entry_options(parser: argparse.ArgumentParser, *, adding: bool) -> None:
    parser.add_argument("--display-name", metavar="TEXT", help="what users see in the list")
    parser.add_argument("--description", metavar="TEXT", help="one line under the display name")
    parser.add_argument("--gpus", type=int, metavar="N", help="NVIDIA GPUs per server")
    parser.add_argument("--cpu", type=float, metavar="CORES", help="CPU cores a server may use")
    parser.add_argument("--mem", metavar="SIZE", help="memory a server may use, e.g. 16G")
    parser.add_argument("--shm", metavar="SIZE", help="size of /dev/shm, e.g. 2G")
    parser.add_argument("--rdma", action=argparse.BooleanOptionalAction, default=None,
                        help="give servers an RDMA device")
    parser.add_argument("--default", action="store_true", default=None, help="pre-select this entry")
    if not adding:
        parser.add_argument("--image", metavar="REF", help="another image (already in containerd)")


def configure(parser: argparse.ArgumentParser) -> None:
    """``list | add | edit | enable | disable | remove | resume``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="the catalog, and which entries are on the shelf")
    _common(listing, change=False)
    add_json_option(listing)
    add = sub.add_parser("add", help="import an image from a (top-up) bundle and offer it")
    add.add_argument("ref", metavar="REF", help="the image, as the bundle names it")
    add.add_argument("--bundle", type=Path, required=True, metavar="DIR", help="the bundle holding the image")
    add.add_argument("--name", metavar="SLUG", help="short id (default: from the image name)")
    add.add_argument("--off-shelf", action="store_true", help="add it without offering it yet")
    add.add_argument("--skip-image-checks", action="store_true",
                     help="add it even if it runs as another UID than 1000 or lacks jupyterhub-singleuser")
    _entry_options(add, adding=True)
    _common(add)
    edit = sub.add_parser("edit", help="change an entry's name shown, limits or image")
    edit.add_argument("name", metavar="NAME")
    _entry_options(edit, adding=False)
    _common(edit)
    for action, text in (("enable", "put an entry back on the shelf (offered to new servers)"),
                         ("disable", "take an entry off the shelf (running servers are untouched)")):
        shelf = sub.add_parser(action, help=text)
        shelf.add_argument("name", metavar="NAME")
        _common(shelf)
    remove = sub.add_parser("remove", help="delete an entry no running server uses, and its image")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--keep-image", action="store_true", help="leave the image in containerd")
    _common(remove)
    resume = sub.add_parser("resume", help="finish a change that was interrupted (or give it up)")
    resume.add_argument("--abandon", action="store_true",
                        help="give the interrupted change up: the hub goes back to the installed profile")
    _common(resume)


def run(args: argparse.Namespace) -> ExitCode:
    """Dispatch on the action."""
    from installer.verbs.status import state_dir_from

    state_dir = state_dir_from(args.state_dir)
    if args.action == "list":
        return _list(saved.load_installed(state_dir), as_json=args.json)
    code = _resume(args, state_dir)
    if code != ExitCode.OK or args.action == "resume":
        return code
    before = saved.load_installed(state_dir)
    source = saved.profile_path(state_dir)
    if args.action == "add":
        entry = _new_entry(args)
        after = catalog.add_entry(before, entry, source)
        _prepare_image(args, after, entry["image"], state_dir)
    elif args.action == "edit":
        after = catalog.edit_entry(before, args.name, _changes(args), source)
    elif args.action in ("enable", "disable"):
        after = catalog.edit_entry(before, args.name, {"enabled": args.action == "enable"}, source)
    else:
        after = catalog.remove_entry(before, args.name, source)
        _refuse_while_used(args, before, state_dir)
    code = _apply(args, state_dir, before, after)
    if code == ExitCode.OK and args.action == "remove" and not args.dry_run:
        _delete_image(args, before, after, state_dir)
    return code


def _list(profile: Profile, *, as_json: bool) -> ExitCode:
    rows = catalog.catalog_rows(profile)
    if as_json:
        emit_json({"images": rows})
        return ExitCode.OK
    for row in rows:
        shelf = "on shelf " if row["on_shelf"] else "OFF shelf"
        mark = " (default)" if row["default"] else ""
        sys.stdout.write(printable(f"{shelf}  {row['name']:<16} {row['image']}  gpus={row['gpus']}"
                                   f"  {row['display_name']}{mark}") + "\n")
    return ExitCode.OK


def _new_entry(args: argparse.Namespace) -> dict[str, Any]:
    name = args.name or normalize_ref(args.ref).rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    entry = {"name": name, "display_name": args.display_name or name, "image": args.ref,
             "enabled": not args.off_shelf, **_changes(args)}
    return {k: v for k, v in entry.items() if v is not None}


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    """The entry fields given on the command line (only those)."""
    fields = {"display_name": args.display_name, "description": args.description, "gpus": args.gpus,
              "cpu_limit": args.cpu, "mem_limit": args.mem, "shm_size": args.shm, "rdma": args.rdma,
              "default": args.default, "image": getattr(args, "image", None)}
    return {k: v for k, v in fields.items() if v is not None}


def _context(args: argparse.Namespace, profile: Profile, state_dir: Path) -> StepContext:
    """A context for read-only questions to the cluster (and the image deletion) through the runner."""
    options = change_options(profile, state_dir, containerd_socket=args.containerd_socket, namespace=args.namespace)
    return make_context(options, NullSink(), redactor=make_redactor(profile))


def _prepare_image(args: argparse.Namespace, after: Profile, ref: str, state_dir: Path) -> None:
    """Check the image in the bundle (UID 1000, ``jupyterhub-singleuser``), verify its archive and import it.

    Raises:
        BundleError: the bundle lacks it, a check failed (without ``--skip-image-checks``), or its file is bad.
        StepFailed: containerd refused it.
    """
    bundle = load_bundle(args.bundle)
    wanted = normalize_ref(ref)
    items = [i for i in select_items(bundle, None) if wanted in {normalize_ref(r) for r in i.refs}]
    if not items:
        msg = f"the bundle {args.bundle} holds no image {ref}"
        raise BundleError(msg, f"Export it on the connected side: `./install.sh export --image {ref} --out DIR`.")
    entry = next(i for i in after.jupyterhub.images if i.image == ref)
    settings = after.jupyterhub.model_copy(update={"images": [entry.model_copy(update={"enabled": True})]})
    checks = check_notebook_images(settings, args.bundle, bundle.manifest)
    problems = [r for r in checks if r.status in ("warn", "fail")]
    for result in problems:
        stderr(f"{'warning' if args.skip_image_checks else 'FAIL'}: {result.title}: {result.found}. {result.hint}")
    if problems and not args.skip_image_checks:
        msg = f"{ref} fails the notebook image checks (above)"
        raise BundleError(msg, "Rebuild the image (user 1000, with jupyterhub-singleuser), or add "
                               "--skip-image-checks to offer it anyway.")
    if args.dry_run:
        sys.stdout.write(printable(f"would import {items[0].label} from {args.bundle}") + "\n")
        return
    store = ContainerdStore(RealRunner(), args.containerd_socket, args.namespace, args.ctr)
    with InstallLock(state_dir / LOCK_NAME, purpose="image import"):  # never beside an install or another change
        report = ImageImporter(store, sink=NullSink(), step_id="images.import", jobs=1).run(items[:1])
    if not report.ok:
        reasons = "; ".join(f"{r.item.name}: {r.reason}" for r in report.failed)
        error = BundleError if any(r.bad_bundle for r in report.failed) else StepFailed
        raise error(f"cannot import {ref}: {reasons}", "Nothing was changed on the hub. " + store.hint)
    sys.stdout.write(printable(report.summary()) + "\n")
    warning = other_nodes_warning(_context(args, after, state_dir), ref)
    if warning:
        stderr(f"warning: {warning}")


def _refuse_while_used(args: argparse.Namespace, before: Profile, state_dir: Path) -> None:
    """Refuse to remove an entry whose image a user's server runs (naming them).

    Raises:
        UsageError: a server runs it, or the cluster did not say.
    """
    image = catalog.find_entry(before, args.name).image
    ctx = _context(args, before, state_dir)
    users = servers_using(ctx, before.jupyterhub.namespace, image)
    if users is None:
        msg = f"cannot tell whether a server runs {image}: the cluster does not answer"
        raise StepFailed(msg, "Check `microk8s status`, then run the same command again.")
    if users:
        msg = f"catalog entry '{args.name}' ({image}) is in use by the running server(s) of: {', '.join(users)}"
        raise UsageError(msg, f"Take it off the shelf first (`./install.sh images disable {args.name}`: no new "
                              "servers get it), and remove it once those servers have stopped.")


def _delete_image(args: argparse.Namespace, before: Profile, after: Profile, state_dir: Path) -> None:
    """Delete the removed entry's image from containerd, unless kept or still named by another entry."""
    image = catalog.find_entry(before, args.name).image
    if args.keep_image:
        sys.stdout.write(printable(f"kept {image} in containerd (--keep-image)") + "\n")
        return
    if any(normalize_ref(i.image) == normalize_ref(image) for i in after.jupyterhub.images):
        sys.stdout.write(printable(f"kept {image}: another catalog entry uses it") + "\n")
        return
    store = ContainerdStore(RealRunner(), args.containerd_socket, args.namespace, args.ctr)
    ctx = _context(args, before, state_dir)
    name = normalize_ref(image)
    with InstallLock(state_dir / LOCK_NAME, purpose="image removal"):
        present = store.present([name])
        # The CRI plugin also names an image by its ID (sha256:...): both names go, then containerd's GC frees
        # the blobs.
        for ref in [name, *present.values()] if present else []:
            ctx.runner.run([store.ctr, "-a", str(args.containerd_socket), "-n", args.namespace, "images", "rm", ref],
                           timeout=120, hint=store.hint)
    sys.stdout.write(printable(f"deleted {image} from containerd" if present else f"{image} was not in containerd")
                     + "\n")


def _show_diff(diff: str) -> None:
    sys.stdout.write(printable(diff) if diff else "the hub's values do not change\n")
    sys.stdout.flush()


def _apply(args: argparse.Namespace, state_dir: Path, before: Profile, after: Profile) -> ExitCode:
    options = change_options(after, state_dir, containerd_socket=args.containerd_socket, namespace=args.namespace)
    applied = apply_profile(before, options, ConsoleSink(sys.stderr), show_diff=_show_diff, dry_run=args.dry_run)
    if applied.result is not None and applied.result.error is not None:
        stderr(f"error: {applied.result.error.message}")
        if applied.result.error.hint:
            stderr(f"hint: {applied.result.error.hint}")
        if saved.pending(state_dir) is not None:
            stderr("hint: the change is kept as pending: `sudo ./install.sh images resume` finishes it once the cause "
                   "is fixed; `sudo ./install.sh images resume --abandon` gives it up.")
    return applied.exit_code


def _resume(args: argparse.Namespace, state_dir: Path) -> ExitCode:
    """Finish a change left pending by an interrupted or failed run before starting another (or, with
    ``resume --abandon``, give it up: the hub is brought back to the installed profile)."""
    wanted = saved.pending(state_dir)
    if wanted is None:
        if args.action == "resume":
            sys.stdout.write("no interrupted change to resume\n")
        return ExitCode.OK
    installed = saved.load_installed(state_dir)
    if getattr(args, "abandon", False):
        stderr("giving the interrupted change up: the hub goes back to the installed profile")
        return _apply(args, state_dir, wanted, installed)
    stderr("an earlier change was interrupted: finishing it first")
    if args.dry_run:
        msg = "an interrupted change is pending: a dry-run cannot show a diff on top of it"
        raise UsageError(msg, "Run `sudo ./install.sh images resume` first.")
    return _apply(args, state_dir, installed, wanted)
