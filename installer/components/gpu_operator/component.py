"""The NVIDIA GPU Operator component (optional): ``nvidia.com/gpu`` on the node."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from installer.components.base import Component, PhasedSteps, ReviewFile, StepInputs, Suggestion
from installer.components.gpu_operator import artifacts
from installer.components.gpu_operator.settings import GpuOperatorSettings

if TYPE_CHECKING:
    from installer.config.profile import Profile
    from installer.probes.model import HostFacts


def _steps(profile: Profile, inputs: StepInputs) -> PhasedSteps:
    """The chart, then the wait for the node's GPUs."""
    from installer.components.gpu_operator.steps import GpuOperatorStep, GpuWaitStep

    settings = COMPONENT.section(profile)
    return PhasedSteps(cluster=[GpuOperatorStep(inputs.bundle_dir, settings, images=inputs.images),
                                GpuWaitStep(settings, poll_interval=inputs.poll_interval)])


def _review_files(profile: Profile, facts: HostFacts) -> list[ReviewFile]:
    """The chart's values for this host's driver and OS."""
    from installer.components.gpu_operator.steps import VALUES_FILE, values_for
    from installer.components.gpu_sharing.values import device_plugin_overrides
    from installer.components.kube import dump_values

    values = values_for(COMPONENT.section(profile), facts.host_driver, profile.bundle_dir(),
                        artifacts.driver_os_tag(facts.system.os_id, facts.system.os_version),
                        device_plugin=device_plugin_overrides(profile))
    return [ReviewFile(VALUES_FILE, dump_values(values), 0o600)]


def suggest_gpu_operator(facts: HostFacts) -> Suggestion:
    """The GPU Operator when there is a GPU; the host driver is used when present."""
    from installer.preflight.checks import describe_gpus

    if not facts.gpus:
        return Suggestion("gpu_operator", False, "no NVIDIA GPU found")
    driver = "host" if facts.host_driver else "operator"
    settings: dict[str, Any] = {"enabled": True, "driver": driver}
    reason = describe_gpus(facts.gpus) + (f", host driver {facts.host_driver}" if facts.host_driver
                                          else ", no host driver (the operator would run the driver container)")
    if any(g.mig == "Enabled" for g in facts.gpus):
        settings["mig_strategy"] = "mixed" if any(g.mig != "Enabled" for g in facts.gpus) else "single"
    return Suggestion("gpu_operator", True, reason, settings)


COMPONENT: Final = Component(
    key="gpu_operator", title="NVIDIA GPU Operator", short="GPU Operator", settings=GpuOperatorSettings,
    doc="NVIDIA GPU Operator (optional).", summary="nvidia.com/gpu on the node", optional=True,
    images=artifacts.required_images, charts=artifacts.required_charts, snaps=artifacts.required_snaps,
    chart_repo="https://helm.ngc.nvidia.com/nvidia",
    steps=_steps, review_files=_review_files, suggest=suggest_gpu_operator,
)
