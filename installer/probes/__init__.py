"""Host probes: read a machine (or a copy of its ``/sys`` and ``/proc``) into :class:`HostFacts`.

Probes only read. On the live host (root ``/``) they may run read-only commands
(``nvidia-smi``, ``microk8s status``) through the command runner; under any other
root they read files only, so tests and support cases never touch this machine.
See :mod:`installer.probes.hostfs` for the recorded outputs a copied tree may carry.
"""

from __future__ import annotations

from pathlib import Path

from installer.engine.commands import CommandRunner
from installer.probes.disk import probe_disks
from installer.probes.gpu import open_kernel_module, peermem_loaded, probe_gpus
from installer.probes.hostfs import HostFS
from installer.probes.infiniband import probe_infiniband
from installer.probes.model import DiskInfo, GpuInfo, HostFacts, IbPort, SystemInfo
from installer.probes.system import probe_system

__all__ = ["DiskInfo", "GpuInfo", "HostFS", "HostFacts", "IbPort", "SystemInfo", "probe_host"]


def probe_host(runner: CommandRunner, host_root: Path = Path("/"), bundle_dir: Path | None = None) -> HostFacts:
    """Everything preflight needs to know about the host under ``host_root``."""
    fs = HostFS(host_root)
    scan = probe_gpus(runner, fs)
    return HostFacts(
        gpus=scan.gpus,
        host_driver=scan.host_driver,
        infiniband=probe_infiniband(fs),
        system=probe_system(runner, fs),
        disks=probe_disks(fs, bundle_dir),
        host_root=str(host_root),
        nvidia_peermem=peermem_loaded(fs),
        nvidia_open_module=open_kernel_module(fs),
    )
