"""InfiniBand and RoCE ports, read from ``/sys/class/infiniband`` (no ``ibstat`` needed).

File formats (drivers/infiniband/core/sysfs.c): ``state`` and ``phys_state`` are
``"4: ACTIVE"`` / ``"5: LinkUp"``; ``rate`` is ``"400 Gb/sec (4X NDR)"``;
``link_layer`` is ``InfiniBand``, ``Ethernet`` (RoCE) or ``Unknown``. The network
interfaces of a device are the entries of ``<dev>/device/net``; on a multi-port
card each one's ``dev_port`` (0-based) says which port it belongs to.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Final

from installer.probes.hostfs import HostFS
from installer.probes.model import IbPort, LinkLayer

_LOGGER: Final = logging.getLogger(__name__)

IB_CLASS: Final = "/sys/class/infiniband"
_RATE_RE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*Gb/sec")


def parse_state(text: str | None) -> str:
    """``"4: ACTIVE"`` -> ``"ACTIVE"``; ``"UNKNOWN"`` when absent."""
    if not text:
        return "UNKNOWN"
    _, sep, name = text.partition(":")
    return (name if sep else text).strip() or "UNKNOWN"


def parse_rate(text: str | None) -> float | None:
    """``"400 Gb/sec (4X NDR)"`` -> ``400.0``; ``"2.5 Gb/sec (1X SDR)"`` -> ``2.5``."""
    match = _RATE_RE.match(text or "")
    return float(match.group(1)) if match else None


def _link_layer(text: str | None) -> LinkLayer:
    if text == "InfiniBand":
        return "InfiniBand"
    if text == "Ethernet":
        return "Ethernet"
    return "Unknown"


def _hex_id(fs: HostFS, path: Path) -> str | None:
    value = fs.read(path)
    return value.removeprefix("0x").lower() if value else None


def _netdevs_by_port(fs: HostFS, device_dir: Path, port_count: int) -> dict[int, tuple[str, ...]]:
    """Interface names per port number. An interface without ``dev_port`` belongs to every port."""
    net = device_dir / "device" / "net"
    if not net.is_dir():
        return {}
    by_port: dict[int, list[str]] = {}
    for netdev in sorted(net.iterdir()):
        dev_port = fs.read(netdev / "dev_port")
        ports = [int(dev_port) + 1] if dev_port and dev_port.isdigit() and port_count > 1 else None
        for port in ports or range(1, port_count + 1):
            by_port.setdefault(port, []).append(netdev.name)
    return {port: tuple(names) for port, names in by_port.items()}


def probe_infiniband(fs: HostFS) -> tuple[IbPort, ...]:
    """Every port of every RDMA device, ordered by device then port."""
    folder = fs.path(IB_CLASS)
    if not folder.is_dir():
        return ()
    ports: list[IbPort] = []
    for device_dir in sorted(folder.iterdir()):
        ports_dir = device_dir / "ports"
        if not ports_dir.is_dir():
            _LOGGER.debug("%s has no ports folder", device_dir)
            continue
        numbers = sorted(int(p.name) for p in ports_dir.iterdir() if p.name.isdigit())
        netdevs = _netdevs_by_port(fs, device_dir, len(numbers))
        vendor = _hex_id(fs, device_dir / "device" / "vendor")
        device_id = _hex_id(fs, device_dir / "device" / "device")
        driver = fs.link_name(device_dir / "device" / "driver")
        for number in numbers:
            port_dir = ports_dir / str(number)
            ports.append(IbPort(
                device=device_dir.name,
                port=number,
                state=parse_state(fs.read(port_dir / "state")),
                phys_state=parse_state(fs.read(port_dir / "phys_state")),
                rate_gbps=parse_rate(fs.read(port_dir / "rate")),
                link_layer=_link_layer(fs.read(port_dir / "link_layer")),
                netdevs=netdevs.get(number, ()),
                vendor_id=vendor,
                device_id=device_id,
                driver=driver,
            ))
    return tuple(ports)
