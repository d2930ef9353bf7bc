"""``./install.sh import``: import the bundle's images into containerd (or Docker).

By default into MicroK8s's containerd (socket
``/var/snap/microk8s/common/run/containerd.sock``, namespace ``k8s.io``, through
MicroK8s's own ``ctr`` when installed); the options aim it at any containerd (k3s,
RKE2, tests) or at Docker. Images already present with the same image ID are
skipped; each file is verified before it is imported; one bad file does not stop
the others. Exit code: 0 all present, 1 the store failed, 2 a bundle file is
missing, unsafe or does not match its checksum, or containerd refused its content,
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from installer.bundle.contents import load_bundle
from installer.bundle.importer import (
    DEFAULT_NAMESPACE,
    MICROK8S_SOCKET,
    ContainerdStore,
    DockerStore,
    ImageImporter,
    ImageStore,
    ImportItem,
)
from installer.bundle.manifest import MANIFEST_NAME
from installer.bundle.requirements import check_sections, component_names, known_refs
from installer.bundle.step import select_items
from installer.config.profile import Profile
from installer.engine.commands import RealRunner
from installer.engine.events import Event, ItemFinished, LogLine, StepProgress
from installer.engine.lock import LOCK_NAME, InstallLock
from installer.engine.printable import printable, shown
from installer.engine.sizes import human_bytes
from installer.errors import ExitCode, UsageError
from installer.verbs.common import emit_json, profile_from_args, stderr
from installer.verbs.verify import add_bundle_options, add_trust_options, bundle_dir, signature_of

NAME = "import"
HELP = "import the bundle's container images into containerd (MicroK8s by default) or Docker"
EXAMPLES = """\
sudo ./install.sh import
  sudo ./install.sh import --bundle /media/usb/offline-images --jobs 2
  ./install.sh import --containerd-socket /run/k3s/containerd/containerd.sock --namespace k8s.io --json
  ./install.sh import --backend docker --component jupyterhub"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options."""
    add_bundle_options(parser)
    add_trust_options(parser)
    parser.add_argument("--containerd-socket", type=Path, default=MICROK8S_SOCKET, metavar="PATH",
                        help=f"containerd socket (default: {MICROK8S_SOCKET})")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE,
                        help=f"containerd namespace (default: {DEFAULT_NAMESPACE}, the one Kubernetes uses)")
    parser.add_argument("--ctr", metavar="PATH", help="ctr binary (default: MicroK8s's, else ctr on PATH)")
    parser.add_argument("--backend", choices=("containerd", "docker"), default="containerd",
                        help="where to import (default: containerd)")
    parser.add_argument("--docker-host", metavar="URL", help="Docker daemon for --backend docker (e.g. unix:///run/docker.sock)")
    parser.add_argument("--component", action="append", metavar="NAME",
                        help="import only this component's images (repeatable; default: every image in the bundle)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                        help="where the install lock lives (default: the installer's state folder); an import "
                             "and an install never run at the same time")


class _ProgressPrinter:
    """Diagnostics on stderr: a line per finished archive, and a progress line on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self.lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self.lock:
            if isinstance(event, StepProgress) and self.tty and event.overall_total:
                elapsed = max(time.monotonic() - self.start, 1e-3)
                rate = (event.overall_done or 0) / elapsed
                percent = event.done * 100 // max(event.total or 1, 1)
                sys.stderr.write(f"\r\x1b[K{event.message:<9} {printable(str(event.item))}  {percent:3d}%"
                                 f"  all {human_bytes(event.overall_done or 0)} / {human_bytes(event.overall_total)}"
                                 f"  {human_bytes(rate)}/s")
                sys.stderr.flush()
            elif isinstance(event, LogLine) and event.level != "debug":
                self._say(event.message)
            elif isinstance(event, ItemFinished):
                # The reason of a failure is in the result lines on stdout (or the JSON): not twice.
                verb = {"ok": "imported", "skipped": "already present", "failed": "FAILED"}[event.status]
                self._say(f"{verb}: {shown(event.item)}")

    def _say(self, line: str) -> None:
        sys.stderr.write(("\r\x1b[K" if self.tty else "") + printable(line) + "\n")
        sys.stderr.flush()


def _store(args: argparse.Namespace, runner: RealRunner) -> ImageStore:
    if args.backend == "docker":
        return DockerStore(runner, host=args.docker_host)
    return ContainerdStore(runner, args.containerd_socket, args.namespace, args.ctr)


def _by_component(items: list[ImportItem], components: list[str], profile: Profile) -> list[ImportItem]:
    """A folder without a manifest: an archive belongs to the component that needs one of its images
    (as ``bundle lock`` would file it), else to ``extra``."""
    known = known_refs(profile)
    wanted = set(components)
    return [item for item in items if {known.get(ref, "extra") for ref in item.refs} & wanted]


def run(args: argparse.Namespace) -> ExitCode:
    """Import and print the summary (or the JSON report)."""
    if args.jobs < 1:
        msg = f"--jobs must be at least 1, got {args.jobs}"
        raise UsageError(msg, "containerd is CPU-bound: 2 lanes suit most hosts.")
    known = component_names()
    unknown = sorted(set(args.component or ()) - set(known))
    if unknown:
        msg = f"--component {', '.join(unknown)}: no such component"
        raise UsageError(msg, f"Give one of {', '.join(known)} (repeatable), or leave --component out to "
                              "import every image of the bundle.")
    signature_of(args, bundle_dir(args))  # before anything is read from the bundle
    bundle = load_bundle(bundle_dir(args), jobs=args.jobs)
    if bundle.manifest is not None:
        check_sections(bundle.manifest, bundle.path / MANIFEST_NAME)
    problems = list(bundle.scan.problems) if bundle.scan is not None else []
    for warning in bundle.warnings:
        if warning not in problems:
            stderr(f"warning: {warning}")
    items = select_items(bundle, args.component)
    if args.component and bundle.manifest is None:
        items = _by_component(items, args.component, profile_from_args(args))
    sink = _ProgressPrinter()
    runner = RealRunner()
    store = _store(args, runner)
    importer = ImageImporter(store, sink=sink, step_id="import-images", jobs=args.jobs)
    from installer.install_run import default_state_dir  # the install's module; only its state folder is needed

    state_dir = getattr(args, "state_dir", None) or default_state_dir()
    with InstallLock(Path(state_dir) / LOCK_NAME, purpose="image import"):
        try:
            report = importer.run(items)
        except KeyboardInterrupt:
            importer.cancel.set()
            raise
    if args.json:
        emit_json({**report.to_dict(), "problems": problems, "ok": report.ok and not problems})
    else:
        for problem in problems:
            print(printable(f"FAIL {problem}"))
        for result in report.failed:
            print(printable(f"FAIL {result.item.name}: {result.reason}"))
        print(report.summary() + (f"; {len(problems)} unreadable file(s) not imported" if problems else ""))
    if problems or any(r.bad_bundle for r in report.failed):
        stderr("hint: Fix or replace the files named above (`./install.sh verify` checks them all), then run the "
               "same command again; imported images are skipped.")
    if any(not r.bad_bundle and "cancelled" not in r.reason for r in report.failed):
        stderr(f"hint: {store.hint}")
    if problems and report.exit_code != ExitCode.INTERRUPTED:
        return ExitCode.BAD_INPUT  # a file of the bundle is unusable, like a checksum mismatch
    return report.exit_code
