"""Preflight checks: host facts + profile -> pass / warn / fail, each with a hint.

Checks return data and never exit; :mod:`installer.preflight.step` decides what a
failure means (exit 3 unless the operator skipped the check by id).

======================  ===============================================================
id                      what it guards against
======================  ===============================================================
``root``                the install writes system files and installs snaps
``os``                  only Ubuntu 22.04/24.04 are tested
``arch``                snaps and bundled images exist for amd64/arm64 only
``cpu``                 MicroK8s + the hub need at least 2 CPUs
``memory``              ``preflight.min_memory_gib``
``disk-containerd``     imported images (file + unpacked copy) + headroom before kubelet evicts
``disk-snapd``          room for the MicroK8s snaps
``snapd``               snaps cannot be installed without snapd
``microk8s``            MicroK8s present, or its snaps in the bundle
``ports``               ports MicroK8s and the hub listen on are free
``default-route``       the apiserver refuses to start without one
``kubelet-dir``         a real ``/var/lib/kubelet`` hides device plugins from MicroK8s
``docker``              a host ``containerd`` (Docker's too) the NVIDIA toolkit would copy
``gpu``                 the GPU Operator is only turned on with a GPU
``gpu-driver``          the driver choice fits the host driver
``gpu-mig``             MIG-enabled GPUs need a MIG strategy
``gpu-catalog``         a catalog entry asking for more GPUs than the node has never starts
``gpu-sharing``         HAMi needs GPUs, the toolkit and no MIG; many time-slicing replicas warn
``rdma``                the RDMA plugin is only turned on with an active port
``gpudirect``           GPUDirect RDMA needs ``nvidia_peermem`` (or DMA-BUF) with the host driver
======================  ===============================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from installer.components.gpu_operator.values import known_images, toolkit_guards_host_containerd, use_host_driver
from installer.components.rdma.manifests import LINK_TYPES
from installer.engine.events import CheckReported, CheckStatus
from installer.engine.sizes import human_bytes
from installer.probes.disk import CONTAINERD_ROOT, SNAPD_ROOT
from installer.probes.model import DiskInfo, GpuInfo, HostFacts, IbPort, SystemInfo

if TYPE_CHECKING:
    from pathlib import Path

    from installer.components.gpu_operator.settings import GpuOperatorSettings
    from installer.components.gpu_sharing.settings import GpuSharingSettings
    from installer.components.jupyterhub.settings import NotebookImage
    from installer.components.rdma.settings import RdmaSettings
    from installer.config.profile import Profile

GIB: Final = 1 << 30
UNPACK_FACTOR: Final = 2.5
"""Disk used per byte of unpacked image content (``content_size``): containerd keeps the imported blobs
(about the archive's content without its compression) and a snapshot unpacked from them."""
SNAPS_GIB: Final = 1.0
"""snapd, core20 and microk8s snaps plus snapd's copies; about 350 MB, rounded up."""
MIN_CPUS: Final = 2
SUPPORTED_OS: Final = {"ubuntu": ("22.04", "24.04")}
SUPPORTED_ARCH: Final = ("x86_64", "aarch64")
MICROK8S_PORTS: Final = {16443: "Kubernetes API", 10250: "kubelet", 25000: "MicroK8s cluster agent",
                         19001: "dqlite (MicroK8s datastore)"}
KUBELET_LINK: Final = "/var/snap/microk8s/common/var/lib/kubelet"

CHECK_IDS: Final = ("root", "os", "arch", "cpu", "memory", "disk-containerd", "disk-snapd", "snapd", "microk8s",
                    "ports", "default-route", "kubelet-dir", "docker", "gpu", "gpu-driver", "gpu-mig", "gpu-catalog",
                    "gpu-sharing", "rdma", "gpudirect")
"""Every check reported on every run, in report order."""
CONDITIONAL_CHECK_IDS: Final = ("ssh-keygen",)
"""Checks reported, after those, only when they apply (``ssh-keygen``: when the profile names a trust file)."""
ALL_CHECK_IDS: Final = CHECK_IDS + CONDITIONAL_CHECK_IDS
"""What ``--skip-check`` accepts."""


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict: what was found, what is required, what to do."""

    id: str
    title: str
    status: CheckStatus
    found: str
    required: str
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the ``checks`` entries of ``preflight --json``)."""
        return asdict(self)

    def to_event(self) -> CheckReported:
        """The event front ends show."""
        return CheckReported(check_id=self.id, title=self.title, status=self.status, found=self.found,
                             required=self.required, hint=self.hint)


def gib(n_bytes: float) -> str:
    """``12.3 GiB`` for people."""
    return f"{n_bytes / GIB:.1f} GiB"


# --- system ------------------------------------------------------------------------------


def check_root(system: SystemInfo) -> CheckResult:
    """The installer must run as root."""
    if system.is_root:
        return CheckResult("root", "Running as root", "pass", "root", "root")
    return CheckResult("root", "Running as root", "fail", "not root", "root",
                       "Run it with sudo: sudo ./install.sh ...")


def check_os(system: SystemInfo) -> CheckResult:
    """Ubuntu 22.04 and 24.04 are tested; others may work, so they only warn."""
    found = system.os_pretty or f"{system.os_id} {system.os_version}".strip()
    required = "Ubuntu 22.04 or 24.04"
    if system.os_version in SUPPORTED_OS.get(system.os_id, ()):
        return CheckResult("os", "Operating system", "pass", found, required)
    return CheckResult("os", "Operating system", "warn", found, required,
                       "This OS is not tested; MicroK8s needs snapd and a systemd host. Continue at your own risk.")


def check_arch(system: SystemInfo) -> CheckResult:
    """Snaps and bundled images are built for amd64 and arm64 only."""
    required = "x86_64 or aarch64"
    if system.arch in SUPPORTED_ARCH:
        return CheckResult("arch", "CPU architecture", "pass", system.arch, required)
    return CheckResult("arch", "CPU architecture", "fail", system.arch, required,
                       "Use an amd64 or arm64 server; the bundle's snaps and images do not run here.")


def check_cpu(system: SystemInfo) -> CheckResult:
    """MicroK8s's control plane alone keeps about one core busy."""
    found, required = f"{system.cpu_count} CPUs", f"at least {MIN_CPUS} CPUs"
    if system.cpu_count >= MIN_CPUS:
        return CheckResult("cpu", "CPUs", "pass", found, required)
    return CheckResult("cpu", "CPUs", "warn", found, required,
                       "With one CPU the cluster starts slowly and user servers compete with it.")


def check_memory(system: SystemInfo, min_gib: float) -> CheckResult:
    """``preflight.min_memory_gib``: MicroK8s + the hub use about 4 GiB before any user."""
    found, required = gib(system.memory_bytes), f"at least {min_gib:g} GiB (preflight.min_memory_gib)"
    if system.memory_bytes >= min_gib * GIB:
        return CheckResult("memory", "Memory", "pass", found, required)
    return CheckResult("memory", "Memory", "fail", found, required,
                       "Add memory, or lower preflight.min_memory_gib in the profile if the users need little.")


def containerd_bytes_needed(bundle_bytes: int | None, headroom_gib: float, imported_bytes: int | None = 0) -> int:
    """Free bytes the containerd filesystem needs: ``2.5 x image files not yet imported + headroom``."""
    return math.ceil(UNPACK_FACTOR * max((bundle_bytes or 0) - (imported_bytes or 0), 0) + headroom_gib * GIB)


def check_disk_containerd(disk: DiskInfo | None, bundle_bytes: int | None, headroom_gib: float,
                          imported_bytes: int | None = 0) -> CheckResult:
    """Images land twice in containerd (blobs + unpacked); kubelet evicts images when space runs low.

    Images already imported (an earlier, interrupted run) took their room already;
    ``imported_bytes=None`` means containerd's images could not be listed.
    """
    title = "Disk for images"
    needed = containerd_bytes_needed(bundle_bytes, headroom_gib, imported_bytes)
    if bundle_bytes is None:
        images = "images (bundle size unknown)"
    elif imported_bytes:
        images = (f"{UNPACK_FACTOR:g} x {human_bytes(max(bundle_bytes - imported_bytes, 0))} of image files (unpacked) "
                  f"not yet imported ({human_bytes(imported_bytes)} already are)")
    else:  # in the unit that reads best: a small bundle is "2.5 x 9.3 MiB", not "2.5 x 0.0 GiB"
        images = f"{UNPACK_FACTOR:g} x {human_bytes(bundle_bytes)} of image files (unpacked)"
    required = f"{gib(needed)} free = {images} + {headroom_gib:g} GiB headroom (preflight.disk_headroom_gib)"
    if disk is None:
        return CheckResult("disk-containerd", title, "warn", "not measured", required)
    found = f"{gib(disk.free_bytes)} free on {disk.mount_point} (for {disk.path})"
    if disk.free_bytes >= needed:
        return CheckResult("disk-containerd", title, "pass", found, required)
    hint = (f"Free {gib(needed - disk.free_bytes)} on {disk.mount_point} (MicroK8s keeps images under "
            f"{CONTAINERD_ROOT}), or lower preflight.disk_headroom_gib.")
    if imported_bytes is None:
        hint += (" containerd's images could not be listed, so images already imported were counted too: if "
                 "they are, skip this check with --skip-check disk-containerd.")
    return CheckResult("disk-containerd", title, "fail", found, required, hint)


def check_disk_snapd(disk: DiskInfo | None, microk8s_installed: bool) -> CheckResult:
    """Installing the snaps copies them under ``/var/lib/snapd``."""
    title = "Disk for snaps"
    required = f"{SNAPS_GIB:g} GiB free (only while MicroK8s is not installed)"
    if microk8s_installed:
        return CheckResult("disk-snapd", title, "pass", "MicroK8s already installed", required)
    if disk is None:
        return CheckResult("disk-snapd", title, "warn", "not measured", required)
    found = f"{gib(disk.free_bytes)} free on {disk.mount_point} (for {SNAPD_ROOT})"
    if disk.free_bytes >= SNAPS_GIB * GIB:
        return CheckResult("disk-snapd", title, "pass", found, required)
    return CheckResult("disk-snapd", title, "fail", found, required, f"Free some space on {disk.mount_point}.")


def check_snapd(system: SystemInfo) -> CheckResult:
    """A snap cannot be installed without a running snapd, even from a file."""
    required = "snapd (to install MicroK8s)"
    if system.microk8s_installed:
        return CheckResult("snapd", "snapd", "pass", "MicroK8s already installed", required)
    if system.snapd:
        return CheckResult("snapd", "snapd", "pass", "installed", required)
    return CheckResult("snapd", "snapd", "fail", "not installed", required,
                       "Install the snapd package first (Ubuntu ships it; elsewhere install its .deb offline). "
                       "The snapd snap in the bundle only updates an existing snapd.")


def check_microk8s(system: SystemInfo, *, install_snaps: bool, bundle_has_snaps: bool) -> CheckResult:
    """MicroK8s present and running, or installable from the bundle's snaps."""
    title, required = "MicroK8s", "installed, or its snaps in the bundle"
    if system.microk8s_installed:
        found = f"installed {system.microk8s_version or '(version unknown)'}"
        if system.microk8s_ready is False:
            return CheckResult("microk8s", title, "warn", found + ", not running", required,
                               "Start it with `microk8s start`; `microk8s inspect` explains why it stopped.")
        return CheckResult("microk8s", title, "pass", found + (", running" if system.microk8s_ready else ""),
                           required)
    if install_snaps and bundle_has_snaps:
        return CheckResult("microk8s", title, "warn", "not installed; snaps found in the bundle", required,
                           "The install will install MicroK8s from the bundle's snaps.")
    if not install_snaps:
        return CheckResult("microk8s", title, "fail", "not installed", "installed (microk8s.install_snaps is false)",
                           "Install MicroK8s first, or set microk8s.install_snaps: true and put its snaps in "
                           "the bundle.")
    return CheckResult("microk8s", title, "fail", "not installed; no microk8s snap in the bundle", required,
                       "Put the snapd, core20 and microk8s snaps with their .assert files in the offline bundle "
                       "(`./install.sh export` downloads them on a connected machine), or install MicroK8s first.")


def needed_ports(profile: Profile) -> dict[int, str]:
    """Ports the install listens on, with what uses each."""
    ports = dict(MICROK8S_PORTS)
    service = profile.jupyterhub.service
    if service.type == "NodePort":
        ports[service.node_port] = "JupyterHub (jupyterhub.service.node_port)"
    return ports


def check_ports(system: SystemInfo, ports: dict[int, str]) -> CheckResult:
    """Busy ports matter only before MicroK8s is installed (afterwards it holds them itself)."""
    title = "Free ports"
    required = "free: " + ", ".join(str(p) for p in sorted(ports))
    if system.microk8s_installed:
        return CheckResult("ports", title, "pass", "MicroK8s installed (it owns these ports)", required)
    busy = sorted(set(ports) & set(system.busy_ports))
    if not busy:
        return CheckResult("ports", title, "pass", "all free", required)
    found = "in use: " + ", ".join(f"{p} ({ports[p]})" for p in busy)
    return CheckResult("ports", title, "fail", found, required,
                       f"Stop what listens there (`ss -ltnp 'sport = :{busy[0]}'` names it); another Kubernetes "
                       "on this host conflicts with MicroK8s. The hub's port is jupyterhub.service.node_port.")


def check_default_route(system: SystemInfo, *, add_default_route: bool) -> CheckResult:
    """The apiserver and kube-proxy fail on a host with no default route (common air-gapped)."""
    title, required = "Default route", "a default route (the Kubernetes API needs one)"
    if system.default_route:
        return CheckResult("default-route", title, "pass", "present", required)
    if add_default_route:
        return CheckResult("default-route", title, "warn", "none", required,
                           "The install adds a link-scope default route (microk8s.add_default_route).")
    return CheckResult("default-route", title, "fail", "none", required,
                       "Add one (e.g. netplan `routes: [{to: 0.0.0.0/0, scope: link}]`) or set "
                       "microk8s.add_default_route: true.")


def check_kubelet_dir(system: SystemInfo, *, device_plugins: bool) -> CheckResult:
    """MicroK8s links ``/var/lib/kubelet`` to its own folder only if it does not exist yet."""
    title, required = "/var/lib/kubelet", f"absent, or a symlink to {KUBELET_LINK}"
    if not system.kubelet_dir_is_real_folder:
        return CheckResult("kubelet-dir", title, "pass", "absent or a symlink", required)
    hint = (f"Move it away (mv /var/lib/kubelet /var/lib/kubelet.old) before MicroK8s is installed, or replace it "
            f"with a symlink to {KUBELET_LINK}: device plugins (GPU, RDMA) register there.")
    return CheckResult("kubelet-dir", title, "fail" if device_plugins else "warn", "a real folder", required, hint)


def check_docker(system: SystemInfo, *, gpu_operator: bool, toolkit_guarded: bool = True) -> CheckResult:
    """A ``containerd`` on the host's PATH (Docker's, or a containerd package) beside MicroK8s.

    The NVIDIA toolkit asks ``chroot /host containerd config dump`` for the config it
    writes into MicroK8s's template; a host containerd answers with its own config
    (``disabled_plugins = ["cri"]``) and MicroK8s's containerd restarts without CRI
    (gpu-operator#1367). The values stop toolkits from v1.17.6 on from asking
    (``gpu_operator.values.TOOLKIT_NO_CONFIG_DUMP``); older ones cannot be stopped.

    Args:
        system: the probed host.
        gpu_operator: the GPU Operator installs its toolkit (enabled, ``toolkit: true``).
        toolkit_guarded: the chart's toolkit obeys those settings.
    """
    title = "containerd or Docker beside MicroK8s"
    required = "no containerd on the host PATH, or a toolkit told not to ask it"
    binaries = ", ".join(system.host_containerd)
    docker = "Docker installed" if system.docker_installed else "no Docker"
    if not system.host_containerd:
        return CheckResult("docker", title, "pass", f"no containerd on the host PATH ({docker})", required)
    found = f"{binaries} ({docker})"
    if not gpu_operator:
        return CheckResult("docker", title, "pass", found + "; harmless without the GPU Operator's toolkit", required)
    if toolkit_guarded:
        return CheckResult("docker", title, "pass", found, required,
                           "The NVIDIA toolkit is told not to ask this containerd for its config "
                           "(RUNTIME_EXECUTABLE_PATH / RUNTIME_CONFIG_SOURCE), so MicroK8s keeps its CRI.")
    return CheckResult("docker", title, "fail", found, required,
                       f"This GPU Operator's toolkit would run `{system.host_containerd[0]} config dump` and write "
                       "that config into MicroK8s's containerd-template.toml: MicroK8s's containerd would restart "
                       "without CRI (gpu-operator#1367). Remove the package that installed it (apt remove docker.io "
                       "containerd, or docker-ce containerd.io), or set gpu_operator.version to v25.3.4 or v25.10.1.")


# --- GPUs and RDMA -----------------------------------------------------------------------


def describe_gpus(gpus: Iterable[GpuInfo]) -> str:
    """``8 x NVIDIA H100 80GB HBM3`` (grouped by name)."""
    counts: dict[str, int] = {}
    for gpu in gpus:
        counts[gpu.name] = counts.get(gpu.name, 0) + 1
    return ", ".join(f"{n} x {name}" for name, n in counts.items()) or "no NVIDIA GPU"


def check_gpu(gpus: tuple[GpuInfo, ...], settings: GpuOperatorSettings) -> CheckResult:
    """The GPU Operator needs a GPU; a GPU without it is only a suggestion."""
    title, found = "NVIDIA GPUs", describe_gpus(gpus)
    if settings.enabled and not gpus:
        return CheckResult("gpu", title, "fail", found, "an NVIDIA GPU (gpu_operator.enabled is true)",
                           "Set gpu_operator.enabled: false in the profile, or check that the GPUs show in "
                           "`lspci -d 10de:` (reseat them, enable them in the BIOS).")
    if settings.enabled:
        return CheckResult("gpu", title, "pass", found, "an NVIDIA GPU (gpu_operator.enabled is true)")
    required = "none (GPU Operator off)"
    if gpus:
        return CheckResult("gpu", title, "pass", found, required,
                           "GPUs found: set gpu_operator.enabled: true to let notebooks use them.")
    return CheckResult("gpu", title, "pass", found, required)


def check_gpu_driver(gpus: tuple[GpuInfo, ...], host_driver: str | None,
                     settings: GpuOperatorSettings) -> CheckResult:
    """``gpu_operator.driver`` against what the host has: a loaded driver blocks the driver container."""
    title = "NVIDIA driver"
    found = f"host driver {host_driver}" if host_driver else "no host driver"
    if not settings.enabled or not gpus:
        return CheckResult("gpu-driver", title, "pass", found, "none (GPU Operator off)")
    choice = settings.driver
    if choice == "host" and not host_driver:
        return CheckResult("gpu-driver", title, "fail", found, "a host driver (gpu_operator.driver: host)",
                           "Install the NVIDIA driver on the host (nvidia-smi must work), or set "
                           "gpu_operator.driver: operator.")
    if choice == "operator" and host_driver:
        return CheckResult("gpu-driver", title, "fail", found, "no host driver (gpu_operator.driver: operator)",
                           "The operator's driver container cannot load beside a host driver: set "
                           "gpu_operator.driver: host (or auto).")
    if host_driver:
        return CheckResult("gpu-driver", title, "pass", found, f"host or operator driver ({choice}: host)")
    return CheckResult("gpu-driver", title, "warn", found, f"host or operator driver ({choice}: operator)",
                       "Air-gapped, the driver container needs a precompiled driver image (or a local package "
                       "mirror) in the bundle; installing the driver on the host is simpler.")


def check_gpu_mig(gpus: tuple[GpuInfo, ...], settings: GpuOperatorSettings) -> CheckResult:
    """MIG-enabled GPUs advertise nothing useful without a MIG strategy."""
    title = "MIG mode"
    mig = [g for g in gpus if g.mig == "Enabled"]
    required = "gpu_operator.mig_strategy single or mixed when MIG is on"
    if not mig:
        return CheckResult("gpu-mig", title, "pass", "no GPU in MIG mode", required)
    found = f"MIG on for {len(mig)} of {len(gpus)} GPUs"
    if settings.enabled and settings.mig_strategy == "none":
        return CheckResult("gpu-mig", title, "warn", found, required,
                           "Set gpu_operator.mig_strategy: single (all GPUs sliced alike) or mixed.")
    return CheckResult("gpu-mig", title, "pass", found, required,
                       "The GPU Operator keeps this MIG layout (its mig-manager stays off): recreate the MIG "
                       "instances after a reboot as you do today (the operator does not).")


def check_gpu_catalog(gpus: tuple[GpuInfo, ...], settings: GpuOperatorSettings,
                      images: Iterable[NotebookImage]) -> CheckResult:
    """A catalog entry asking for more ``nvidia.com/gpu`` than this node advertises stays Pending for ever.

    The node advertises one per GPU (none without the GPU Operator). With MIG and a
    MIG strategy the device plugin advertises slices instead, which the host probe
    does not count: then only entries asking for GPUs without the operator are named.
    """
    title = "GPUs per catalog entry"
    mig = settings.enabled and settings.mig_strategy != "none" and any(g.mig == "Enabled" for g in gpus)
    have = len(gpus) if settings.enabled else 0
    asking = [i for i in images if i.enabled and i.gpus]
    required = f"at most {have} GPU(s) per entry (what this node advertises)"
    if mig:
        return CheckResult("gpu-catalog", title, "pass", "MIG slices (counted by the device plugin)",
                           "entries fit the MIG slices the node advertises")
    too_many = [i for i in asking if i.gpus > have]
    if not too_many:
        found = ", ".join(f"{i.name}: {i.gpus}" for i in asking) or "no entry asks for GPUs"
        return CheckResult("gpu-catalog", title, "pass", found, required)
    found = ", ".join(f"{i.name} asks for {i.gpus}" for i in too_many)
    why = f"this node has {have} GPU(s)" if settings.enabled else "the GPU Operator is off, so no GPU is advertised"
    return CheckResult("gpu-catalog", title, "warn", found, required,
                       f"A server from {', '.join(i.name for i in too_many)} would stay Pending for ever: {why}. "
                       "Lower jupyterhub.images[].gpus, or set enabled: false on the entry.")


def describe_port(port: IbPort) -> str:
    """``mlx5_0/1 ACTIVE 400 Gb/s InfiniBand (ib0)``."""
    rate = f" {port.rate_gbps:g} Gb/s" if port.rate_gbps is not None else ""
    netdevs = f" ({', '.join(port.netdevs)})" if port.netdevs else ""
    state = port.state if port.active else f"{port.state}/{port.phys_state}"
    return f"{port.device}/{port.port} {state}{rate} {port.link_layer}{netdevs}"


def check_rdma(ports: tuple[IbPort, ...], settings: RdmaSettings) -> CheckResult:
    """The RDMA plugin needs an active port that its selectors match."""
    title = "InfiniBand / RoCE"
    active = [p for p in ports if p.active]
    found = "; ".join(describe_port(p) for p in ports) if ports else "no RDMA device"
    if not settings.enabled:
        hint = "Active ports found: set rdma.enabled: true to give notebooks RDMA." if active else ""
        return CheckResult("rdma", title, "pass", found, "none (RDMA plugin off)", hint)
    required = "an active InfiniBand or RoCE port (rdma.enabled is true)"
    if not active:
        return CheckResult("rdma", title, "fail", found, required,
                           "Set rdma.enabled: false, or bring a port up: check the cable and, for InfiniBand, "
                           "that a subnet manager runs (opensm or the switch's).")
    active_netdevs = {n for p in active for n in p.netdevs}
    unknown = [name for name in settings.interfaces if name not in active_netdevs]
    if unknown:
        return CheckResult("rdma", title, "fail", found, f"rdma.interfaces on active ports: {', '.join(unknown)}",
                           f"Active port interfaces are {', '.join(sorted(active_netdevs)) or 'none'}; fix "
                           "rdma.interfaces or leave it empty to use them all.")
    vendors = {p.vendor_id for p in active if p.vendor_id}
    if settings.vendors and vendors and not vendors & set(settings.vendors):
        return CheckResult("rdma", title, "fail", found, f"an active port from vendor {', '.join(settings.vendors)}",
                           f"Active ports are from vendor {', '.join(sorted(vendors))}: fix rdma.vendors, or the "
                           "plugin advertises no device.")
    kinds = {LINK_TYPES.get(p.link_layer) for p in active}
    if settings.link_types and not kinds & set(settings.link_types):
        return CheckResult("rdma", title, "fail", found, f"an active {'/'.join(settings.link_types)} port",
                           f"Active ports are {', '.join(sorted(k or 'unknown' for k in kinds))}: fix "
                           "rdma.link_types or leave it empty.")
    return CheckResult("rdma", title, "pass", found, required)


def check_gpudirect(facts: HostFacts, gpu: GpuOperatorSettings, rdma: RdmaSettings) -> CheckResult:
    """GPUDirect RDMA (NIC <-> GPU memory) with the host driver needs ``nvidia_peermem`` or DMA-BUF.

    Without either, NCCL still works but copies every transfer through host memory. The
    operator loads ``nvidia_peermem`` only in its own driver container, and only with
    ``driver.rdma.enabled`` (gpu-operator@v25.3.4 ``controllers/object_controls.go`` drops the
    ``nvidia-peermem`` sidecar otherwise), which these values do not set.
    """
    title = "GPUDirect RDMA"
    required = "nvidia_peermem loaded, or DMA-BUF (open kernel module)"
    if not (gpu.enabled and rdma.enabled and facts.gpus):
        return CheckResult("gpudirect", title, "pass", "not needed (GPUs and RDMA are not both used)", required)
    if not use_host_driver(gpu, facts.host_driver):
        return CheckResult("gpudirect", title, "warn", "driver container without driver.rdma.enabled", required,
                           "The operator's driver container does not load nvidia_peermem here: GPU data between "
                           "nodes goes through host memory. Install the driver on the host and load nvidia_peermem.")
    if facts.nvidia_peermem:
        return CheckResult("gpudirect", title, "pass", "nvidia_peermem loaded", required)
    kind = "open kernel module: DMA-BUF may work" if facts.nvidia_open_module else "proprietary kernel module"
    return CheckResult("gpudirect", title, "warn", f"nvidia_peermem not loaded ({kind})", required,
                       "Load it now and at boot: `modprobe nvidia_peermem` and a line `nvidia_peermem` in "
                       "/etc/modules-load.d/nvidia-peermem.conf (it comes with the driver and needs the RDMA stack "
                       "loaded first). Otherwise NCCL copies GPU data through host memory, unless DMA-BUF works "
                       "(open kernel module only).")


# --- all together ------------------------------------------------------------------------


TIME_SLICING_SANE: Final = 16
"""More servers than this on one time-sliced GPU each get a sliver of its time and contend for its memory."""


def check_gpu_sharing(gpus: tuple[GpuInfo, ...], settings: GpuOperatorSettings,
                      sharing: GpuSharingSettings) -> CheckResult:
    """Sharing needs the GPU Operator and a GPU; HAMi needs the toolkit and no MIG on the GPUs it shares.

    HAMi's device plugin replaces the operator's and its ``libvgpu.so`` runs inside the
    containers through the NVIDIA runtime the toolkit makes containerd's default (HAMi
    README prerequisites); it slices whole GPUs, not MIG instances here (its MIG mode needs
    its own ``mig-parted`` geometry config, which this installer does not write).
    """
    title, mode = "GPU sharing", sharing.mode
    required = {"none": "nothing (gpu_sharing.mode: none)",
                "time-slicing": f"the GPU Operator and a GPU; at most {TIME_SLICING_SANE} replicas per GPU",
                "hami": "the GPU Operator with its toolkit, a GPU, no GPU in MIG mode"}[mode]
    if mode == "none":
        return CheckResult("gpu-sharing", title, "pass", "no sharing", required)
    found = f"{mode} on {describe_gpus(gpus)}"
    if not settings.enabled or not gpus:
        why = "the GPU Operator is off" if not settings.enabled else "no NVIDIA GPU was found"
        return CheckResult("gpu-sharing", title, "fail", found + f" ({why})", required,
                           "Set gpu_operator.enabled: true on a host with NVIDIA GPUs, or gpu_sharing.mode: none.")
    if mode == "hami":
        mig = [g for g in gpus if g.mig == "Enabled"]
        if mig:
            return CheckResult("gpu-sharing", title, "fail", f"{found}; MIG on for {len(mig)} of them", required,
                               "HAMi cannot share GPUs in MIG mode: turn MIG off on them (`nvidia-smi -mig 0`, "
                               "then reboot or reset the GPUs), or keep MIG with gpu_sharing.mode: none.")
        if not settings.toolkit:
            return CheckResult("gpu-sharing", title, "fail", found + " (gpu_operator.toolkit is false)", required,
                               "HAMi needs the NVIDIA container toolkit as containerd's default runtime: set "
                               "gpu_operator.toolkit: true.")
        return CheckResult("gpu-sharing", title, "pass", found + f", up to {sharing.hami_split_count} per GPU",
                           required)
    found += f", {sharing.replicas} servers per GPU"
    if sharing.replicas > TIME_SLICING_SANE:
        return CheckResult("gpu-sharing", title, "warn", found, required,
                           f"{sharing.replicas} servers take turns on each GPU with no memory isolation: one can "
                           "exhaust the GPU's memory for the others. Lower gpu_sharing.replicas, or use "
                           "gpu_sharing.mode: hami to give each a memory slice.")
    return CheckResult("gpu-sharing", title, "pass", found, required)


def run_checks(facts: HostFacts, profile: Profile, *, bundle_bytes: int | None = None,
               bundle_has_snaps: bool = False, imported_bytes: int | None = 0) -> list[CheckResult]:
    """Every check, in :data:`CHECK_IDS` order.

    Args:
        facts: what the probes found.
        profile: thresholds and the components turned on.
        bundle_bytes: total size of the bundle's image files (``None``: unknown).
        bundle_has_snaps: the bundle holds the MicroK8s snaps.
        imported_bytes: the part of ``bundle_bytes`` containerd already holds (``None``: unknown).
    """
    system = facts.system
    gpu_settings, rdma_settings = profile.gpu_operator, profile.rdma
    results = [
        check_root(system),
        check_os(system),
        check_arch(system),
        check_cpu(system),
        check_memory(system, profile.preflight.min_memory_gib),
        check_disk_containerd(facts.disk("containerd"), bundle_bytes, profile.preflight.disk_headroom_gib,
                              imported_bytes),
        check_disk_snapd(facts.disk("snapd"), system.microk8s_installed),
        check_snapd(system),
        check_microk8s(system, install_snaps=profile.microk8s.install_snaps, bundle_has_snaps=bundle_has_snaps),
        check_ports(system, needed_ports(profile)),
        check_default_route(system, add_default_route=profile.microk8s.add_default_route),
        check_kubelet_dir(system, device_plugins=gpu_settings.enabled or rdma_settings.enabled),
        check_docker(system, gpu_operator=gpu_settings.enabled and gpu_settings.toolkit,
                     toolkit_guarded=toolkit_guards_host_containerd(
                         known_images(gpu_settings.version).get("toolkit", ""))),
        check_gpu(facts.gpus, gpu_settings),
        check_gpu_driver(facts.gpus, facts.host_driver, gpu_settings),
        check_gpu_mig(facts.gpus, gpu_settings),
        check_gpu_catalog(facts.gpus, gpu_settings, profile.jupyterhub.images),
        check_gpu_sharing(facts.gpus, gpu_settings, profile.gpu_sharing),
        check_rdma(facts.infiniband, rdma_settings),
        check_gpudirect(facts, gpu_settings, rdma_settings),
    ]
    trust = profile.bundle_trust()
    if trust is not None:
        results.append(check_ssh_keygen(system, trust))
    return results


def check_ssh_keygen(system: SystemInfo, trust: Path) -> CheckResult:
    """A trust file makes the bundle check verify the bundle's signature with ``ssh-keygen -Y verify``."""
    title, required = "ssh-keygen (signed bundle)", f"ssh-keygen, to check the bundle's signature against {trust}"
    if system.ssh_keygen is not False:
        return CheckResult("ssh-keygen", title, "pass", "present" if system.ssh_keygen else "not asked", required)
    return CheckResult("ssh-keygen", title, "fail", "not installed", required,
                       "Install openssh-client (Ubuntu has it by default; `apt install openssh-client` from a "
                       "local mirror), or remove bundle.trust from the profile to install an unchecked bundle.")
