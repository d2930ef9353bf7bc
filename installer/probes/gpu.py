"""NVIDIA GPUs, from the best source available on the host.

Three sources, merged by PCI address so each GPU appears once:

1. ``nvidia-smi`` (live host only; or a recorded CSV inside a copied tree): name,
   UUID, memory, driver version, MIG mode.
2. ``/proc/driver/nvidia``: present whenever the kernel module is loaded, even
   without the user-space tools; ``version`` gives the driver version.
3. The PCI tree in sysfs: sees GPUs with no driver at all (the GPU Operator's
   driver container case). Vendor ``0x10de`` with class ``0x0300`` (VGA) or
   ``0x0302`` (3D controller); NVSwitch bridges (class ``0x0680``) are not GPUs.

A host driver is "present" when ``/proc/driver/nvidia/version`` exists or
``nvidia-smi`` answers: the same test the GPU Operator's validator applies.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Final, NamedTuple

from installer.engine.commands import CommandRunner
from installer.probes.hostfs import HostFS
from installer.probes.model import GpuInfo

_LOGGER: Final = logging.getLogger(__name__)

NVIDIA_VENDOR: Final = "0x10de"
GPU_CLASSES: Final = ("0x0300", "0x0302")
"""PCI class prefixes of display controllers: VGA and 3D controller (data-centre GPUs)."""
SMI_FIELDS: Final = "index,name,uuid,memory.total,driver_version,pci.bus_id,mig.mode.current"
SMI_FIELDS_NO_MIG: Final = "index,name,uuid,memory.total,driver_version,pci.bus_id"
"""Older drivers reject ``mig.mode.current``; the query is retried without it."""
SMI_TIMEOUT: Final = 30.0
"""nvidia-smi can take several seconds on eight GPUs without persistence mode."""
RECORDED_SMI: Final = "nvidia-smi.csv"

KNOWN_DEVICES: Final = {
    "2330": "NVIDIA H100 SXM5 80GB",
    "2331": "NVIDIA H100 PCIe",
    "20b0": "NVIDIA A100 SXM4 40GB",
    "20b2": "NVIDIA A100 SXM4 80GB",
    "20b5": "NVIDIA A100 PCIe 80GB",
    "20f1": "NVIDIA A100 PCIe 40GB",
    "20b7": "NVIDIA A30",
    "26b5": "NVIDIA L40",
    "26b9": "NVIDIA L40S",
    "27b8": "NVIDIA L4",
    "1eb8": "NVIDIA Tesla T4",
    "1db4": "NVIDIA Tesla V100 PCIe 16GB",
    "1db1": "NVIDIA Tesla V100 SXM2 16GB",
}
"""Names for PCI-only GPUs when the host has no ``pci.ids`` (hwdata) file."""
PCI_IDS_FILES: Final = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids")

_VERSION_RE: Final = re.compile(r"Kernel Module\b.*?\s(\d+\.\d+(?:\.\d+)*)\s")
_MISSING: Final = frozenset({"", "[N/A]", "N/A", "[Not Supported]", "[Unknown Error]"})


PEERMEM_MODULE: Final = "/sys/module/nvidia_peermem"
"""Present while the driver's GPUDirect RDMA module is loaded."""
OPEN_MODULE_MARK: Final = "Open Kernel Module"
"""How ``/proc/driver/nvidia/version`` names the open kernel module (the one DMA-BUF needs)."""


def peermem_loaded(fs: HostFS) -> bool:
    """``nvidia_peermem`` is loaded: the RDMA NIC may read and write GPU memory."""
    return fs.exists(PEERMEM_MODULE)


def open_kernel_module(fs: HostFS) -> bool:
    """The loaded NVIDIA driver is the open kernel module."""
    return OPEN_MODULE_MARK in (fs.read("/proc/driver/nvidia/version") or "")


class GpuScan(NamedTuple):
    """The GPUs found and the host driver version (``None``: no host driver)."""

    gpus: tuple[GpuInfo, ...]
    host_driver: str | None


def normalise_pci_address(address: str) -> str:
    """``00000000:3B:00.0`` -> ``0000:3b:00.0`` (sysfs and procfs use a 4-digit domain)."""
    address = address.strip().lower()
    parts = address.split(":")
    if len(parts) == 3:
        try:
            return f"{int(parts[0], 16):04x}:{parts[1]}:{parts[2]}"
        except ValueError:
            return address
    if len(parts) == 2:  # "3b:00.0" without a domain
        return f"0000:{address}"
    return address


def _value(field: str) -> str | None:
    field = field.strip()
    return None if field in _MISSING else field


def parse_nvidia_smi_csv(text: str) -> list[GpuInfo]:
    """Rows of ``nvidia-smi --query-gpu=<SMI_FIELDS> --format=csv,noheader,nounits``.

    Unparseable rows are logged and skipped rather than failing the whole probe:
    the output format is not guaranteed across driver versions.
    """
    gpus: list[GpuInfo] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6:
            _LOGGER.warning("ignoring an nvidia-smi line with %d fields: %r", len(fields), line)
            continue
        _index, name, uuid, memory, driver, bus_id = fields[:6]
        mig = _value(fields[6]) if len(fields) > 6 else None
        memory_value = _value(memory)
        try:
            memory_mib = int(float(memory_value)) if memory_value else None
        except ValueError:
            memory_mib = None
        gpus.append(GpuInfo(pci_address=normalise_pci_address(bus_id), name=name, memory_mib=memory_mib,
                            driver_version=_value(driver), uuid=_value(uuid),
                            mig=mig if mig in ("Enabled", "Disabled") else None, source="nvidia-smi"))
    return gpus


def _run_nvidia_smi(runner: CommandRunner) -> str | None:
    """The CSV from the live host's nvidia-smi, or None when it is absent or fails."""
    if runner.which("nvidia-smi") is None:
        return None
    for fields in (SMI_FIELDS, SMI_FIELDS_NO_MIG):
        result = runner.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                            timeout=SMI_TIMEOUT, check=False, mutates=False)
        if result.ok:
            return result.stdout
        _LOGGER.debug("nvidia-smi failed (%s): %s", result.returncode, result.stderr.strip() or result.stdout.strip())
    return None


def parse_driver_version(text: str) -> str | None:
    """The version in ``/proc/driver/nvidia/version`` (proprietary and open modules)."""
    first = text.splitlines()[0] if text else ""
    match = _VERSION_RE.search(first + " ")
    return match.group(1) if match else None


def parse_information(text: str) -> dict[str, str]:
    """``Key: \\t value`` lines of ``/proc/driver/nvidia/gpus/<addr>/information``."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    return info


def _procfs_gpus(fs: HostFS, driver: str | None) -> list[GpuInfo]:
    folder = fs.path("/proc/driver/nvidia/gpus")
    if not folder.is_dir():
        return []
    gpus = []
    for entry in sorted(folder.iterdir()):
        text = fs.read(entry / "information")
        if text is None:
            continue
        info = parse_information(text)
        uuid = info.get("GPU UUID")
        gpus.append(GpuInfo(
            pci_address=normalise_pci_address(info.get("Bus Location") or entry.name),
            name=info.get("Model") or "NVIDIA GPU",
            driver_version=driver,
            uuid=uuid if uuid and "?" not in uuid else None,  # non-root reads show GPU-????????
            source="procfs",
        ))
    return gpus


def _pci_ids_names(fs: HostFS) -> dict[str, str]:
    """NVIDIA device names from the host's ``pci.ids`` when it has one."""
    for candidate in PCI_IDS_FILES:
        path = fs.path(candidate)
        if not path.is_file():
            continue
        names: dict[str, str] = {}
        inside = False
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("10de "):
                    inside = True
                elif inside and line.startswith("\t") and not line.startswith("\t\t"):
                    device, _, name = line.strip().partition("  ")
                    names[device.lower()] = f"NVIDIA {name.strip()}"
                elif inside and line.strip() and not line.startswith(("\t", "#")):
                    break
        return names
    return {}


def _sysfs_gpus(fs: HostFS) -> list[GpuInfo]:
    folder = fs.path("/sys/bus/pci/devices")
    if not folder.is_dir():
        return []
    found: list[tuple[str, str]] = []
    for entry in sorted(folder.iterdir()):
        if fs.read(entry / "vendor") != NVIDIA_VENDOR:
            continue
        pci_class = fs.read(entry / "class") or ""
        if not pci_class.startswith(GPU_CLASSES):
            continue  # NVSwitch (0x0680), audio functions (0x0403) and the like
        device_id = (fs.read(entry / "device") or "").removeprefix("0x").lower()
        found.append((entry.name, device_id))
    names = _pci_ids_names(fs) if any(d not in KNOWN_DEVICES for _, d in found) else {}
    return [GpuInfo(pci_address=normalise_pci_address(address),
                    name=KNOWN_DEVICES.get(device_id) or names.get(device_id) or f"NVIDIA GPU [10de:{device_id}]",
                    source="sysfs", pci_device_id=device_id or None)
            for address, device_id in found]


def probe_gpus(runner: CommandRunner, fs: HostFS) -> GpuScan:
    """Every NVIDIA GPU on the host, each from its best source, ordered by PCI address."""
    proc_version = fs.read("/proc/driver/nvidia/version")
    proc_driver = parse_driver_version(proc_version) if proc_version else None
    smi_text = _run_nvidia_smi(runner) if fs.live else fs.recorded(RECORDED_SMI)
    smi_gpus = parse_nvidia_smi_csv(smi_text) if smi_text else []

    merged: dict[str, GpuInfo] = {g.pci_address: g for g in _sysfs_gpus(fs)}
    for gpu in [*_procfs_gpus(fs, proc_driver), *smi_gpus]:
        previous = merged.get(gpu.pci_address)
        device_id = gpu.pci_device_id or (previous.pci_device_id if previous else None)
        merged[gpu.pci_address] = dataclasses.replace(gpu, pci_device_id=device_id)

    smi_driver = next((g.driver_version for g in smi_gpus if g.driver_version), None)
    host_driver = smi_driver or proc_driver
    if proc_version is not None and host_driver is None:
        host_driver = "unknown"  # the module is loaded but its version line is unusual
    return GpuScan(tuple(merged[a] for a in sorted(merged)), host_driver)
