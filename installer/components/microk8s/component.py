"""The MicroK8s component: the Kubernetes base every other component runs on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from installer.components.base import Component, PhasedSteps, StepInputs
from installer.components.microk8s import artifacts
from installer.components.microk8s.settings import MicroK8sSettings

if TYPE_CHECKING:
    from installer.config.profile import Profile


def _steps(profile: Profile, inputs: StepInputs) -> PhasedSteps:
    """Snaps on the host (when asked); in the cluster phase the node made Ready, DNS and storage."""
    from installer.components.microk8s.steps import (
        DefaultRouteStep,
        DnsAddonStep,
        HostpathStorageStep,
        InstallSnapsStep,
        KubeletDirStep,
        WaitReadyStep,
    )

    settings = COMPONENT.section(profile)
    host = [InstallSnapsStep(inputs.bundle_dir, settings.channel)] if settings.install_snaps else []
    # The route and the kubelet fix before wait-ready: see the notes in components.plan.
    cluster = [DefaultRouteStep(), KubeletDirStep(), WaitReadyStep(), DnsAddonStep(), HostpathStorageStep()]
    return PhasedSteps(host=host, cluster=cluster)


COMPONENT: Final = Component(
    key="microk8s", title="MicroK8s", settings=MicroK8sSettings, doc="MicroK8s base.",
    summary="the Kubernetes base (installed from the bundle's snaps when absent)",
    images=artifacts.required_images, charts=artifacts.required_charts, snaps=artifacts.required_snaps,
    steps=_steps,
)
