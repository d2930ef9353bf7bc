"""The hardware preflight found: each GPU with memory and driver, each InfiniBand port."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.markup import escape
from textual.widgets import Static

if TYPE_CHECKING:
    from installer.probes.model import HostFacts


def describe_hardware(facts: HostFacts | None) -> str:
    """Markup listing GPUs and InfiniBand/RoCE ports (one line each, grouped when identical)."""
    if facts is None:
        return "Hardware: not probed yet"
    lines = ["[b]GPUs[/b]"]
    if not facts.gpus:
        lines.append("  none found (no NVIDIA device on the PCI bus)")
    groups: dict[str, int] = {}
    for gpu in facts.gpus:
        memory = f"{gpu.memory_mib / 1024:.0f} GiB" if gpu.memory_mib else "memory ?"
        driver = f"driver {gpu.driver_version}" if gpu.driver_version else "no driver"
        mig = f", MIG {gpu.mig.lower()}" if gpu.mig else ""
        line = f"{gpu.name} · {memory} · {driver}{mig}"
        groups[line] = groups.get(line, 0) + 1
    for line, count in groups.items():
        lines.append(f"  {count} × {escape(line)}" if count > 1 else f"  {escape(line)}")
    if facts.gpus:
        lines.append(f"  host driver: {facts.host_driver or 'none (the GPU Operator would have to bring one)'}")
    lines.append("[b]InfiniBand / RoCE[/b]")
    if not facts.infiniband:
        lines.append("  none found (/sys/class/infiniband is empty)")
    for port in facts.infiniband:
        rate = f"{port.rate_gbps:g} Gb/s" if port.rate_gbps else "rate ?"
        nets = f" ({', '.join(port.netdevs)})" if port.netdevs else ""
        down = f"[yellow]{escape(port.state)}/{escape(port.phys_state)}[/yellow]"
        state = "[green]ACTIVE[/green]" if port.active else down
        lines.append(f"  {escape(port.device)} port {port.port}{escape(nets)} · {state} · {rate} · {port.link_layer}")
    system = facts.system
    lines.append("[b]System[/b]")
    lines.append(f"  {escape(system.os_pretty or system.os_id + ' ' + system.os_version)} · {system.cpu_count} CPUs · "
                 f"{system.memory_bytes / 2**30:.0f} GiB RAM · MicroK8s "
                 + (escape(system.microk8s_version or "installed") if system.microk8s_installed else "not installed"))
    return "\n".join(lines)


class HardwarePanel(Static):
    """Shows :func:`describe_hardware` for the facts it is given."""

    def show(self, facts: HostFacts | None) -> None:
        """Render ``facts``."""
        self.update(describe_hardware(facts))
