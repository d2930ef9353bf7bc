"""What the probes found on a host: plain frozen data, with ``to_dict()`` for JSON.

Probes never decide anything; checks (:mod:`installer.preflight.checks`) and
suggestions read these records. Keeping the facts as plain data is what lets a
support case replay another machine's ``/sys`` and ``/proc`` and get the same answers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

GpuSource = Literal["nvidia-smi", "procfs", "sysfs"]
LinkLayer = Literal["InfiniBand", "Ethernet", "Unknown"]


def _plain(value: Any) -> Any:
    """JSON-ready form of a dataclass field (tuples become lists, paths strings)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Record:
    """Shared ``to_dict`` for the fact records."""

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        # the ignore below: every subclass is a dataclass
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class GpuInfo(_Record):
    """One NVIDIA GPU. Fields the source cannot tell are ``None``."""

    pci_address: str
    """``0000:19:00.0``: 4-digit domain, lower case (nvidia-smi's 8-digit form is normalised)."""
    name: str
    memory_mib: int | None = None
    driver_version: str | None = None
    uuid: str | None = None
    mig: str | None = None
    """``Enabled``/``Disabled``, or ``None`` when the GPU has no MIG or the source cannot tell."""
    source: GpuSource = "sysfs"
    """The best source that saw this GPU: nvidia-smi > procfs (driver loaded) > sysfs (PCI only)."""
    pci_device_id: str | None = None
    """PCI device id without ``0x`` (``2330`` is an H100 SXM5)."""


@dataclass(frozen=True)
class IbPort(_Record):
    """One port of an InfiniBand or RoCE device under ``/sys/class/infiniband``."""

    device: str
    port: int
    state: str
    """``ACTIVE``, ``DOWN``, ``INIT``, ``ARMED``... (the text after ``4: `` in sysfs)."""
    phys_state: str
    """``LinkUp``, ``Polling``, ``Disabled``..."""
    rate_gbps: float | None
    link_layer: LinkLayer
    netdevs: tuple[str, ...] = ()
    vendor_id: str | None = None
    device_id: str | None = None
    driver: str | None = None

    @property
    def active(self) -> bool:
        """The port can carry traffic: logical state ACTIVE and the physical link up."""
        return self.state == "ACTIVE" and self.phys_state == "LinkUp"

    def to_dict(self) -> dict[str, Any]:
        """The record plus ``active``."""
        return {**super().to_dict(), "active": self.active}


@dataclass(frozen=True)
class SystemInfo(_Record):
    """The operating system, MicroK8s and network basics."""

    os_id: str
    """``ID`` from os-release (``ubuntu``, ``debian``); ``unknown`` when absent."""
    os_version: str
    """``VERSION_ID`` (``22.04``)."""
    kernel: str
    arch: str
    cpu_count: int
    memory_bytes: int
    is_root: bool
    snapd: bool
    microk8s_installed: bool
    microk8s_version: str | None
    microk8s_ready: bool | None
    """``None`` when not asked (not installed, or probing a copied tree)."""
    docker_installed: bool
    default_route: bool
    kubelet_dir_is_real_folder: bool
    """``/var/lib/kubelet`` exists and is not a symlink: MicroK8s then skips its own
    symlink and device plugins (GPU, RDMA) register with the wrong kubelet folder."""
    busy_ports: tuple[int, ...]
    """Every TCP port something listens on (the checks pick the ones the install needs)."""
    os_pretty: str = ""
    """``PRETTY_NAME`` from os-release, for people."""
    host_containerd: tuple[str, ...] = ()
    """``containerd`` programs on the host's PATH (not MicroK8s's, which is in its snap)."""
    ssh_keygen: bool | None = None
    """``ssh-keygen`` is on PATH (needed only to check a signed bundle against a trust file); ``None``: not
    asked (a copied host tree)."""


@dataclass(frozen=True)
class DiskInfo(_Record):
    """Free space on the filesystem that holds ``path``."""

    path: str
    """The folder that matters, as on the host (``/var/snap/microk8s/common``)."""
    mount_point: str
    free_bytes: int
    total_bytes: int
    role: str = ""
    """``containerd`` (MicroK8s's image store), ``snapd`` or ``bundle``."""
    measured_at: str = ""
    """The existing folder actually measured: ``path`` or its nearest existing parent."""


@dataclass(frozen=True)
class HostFacts(_Record):
    """Everything the probes found on one host."""

    gpus: tuple[GpuInfo, ...]
    host_driver: str | None
    """NVIDIA driver version when a host driver is present (decides how the GPU Operator runs)."""
    infiniband: tuple[IbPort, ...]
    system: SystemInfo
    disks: tuple[DiskInfo, ...]
    host_root: str = "/"
    nvidia_peermem: bool = False
    """The ``nvidia_peermem`` module is loaded (GPUDirect RDMA with the host driver)."""
    nvidia_open_module: bool = False
    """The host driver is the open kernel module (GPUDirect RDMA through DMA-BUF is possible)."""

    @property
    def active_ports(self) -> tuple[IbPort, ...]:
        """Ports that can carry RDMA traffic now."""
        return tuple(p for p in self.infiniband if p.active)

    def disk(self, role: str) -> DiskInfo | None:
        """The disk record for ``role`` (``containerd``, ``snapd``, ``bundle``)."""
        return next((d for d in self.disks if d.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        """Nested JSON-ready data."""
        return {
            "gpus": [g.to_dict() for g in self.gpus],
            "host_driver": self.host_driver,
            "infiniband": [p.to_dict() for p in self.infiniband],
            "system": self.system.to_dict(),
            "disks": [d.to_dict() for d in self.disks],
            "host_root": self.host_root,
            "nvidia_peermem": self.nvidia_peermem,
            "nvidia_open_module": self.nvidia_open_module,
        }
