"""The RDMA shared device plugin component (optional): ``rdma/<resource>`` on the node."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from installer.components.base import Component, PhasedSteps, ReviewFile, StepInputs, Suggestion
from installer.components.rdma import artifacts
from installer.components.rdma.settings import RdmaSettings

if TYPE_CHECKING:
    from installer.config.profile import Profile
    from installer.probes.model import HostFacts, IbPort


def _steps(profile: Profile, inputs: StepInputs) -> PhasedSteps:
    """Unlimited locked memory for containerd, the plugin, then the wait for its resource."""
    from installer.components.rdma.steps import ContainerdMemlockStep, RdmaPluginStep, RdmaWaitStep

    settings = COMPONENT.section(profile)
    return PhasedSteps(cluster=[ContainerdMemlockStep(),
                                RdmaPluginStep(inputs.bundle_dir, settings, images=inputs.images),
                                RdmaWaitStep(settings, poll_interval=inputs.poll_interval)])


def _review_files(profile: Profile, facts: HostFacts) -> list[ReviewFile]:
    """The plugin's ConfigMap and DaemonSet for this host's ports."""
    from installer.components.rdma.manifests import rdma_manifests
    from installer.components.rdma.steps import MANIFEST_FILE, plugin_image

    settings = COMPONENT.section(profile)
    text = rdma_manifests(settings, facts.infiniband, plugin_image(settings, profile.bundle_dir()))
    return [ReviewFile(MANIFEST_FILE, text, 0o644)]


def rdma_selectors(ports: Iterable[IbPort]) -> dict[str, list[str]]:
    """The plugin's ``selectors`` the active ports among ``ports`` offer (``rdma.manifests.detected_selectors``).

    ``vendors``, ``deviceIDs`` and ``drivers`` are shown as found on the hardware; the
    plugin's config writes the profile's ``rdma.vendors`` and the ``ifNames``/``linkTypes``
    shown here (see ``rdma.manifests.selectors``).
    """
    from installer.components.rdma.manifests import detected_selectors

    return detected_selectors(ports)


def suggest_rdma(facts: HostFacts) -> Suggestion:
    """The RDMA plugin when a port is active, its selectors filled from the active ports."""
    from installer.preflight.checks import describe_port

    active = facts.active_ports
    if not active:
        reason = "no active InfiniBand/RoCE port" + (f" ({len(facts.infiniband)} down)" if facts.infiniband else "")
        return Suggestion("rdma", False, reason)
    # interfaces/link_types stay empty in the profile ("as detected"), so a saved profile
    # replays on a server whose interfaces are named differently.
    return Suggestion("rdma", True, "; ".join(describe_port(p) for p in active), {"enabled": True},
                      rdma_selectors(active))


COMPONENT: Final = Component(
    key="rdma", title="RDMA shared device plugin", short="RDMA plugin", settings=RdmaSettings,
    doc="RDMA shared device plugin (optional).", summary="rdma/<resource> on the node", optional=True,
    images=artifacts.required_images, charts=artifacts.required_charts, snaps=artifacts.required_snaps,
    steps=_steps, review_files=_review_files, suggest=suggest_rdma,
)
