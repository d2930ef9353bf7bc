"""A made-up component, ``dummy``, in one package: what a new component writes, and nothing more.

:mod:`.with_dummy` registers it with the one line a new component adds to
``installer.components.registry`` and runs the profile schema, the plan, ``verify`` and the
wizard's Components screen, which must all show it without any other change to the installer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from pydantic import Field

from installer.components.base import Component, PhasedSteps, ReviewFile, StepInputs, Suggestion
from installer.config.base import Section
from installer.engine.plan import Step, StepContext

if TYPE_CHECKING:
    from installer.config.profile import Profile
    from installer.probes.model import HostFacts

IMAGE: Final = "registry.example/dummy/agent:1.0"


class DummySettings(Section):
    """Profile section ``dummy``."""

    enabled: bool = False
    """Install the dummy agent."""
    replicas: int = Field(1, ge=1, le=9)
    """How many agents run."""


class DummyApplyStep(Step):
    """Applies the agent (a command the dry-run runner shows)."""

    id = "dummy.apply"
    title = "Apply the dummy agent"
    component = "dummy"

    def __init__(self, settings: DummySettings) -> None:
        self.settings = settings

    def inputs(self) -> dict[str, int]:
        """The replica count."""
        return {"replicas": self.settings.replicas}

    def run(self, ctx: StepContext) -> None:
        """One kubectl command through the runner."""
        ctx.runner.run(["microk8s", "kubectl", "scale", "deployment/dummy", f"--replicas={self.settings.replicas}"],
                       timeout=60, hint="")


def _steps(profile: Profile, inputs: StepInputs) -> PhasedSteps:
    return PhasedSteps(cluster=[DummyApplyStep(COMPONENT.section(profile))])


def _files(profile: Profile, facts: HostFacts) -> list[ReviewFile]:
    return [ReviewFile("dummy.yaml", f"replicas: {COMPONENT.section(profile).replicas}\n")]


def _suggest(facts: HostFacts) -> Suggestion:
    return Suggestion("dummy", True, "every host can run it", {"enabled": True, "replicas": 3})


COMPONENT: Final = Component(
    key="dummy", title="Dummy agent", settings=DummySettings, doc="The dummy agent (optional).",
    summary="a made-up component", optional=True, images=lambda profile: [IMAGE], steps=_steps,
    review_files=_files, suggest=_suggest,
)
