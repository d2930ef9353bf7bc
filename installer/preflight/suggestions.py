"""What the hardware suggests turning on, with settings filled from what was found.

The wizard pre-selects components from these; headless runs print them. A GPU
suggests the GPU Operator (with the host driver when one is loaded); an active
InfiniBand or RoCE port suggests the RDMA shared device plugin, with its device
selectors taken from the active ports so the plugin's capacity is not 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from installer.components.rdma.manifests import detected_selectors
from installer.preflight.checks import describe_gpus, describe_port
from installer.probes.model import HostFacts, IbPort


@dataclass(frozen=True)
class Suggestion:
    """One optional component and whether the hardware calls for it."""

    component: str
    """Profile section name: ``gpu_operator``, ``rdma``."""
    suggested: bool
    reason: str
    settings: dict[str, Any] = field(default_factory=dict)
    """Profile keys of that section to set when turning it on."""
    selectors: dict[str, list[str]] = field(default_factory=dict)
    """For ``rdma``: the plugin's device selectors for the active ports (what empty
    ``rdma.interfaces``/``rdma.link_types`` resolve to on this host)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {"component": self.component, "suggested": self.suggested, "reason": self.reason,
                                "settings": self.settings}
        if self.selectors:
            data["selectors"] = self.selectors
        return data


def rdma_selectors(ports: Iterable[IbPort]) -> dict[str, list[str]]:
    """The plugin's ``selectors`` the active ports among ``ports`` offer (``rdma.manifests.detected_selectors``).

    ``vendors``, ``deviceIDs`` and ``drivers`` are shown as found on the hardware; the
    plugin's config writes the profile's ``rdma.vendors`` and the ``ifNames``/``linkTypes``
    shown here (see ``rdma.manifests.selectors``).
    """
    return detected_selectors(ports)


def suggest_gpu_operator(facts: HostFacts) -> Suggestion:
    """The GPU Operator when there is a GPU; the host driver is used when present."""
    if not facts.gpus:
        return Suggestion("gpu_operator", False, "no NVIDIA GPU found")
    driver = "host" if facts.host_driver else "operator"
    settings: dict[str, Any] = {"enabled": True, "driver": driver}
    reason = describe_gpus(facts.gpus) + (f", host driver {facts.host_driver}" if facts.host_driver
                                          else ", no host driver (the operator would run the driver container)")
    if any(g.mig == "Enabled" for g in facts.gpus):
        settings["mig_strategy"] = "mixed" if any(g.mig != "Enabled" for g in facts.gpus) else "single"
    return Suggestion("gpu_operator", True, reason, settings)


def suggest_rdma(facts: HostFacts) -> Suggestion:
    """The RDMA plugin when a port is active, its selectors filled from the active ports."""
    active = facts.active_ports
    if not active:
        reason = "no active InfiniBand/RoCE port" + (f" ({len(facts.infiniband)} down)" if facts.infiniband else "")
        return Suggestion("rdma", False, reason)
    # interfaces/link_types stay empty in the profile ("as detected"), so a saved profile
    # replays on a server whose interfaces are named differently.
    return Suggestion("rdma", True, "; ".join(describe_port(p) for p in active), {"enabled": True},
                      rdma_selectors(active))


def suggest(facts: HostFacts) -> list[Suggestion]:
    """Suggestions for every optional component, in install order."""
    return [suggest_gpu_operator(facts), suggest_rdma(facts)]
