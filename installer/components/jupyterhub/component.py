"""The JupyterHub component: the hub, its proxy and the notebook images users pick from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from installer.components.base import Component, PhasedSteps, ReviewFile, StepInputs
from installer.components.jupyterhub import artifacts
from installer.components.jupyterhub.settings import JupyterHubSettings

if TYPE_CHECKING:
    from installer.config.profile import Profile
    from installer.probes.model import HostFacts


def _steps(profile: Profile, inputs: StepInputs) -> PhasedSteps:
    """The notebook images checked before anything changes; the hub installed last, and its URL."""
    from installer.components.jupyterhub.steps import HubUrlStep, HubWaitStep, JupyterHubStep, NotebookImageChecksStep

    settings = COMPONENT.section(profile)
    return PhasedSteps(
        checks=[NotebookImageChecksStep(inputs.bundle_dir, settings)],
        apps=[JupyterHubStep(inputs.bundle_dir, settings, images=inputs.images),
              HubWaitStep(settings, poll_interval=inputs.poll_interval),
              HubUrlStep(settings)],
    )


def _review_files(profile: Profile, facts: HostFacts) -> list[ReviewFile]:
    """The chart's values (0600: they hold the password and pull secret)."""
    from installer.components.jupyterhub.steps import VALUES_FILE, values_for
    from installer.components.kube import dump_values

    return [ReviewFile(VALUES_FILE, dump_values(values_for(profile, profile.bundle_dir())), 0o600)]


COMPONENT: Final = Component(
    key="jupyterhub", title="JupyterHub", settings=JupyterHubSettings, doc="JupyterHub.",
    summary="the hub, its proxy and the notebook images you pick next",
    images=artifacts.required_images, charts=artifacts.required_charts, snaps=artifacts.required_snaps,
    chart_repo="https://hub.jupyter.org/helm-chart/",
    steps=_steps, review_files=_review_files,
)
