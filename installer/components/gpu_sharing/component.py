"""The GPU sharing component: ``mode: time-slicing`` or ``hami`` (``none`` installs nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from installer.components.base import Component, PhasedSteps, ReviewFile, StepInputs
from installer.components.gpu_sharing import artifacts
from installer.components.gpu_sharing.settings import GpuSharingSettings

if TYPE_CHECKING:
    from installer.config.profile import Profile
    from installer.probes.model import HostFacts


@dataclass(frozen=True)
class SharingComponent(Component[GpuSharingSettings]):
    """A component chosen by its ``mode`` rather than an ``enabled`` switch."""

    def enabled(self, profile: Profile) -> bool:
        """True unless ``mode: none``."""
        return self.section(profile).mode != "none"


def _steps(profile: Profile, inputs: StepInputs) -> PhasedSteps:
    """HAMi's release for ``hami``; time-slicing is the GPU Operator's values only (no step)."""
    settings = COMPONENT.section(profile)
    if settings.mode != "hami":
        return PhasedSteps()
    from installer.components.gpu_sharing.steps import HamiStep

    return PhasedSteps(cluster=[HamiStep(inputs.bundle_dir, settings.hami_chart_version, images=inputs.images)])


def _review_files(profile: Profile, facts: HostFacts) -> list[ReviewFile]:
    """HAMi's values (time-slicing shows in the GPU Operator's)."""
    if COMPONENT.section(profile).mode != "hami":
        return []
    from installer.components.gpu_sharing.steps import VALUES_FILE
    from installer.components.gpu_sharing.values import hami_values
    from installer.components.kube import dump_values

    return [ReviewFile(VALUES_FILE, dump_values(hami_values(profile)), 0o644)]


COMPONENT: Final[Component[Any]] = SharingComponent(
    key="gpu_sharing", title="GPU sharing", settings=GpuSharingSettings,
    doc="Share GPUs: time-slicing or HAMi memory/core slices (optional).",
    summary="several servers per GPU", optional=False,
    images=artifacts.required_images, charts=artifacts.required_charts, snaps=artifacts.required_snaps,
    chart_repo="https://project-hami.github.io/HAMi/",
    steps=_steps, review_files=_review_files,
)
