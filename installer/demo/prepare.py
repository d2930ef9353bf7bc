"""``./install.sh --demo``: the whole wizard on a small bundle built on the spot, on any machine.

What is real and what is not, so the demo never pretends:

* the bundle is real: image archives of a few MB built here (docker-archive tars
  with a config and layers, the same format ``docker save`` writes), a manifest with
  their sha256 written through :mod:`installer.bundle.manifest`, a chart archive;
  the snap files are labelled placeholders (they are never installed);
* preflight runs for real on this machine, and verification for real on the bundle;
* images are imported for real into a private containerd started for the demo in
  the temp folder (when ``containerd`` is installed and we are root), stopped after;
* MicroK8s, kubectl and Helm are the MicroK8s twin (:mod:`installer.demo.twin`),
  labelled "simulated MicroK8s": the install steps really run its commands, on a
  host tree in the temp folder that holds copies of this machine's OS, CPU, memory
  and network facts, and its pods start only when their images are really in the
  private containerd, so the install runs to the hub's URL;
* without a private containerd (not root, or no ``containerd``) every step is a
  dry-run, and the banner says so.

Nothing here imports Textual: :func:`prepare_demo` returns plain options that the
wizard or the headless mode runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gzip
import hashlib
import io
import json
import logging
import os
import random
import shutil
import signal
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from installer.components.jupyterhub.settings import JupyterHubSettings, NotebookImage
from installer.components.microk8s.settings import MicroK8sSettings
from installer.config.profile import PreflightSettings, Profile
from installer.demo.twin.runner import TwinRunner
from installer.demo.twin.state import Config as TwinConfig
from installer.engine.commands import Daemon, RealRunner
from installer.engine.logfile import default_log_path
from installer.errors import ExitCode, InstallerError
from installer.install_run import InstallOptions, default_state_dir
from installer.probes.system import has_default_route

if TYPE_CHECKING:
    import argparse

_LOGGER: Final = logging.getLogger(__name__)

CONTAINERD_START_TIMEOUT: Final = 30.0
SIMULATED_BANNER: Final = ("simulated MicroK8s: images are imported for real into a private containerd; "
                           "MicroK8s, kubectl and Helm are simulated (this host's system is not changed)")
"""The demo's banner when it runs the MicroK8s twin (the first note: every screen shows it)."""


@dataclass(frozen=True)
class DemoImage:
    """One image the demo bundle holds."""

    component: str
    ref: str
    size: int
    """Bytes of layer content (half random, half text: compresses like real images)."""
    user: str = "0"
    singleuser: bool = False
    """Ship ``/usr/local/bin/jupyterhub-singleuser`` (notebook images need it)."""
    compress: bool = False
    """Write ``.tar.zst`` (streamed through a decompressor into ``ctr import``)."""


KIB: Final = 1024
DEMO_IMAGES: Final[tuple[DemoImage, ...]] = (
    DemoImage("microk8s", "docker.io/calico/cni:v3.28.1", 300 * KIB),
    DemoImage("microk8s", "docker.io/calico/node:v3.28.1", 400 * KIB),
    DemoImage("microk8s", "docker.io/calico/kube-controllers:v3.28.1", 200 * KIB),
    DemoImage("microk8s", "registry.k8s.io/pause:3.10", 64 * KIB),
    DemoImage("microk8s", "docker.io/coredns/coredns:1.10.1", 200 * KIB),
    DemoImage("microk8s", "docker.io/cdkbot/hostpath-provisioner:1.5.0", 100 * KIB),
    DemoImage("microk8s", "docker.io/library/busybox:1.28.4", 100 * KIB),
    DemoImage("jupyterhub", "quay.io/jupyterhub/k8s-hub:4.2.0", 900 * KIB, user="1000"),
    DemoImage("jupyterhub", "quay.io/jupyterhub/configurable-http-proxy:4.6.3", 300 * KIB, user="65534"),
    DemoImage("jupyterhub", "quay.io/jupyterhub/k8s-network-tools:4.2.0", 100 * KIB),
    DemoImage("jupyterhub", "quay.io/jupyterhub/k8s-singleuser-sample:4.2.0", 3 * KIB * KIB, user="1000",
              singleuser=True, compress=True),
    DemoImage("jupyterhub", "quay.io/jupyter/scipy-notebook:2025-01-06", 4 * KIB * KIB, user="1000",
              singleuser=True, compress=True),
    DemoImage("jupyterhub", "docker.io/kubeflownotebookswg/jupyter-scipy:v1.9.2", 1 * KIB * KIB, user="0",
              compress=True),
)
"""MicroK8s 1.32 base images, the z2jh 4.2.0 core images and three notebook images
(the last one has the two classic faults the image checks warn about)."""

SNAP_PLACEHOLDER: Final = (b"demo placeholder: this is not a snap; the demo's simulated MicroK8s "
                           b"(the MicroK8s twin) installs it by name only\n")


@dataclass
class DemoEnv:
    """What :func:`prepare_demo` made: run the wizard or the headless mode with ``options``."""

    workdir: Path
    bundle_dir: Path
    profile: Profile
    options: InstallOptions
    log_file: Path
    """Kept after the demo (outside the temp folder), like the saved profile."""
    profile_dir: Path
    """Where the wizard proposes to save the demo's profile (kept after the demo)."""
    containerd_socket: Path | None = None
    """The private containerd the images go into; ``None`` when it could not be started."""
    notes: tuple[str, ...] = ()
    """What is real and what is simulated, in plain words (the first line is the banner)."""
    twin: TwinConfig | None = None
    """The simulated MicroK8s the install talks to; ``None`` when everything is a dry-run."""
    _daemon: Daemon | None = field(default=None, repr=False)

    def options_for(self, profile: Profile) -> InstallOptions:
        """The demo's options with another profile (``--demo --profile FILE``): same bundle and containerd."""
        return dataclasses.replace(self.options, profile=profile, bundle_dir=self.bundle_dir)


# --- image archives ------------------------------------------------------------------------


def _payload(size: int, seed: int) -> bytes:
    rng = random.Random(seed)  # demo content, not crypto
    half = size // 2
    words = [b"jupyter", b"notebook", b"kernel", b"tensor", b"gpu", b"offline", b"cluster", b"hub"]
    text = bytearray()
    while len(text) < size - half:
        text += rng.choice(words) + b" "
    return rng.randbytes(half) + bytes(text[: size - half])


def _tar(members: dict[str, bytes], *, executable: frozenset[str] = frozenset()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p in members if str(Path(p).parent) != "."}, key=len)
        done: set[str] = set()
        for directory in dirs:
            parts = Path(directory).parts
            for depth in range(1, len(parts) + 1):
                name = "/".join(parts[:depth])
                if name not in done:
                    info = tarfile.TarInfo(name)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
                    done.add(name)
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(content), 0
            info.mode = 0o755 if name in executable else 0o644
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def build_image_archive(spec: DemoImage, seed: int) -> tuple[bytes, str]:
    """A docker-archive (``docker save`` format) for ``spec``; returns its bytes and the image ID."""
    files = {"data/payload.bin": _payload(spec.size, seed),
             "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\njovyan:x:1000:100::/home/jovyan:/bin/bash\n"}
    executable: set[str] = set()
    if spec.singleuser:
        files["usr/local/bin/jupyterhub-singleuser"] = b"#!/bin/sh\necho demo image\n"
        executable.add("usr/local/bin/jupyterhub-singleuser")
    layer = _tar(files, executable=frozenset(executable))
    layer_hex = hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
        "config": {"User": spec.user, "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["/bin/sh"],
                   "Labels": {"org.opencontainers.image.description": "jupyterhub-offline-installer demo image"}},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"installer demo {spec.ref}"}],
    }, sort_keys=True).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": [spec.ref],
                            "Layers": [f"{layer_hex}/layer.tar"]}]).encode()
    archive = _tar({"manifest.json": manifest, f"{config_hex}.json": config, f"{layer_hex}/layer.tar": layer})
    return archive, f"sha256:{config_hex}"


def _file_name(ref: str, suffix: str) -> str:
    return ref.replace("/", "_").replace(":", "_").replace("@", "_") + suffix


DEMO_CHART: Final = {
    "hub-pvc.yaml": """apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: hub-db-dir
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
""",
    "hub-deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: hub
spec:
  replicas: 1
  selector:
    matchLabels: {component: hub}
  template:
    metadata:
      labels: {component: hub}
    spec:
      volumes:
        - name: pvc
          persistentVolumeClaim:
            claimName: hub-db-dir
      containers:
        - name: hub
          image: quay.io/jupyterhub/k8s-hub:4.2.0
          imagePullPolicy: IfNotPresent
""",
    "proxy-deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: proxy
spec:
  replicas: 1
  selector:
    matchLabels: {component: proxy}
  template:
    metadata:
      labels: {component: proxy}
    spec:
      containers:
        - name: chp
          image: quay.io/jupyterhub/configurable-http-proxy:4.6.3
          imagePullPolicy: IfNotPresent
""",
    "proxy-service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: proxy-public
spec:
  type: NodePort
  selector: {component: proxy}
  ports:
    - name: http
      port: 80
      nodePort: 30080
""",
}
"""The objects of z2jh 4.2.0 an install waits for (the hub with its database volume, the proxy and
its public service), as plain manifests with the demo's images: the twin applies them without a
helm binary (a chart with template directives needs one)."""


def _chart_archive() -> bytes:
    """A small Helm chart archive named like z2jh's whose templates are :data:`DEMO_CHART`."""
    chart = (b"apiVersion: v2\nname: jupyterhub\nversion: 4.2.0\nappVersion: 5.3.0\n"
             b"description: demo stand-in for the z2jh chart (plain manifests, for the simulated MicroK8s)\n")
    members = {"jupyterhub/Chart.yaml": chart, "jupyterhub/values.yaml": b"{}\n"}
    members.update({f"jupyterhub/templates/{name}": text.encode() for name, text in DEMO_CHART.items()})
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(_tar(members))
    return buf.getvalue()


def build_demo_bundle(bundle_dir: Path, images: tuple[DemoImage, ...] = DEMO_IMAGES) -> Path:
    """Write the demo bundle (archives, chart, placeholder snaps, manifest) and return the manifest path."""
    from installer.bundle.manifest import (
        ChartEntry,
        ComponentArtifacts,
        ImageEntry,
        Manifest,
        SnapEntry,
        save_manifest,
    )

    components: dict[str, ComponentArtifacts] = {}
    for seed, spec in enumerate(images, start=1):
        archive, digest = build_image_archive(spec, seed)
        if spec.compress:
            import zstandard

            archive = zstandard.ZstdCompressor(level=3).compress(archive)
        name = f"images/{_file_name(spec.ref, '.tar.zst' if spec.compress else '.tar')}"
        path = bundle_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(archive)
        entry = ImageEntry(refs=[spec.ref], file=name, sha256=hashlib.sha256(archive).hexdigest(),
                           size=len(archive), digest=digest)
        components.setdefault(spec.component, ComponentArtifacts()).images.append(entry)
    chart = _chart_archive()
    (bundle_dir / "charts").mkdir(parents=True, exist_ok=True)
    (bundle_dir / "charts" / "jupyterhub-4.2.0.tgz").write_bytes(chart)
    components["jupyterhub"].charts.append(ChartEntry(
        name="jupyterhub", version="4.2.0", file="charts/jupyterhub-4.2.0.tgz",
        sha256=hashlib.sha256(chart).hexdigest(), size=len(chart)))
    snaps = bundle_dir / "snaps"
    snaps.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(SNAP_PLACEHOLDER).hexdigest()
    for name, revision in (("snapd", "1"), ("core20", "1"), ("microk8s", "1")):
        for suffix in (".snap", ".assert"):
            (snaps / f"{name}_{revision}{suffix}").write_bytes(SNAP_PLACEHOLDER)
        components["microk8s"].snaps.append(SnapEntry(
            name=name, revision=revision, file=f"snaps/{name}_{revision}.snap", sha256=digest,
            size=len(SNAP_PLACEHOLDER), assert_file=f"snaps/{name}_{revision}.assert", assert_sha256=digest,
            assert_size=len(SNAP_PLACEHOLDER)))
    manifest = Manifest(components=components)
    return save_manifest(manifest, bundle_dir)


# --- the private containerd -------------------------------------------------------------------


def start_private_containerd(root: Path) -> tuple[Daemon, Path]:
    """Start ``containerd`` with its root, state and socket under ``root``; wait until it answers.

    Raises:
        InstallerError: it is not installed or did not come up (its log is quoted).
    """
    binary = shutil.which("containerd")
    if binary is None:
        msg = "containerd is not installed"
        raise InstallerError(msg, "apt-get install containerd (the demo then imports its images for real).")
    root.mkdir(parents=True, exist_ok=True)
    socket = root / "containerd.sock"
    config = root / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{root}/root"\n'
        f'state = "{root}/state"\n'
        "[grpc]\n"
        f'  address = "{socket}"\n'
        '[plugins."io.containerd.grpc.v1.cri"]\n'
        "  disable_apparmor = true\n"
    )
    daemon = Daemon([binary, "--config", str(config)], root / "containerd.log")
    daemon.start()
    runner = RealRunner()
    deadline = time.monotonic() + CONTAINERD_START_TIMEOUT
    while time.monotonic() < deadline and daemon.running:
        if socket.exists() and runner.run(["ctr", "-a", str(socket), "version"], timeout=10, check=False,
                                          mutates=False).ok:
            return daemon, socket
        time.sleep(0.05)
    stop_private_containerd(daemon, root)
    msg = f"the demo's containerd did not start: {daemon.log_tail() or 'no output'}"
    raise InstallerError(msg, "Run the demo as root (containerd needs it), or see the log above.")


def stop_private_containerd(daemon: Daemon, root: Path) -> None:
    """Stop the demo's containerd and unmount what it left mounted under ``root``."""
    daemon.stop()
    runner = RealRunner()
    with contextlib.suppress(OSError):
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            target = line.split()[1]
            if target.startswith(str(root)):
                runner.run(["umount", "-l", target], timeout=30, check=False)


# --- the simulated MicroK8s (the MicroK8s twin) --------------------------------------------------

HOST_FACTS: Final = ("/etc/os-release", "/usr/lib/os-release", "/proc/sys/kernel/osrelease", "/proc/sys/kernel/arch",
                     "/sys/devices/system/cpu/online", "/proc/cpuinfo", "/proc/meminfo", "/proc/net/route",
                     "/proc/net/ipv6_route", "/proc/net/tcp", "/proc/net/tcp6", "/etc/resolv.conf",
                     "/run/systemd/resolve/resolv.conf")
"""This machine's files that preflight and the install steps read, copied into the simulated host."""

ROUTE_HEADER: Final = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
TWIN_TIME_SCALE: Final = 0.02
"""Twin seconds per real second: MicroK8s's restarts and Helm's waits pass quickly in the demo."""


def simulated_host(root: Path, interface: str) -> list[str]:
    """The host tree the twin acts on: copies of :data:`HOST_FACTS`, and what the simulation adds.

    Returns what was made up rather than copied (said in the demo's notes).
    """
    for name in HOST_FACTS:
        try:
            text = Path(name).read_text(errors="replace")
        except OSError:
            continue
        target = root / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    made_up = ["snapd (the twin's `snap` plays it)"]
    snapd = root / "usr/lib/snapd/snapd"
    snapd.parent.mkdir(parents=True, exist_ok=True)
    snapd.write_text("demo: the MicroK8s twin's snap stands in for snapd\n")
    (root / "etc/netplan").mkdir(parents=True, exist_ok=True)
    route = root / "proc/net/route"
    table = route.read_text() if route.is_file() else ROUTE_HEADER
    if not has_default_route(table, None):
        route.parent.mkdir(parents=True, exist_ok=True)
        route.write_text(table + f"{interface}\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n")
        made_up.append("a default route (this machine has none; MicroK8s needs one)")
    return made_up


def simulated_microk8s(root: Path, socket: Path) -> tuple[TwinConfig, list[str]]:
    """The twin's config (state in ``root/twin``, host tree ``root/host``, images in ``socket``) and its notes."""
    helm = shutil.which("helm") or ""
    config = TwinConfig(state_dir=root / "twin", host_root=root / "host", containerd_socket=socket,
                        namespace="k8s.io", helm=helm, time_scale=TWIN_TIME_SCALE)
    made_up = simulated_host(config.host_root, config.interface)
    config.save()
    rendering = f"charts rendered by {helm}" if helm else "no helm on PATH: the demo chart is applied as is"
    notes = [f"simulated: MicroK8s, kubectl and Helm are the MicroK8s twin (state in {config.state_dir}; {rendering})",
             f"simulated host: {config.host_root} holds copies of this machine's OS, CPU, memory and network files; "
             "made up: " + ", ".join(made_up)]
    return config, notes


# --- the demo as a whole ------------------------------------------------------------------------


def demo_profile(bundle_dir: Path) -> Profile:
    """Defaults, plus a catalog that shows the image checks and thresholds any laptop meets."""
    images = [
        NotebookImage(name="minimal", display_name="Minimal Python",
                      image="quay.io/jupyterhub/k8s-singleuser-sample:4.2.0",
                      description="Python with JupyterLab", default=True, cpu_limit=2, mem_limit="4G"),
        NotebookImage(name="scipy", display_name="SciPy stack", image="quay.io/jupyter/scipy-notebook:2025-01-06",
                      description="numpy, pandas, matplotlib, scikit-learn", cpu_limit=4, mem_limit="8G"),
        NotebookImage(name="kubeflow-scipy", display_name="Kubeflow SciPy (check warnings)",
                      image="docker.io/kubeflownotebookswg/jupyter-scipy:v1.9.2", enabled=False,
                      description="runs as root and lacks jupyterhub-singleuser", cpu_limit=4, mem_limit="8G"),
    ]
    return Profile(
        bundle=bundle_dir,
        preflight=PreflightSettings(min_memory_gib=1, disk_headroom_gib=1),
        # The demo never writes host network files: without a default route the check says so instead.
        microk8s=MicroK8sSettings(add_default_route=False),
        jupyterhub=JupyterHubSettings(images=images, admin_users=["admin"]),
    )


@contextlib.contextmanager
def prepare_demo(workdir: Path | None = None, *, start_containerd: bool = True,
                 images: tuple[DemoImage, ...] = DEMO_IMAGES, keep_dir: Path | None = None) -> Iterator[DemoEnv]:
    """Build the demo bundle and (when possible) a private containerd; clean both up afterwards.

    Args:
        workdir: a folder to build in (default: a new temp folder, removed afterwards).
        start_containerd: False to never start one (every step then runs as a dry-run).
        images: what the bundle holds (the benchmark passes bigger ones).
        keep_dir: where the log and the saved profile go (default: the installer's usual
            log folder and ``<state>/demo``); they outlive the demo.

    Yields:
        The demo's options, profile and notes; the log file and saved profile are kept.
    """
    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="jupyterhub-installer-demo-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    daemon: Daemon | None = None
    containerd_root = root / "containerd"
    try:
        bundle_dir = root / "offline-images"
        build_demo_bundle(bundle_dir, images)
        profile = demo_profile(bundle_dir)
        notes: list[str] = []
        socket: Path | None = None
        why_not = ""
        if start_containerd and os.geteuid() == 0 and shutil.which("containerd") and shutil.which("ctr"):
            try:
                daemon, socket = start_private_containerd(containerd_root)
            except InstallerError as exc:
                why_not = exc.message
        elif not start_containerd:
            why_not = "not asked for"
        elif os.geteuid() != 0:
            why_not = "containerd needs root"
        else:
            why_not = "containerd is not installed"
        twin: TwinConfig | None = None
        skips: set[str] = set()
        options = InstallOptions(profile=profile, dry_run=True, state_dir=root / "state", bundle_dir=bundle_dir,
                                 containerd_socket=root / "containerd.sock", namespace="k8s.io")
        if socket is not None:
            twin, twin_notes = simulated_microk8s(root, socket)
            notes += [SIMULATED_BANNER, f"real: the bundle, its verification, the image checks, and the import "
                      f"into a private containerd ({socket}, stopped when the demo ends)", *twin_notes]
            options = dataclasses.replace(options, dry_run=False, containerd_socket=socket,
                                          host_root=twin.host_root,
                                          runner_factory=functools.partial(TwinRunner, twin),
                                          simulated="simulated MicroK8s")
        else:
            notes.append(f"DRY-RUN: nothing is imported or installed (no private containerd: {why_not}); "
                         "the bundle, its verification and preflight are real")
            if shutil.which("microk8s") is None:
                skips.add("snapd")
            if os.geteuid() != 0:
                skips.add("root")
        notes.append(f"demo bundle (real image archives and manifest): {bundle_dir}")
        if skips:
            notes.append("checks skipped for the demo: " + ", ".join(sorted(skips))
                         + " (nothing is installed for real)")
        keep = keep_dir or default_log_path().parent
        profiles = keep_dir / "profiles" if keep_dir else default_state_dir() / "demo"
        options = dataclasses.replace(options, skip_checks=frozenset(skips))
        yield DemoEnv(workdir=root, bundle_dir=bundle_dir, profile=profile, options=options,
                      log_file=keep / "demo.log", profile_dir=profiles, containerd_socket=socket,
                      notes=tuple(notes), twin=twin, _daemon=daemon)
    finally:
        if daemon is not None:
            stop_private_containerd(daemon, containerd_root)
        if own:
            shutil.rmtree(root, ignore_errors=True)


def run_demo(args: argparse.Namespace) -> ExitCode:
    """``./install.sh --demo [--profile FILE]``: the wizard on the demo, or the headless mode with ``--profile``."""
    import sys

    from installer.config.profile import load_profile

    def hang_up(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a closed terminal still stops the demo's containerd and removes its folder

    signal.signal(signal.SIGHUP, hang_up)
    with prepare_demo(keep_dir=args.state_dir / "demo" if args.state_dir else None) as demo:
        for note in demo.notes:
            sys.stderr.write(f"demo: {note}\n")
        terminal = sys.stdin.isatty() and sys.stdout.isatty()
        headless = args.profile is not None or args.output == "jsonl" or not terminal
        if headless:
            from installer.headless.install import run_headless

            options = demo.options_for(load_profile(args.profile)) if args.profile else demo.options
            if args.dry_run:  # asked for: the simulated MicroK8s is not run either, every command is shown
                options = dataclasses.replace(options, dry_run=True)
            options = dataclasses.replace(options, check=not getattr(args, "no_check", False))
            log = args.log_file or demo.log_file
            # The demo changes nothing on the host (its temp folder, log and saved profile only): no confirmation.
            code = run_headless(options, output=args.output, log_file=log, assume_yes=True, verbose=args.verbose)
            sys.stderr.write(f"demo: {demo.notes[0]}\n")  # the summary says again what was real and what simulated
            return code
        from installer.tui.app import run_wizard  # the CLI-level switch to the UI, as installer.cli does

        options = dataclasses.replace(demo.options, dry_run=True) if args.dry_run else demo.options
        options = dataclasses.replace(options, check=not getattr(args, "no_check", False))
        return run_wizard(options, demo_notes=demo.notes, log_file=args.log_file or demo.log_file,
                          profile_dir=demo.profile_dir)
