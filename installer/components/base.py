"""What a component is: one descriptor the rest of the installer reads, so no other module lists them.

Each component package exposes a :class:`Component` (in its ``component.py``) and
:data:`installer.components.registry.COMPONENTS` lists them; from that list come the profile's
sections, the bundle's artifacts and manifest sections, the export, the hardware suggestions, the
wizard's Components screen and switches, the install plan and the files ``plan --out`` writes.

A descriptor module imports only its settings model and its artifact lists at import time (the
profile model is built from the registry, so nothing the registry imports may need the profile);
steps and file renderers are imported when called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from installer.config.base import Section

if TYPE_CHECKING:
    from installer.components.release_images import ContainerdTarget
    from installer.config.profile import Profile
    from installer.engine.plan import Step
    from installer.probes.model import HostFacts

S = TypeVar("S", bound=Section)

Phase = Literal["checks", "host", "cluster", "apps"]
"""When a component's steps run. The plan puts them in this order, with its own steps between:
``preflight`` and ``bundle-check`` first; ``checks`` (read-only, before the host changes);
``host`` (packages on the host); then ``import-images``; ``cluster`` (Kubernetes up and its
device plugins); ``apps`` (what users reach). Within a phase, components keep registry order."""
PHASES: tuple[Phase, ...] = ("checks", "host", "cluster", "apps")


@dataclass(frozen=True)
class StepInputs:
    """What a component's steps are built with besides its profile section."""

    bundle_dir: Path
    """The bundle folder in effect."""
    images: ContainerdTarget | None = None
    """The containerd the import step fills (``None`` when the plan imports nothing)."""
    poll_interval: float = 5.0
    """Seconds between polls while waiting for a resource."""


@dataclass(frozen=True)
class PhasedSteps:
    """A component's steps for one profile, grouped by phase."""

    checks: Sequence[Step] = ()
    host: Sequence[Step] = ()
    cluster: Sequence[Step] = ()
    apps: Sequence[Step] = ()

    def phase(self, name: Phase) -> Sequence[Step]:
        """The steps of ``name``."""
        steps: Sequence[Step] = getattr(self, name)
        return steps


@dataclass(frozen=True)
class ReviewFile:
    """A file ``plan --out`` writes for a reviewer (what the install would apply)."""

    name: str
    text: str
    mode: int = 0o644
    """0600 when it may hold a secret."""


@dataclass(frozen=True)
class Suggestion:
    """One optional component and whether the hardware calls for it."""

    component: str
    """Profile section name: ``gpu_operator``, ``rdma``."""
    suggested: bool
    reason: str
    settings: dict[str, Any] = field(default_factory=dict)
    """Profile keys of that section to set when turning it on (:meth:`Component.apply` sets them)."""
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


def _none(profile: Profile) -> list[Any]:
    return []


def _no_steps(profile: Profile, inputs: StepInputs) -> PhasedSteps:
    return PhasedSteps()


def _no_files(profile: Profile, facts: HostFacts) -> list[ReviewFile]:
    return []


@dataclass(frozen=True)
class Component(Generic[S]):
    """One component: its profile section, what it needs from the bundle, its steps, its suggestion."""

    key: str
    """Profile section and manifest component name (``gpu_operator``)."""
    title: str
    """What people read (``NVIDIA GPU Operator``)."""
    settings: type[S]
    """The profile section's model; an optional component's has an ``enabled`` switch."""
    doc: str
    """The section's line in the profile schema."""
    short: str = ""
    """Its name in one-line summaries (``GPU Operator``); the title when empty."""
    summary: str = ""
    """What it brings, one line for the Components screen."""
    optional: bool = False
    """The operator may leave it out (its section's ``enabled``); others are always installed."""
    images: Callable[[Profile], list[str]] = _none
    """Image refs the profile needs from the bundle (normalised, or normalised by the caller)."""
    charts: Callable[[Profile], list[tuple[str, str]]] = _none
    """Helm charts ``(name, version)`` the profile needs from the bundle."""
    snaps: Callable[[Profile], list[str]] = _none
    """Snaps the profile needs from the bundle, in install order."""
    chart_repo: str = ""
    """Where operators ``helm pull`` its chart (export says so when the bundle lacks it)."""
    steps: Callable[[Profile, StepInputs], PhasedSteps] = _no_steps
    """The install steps for the profile, by phase."""
    review_files: Callable[[Profile, HostFacts], list[ReviewFile]] = _no_files
    """What ``plan --out`` writes for this component (values, manifests), for this host's facts."""
    suggest: Callable[[HostFacts], Suggestion] | None = None
    """Whether the hardware calls for it (optional components), with the settings to use."""

    def section(self, profile: Profile) -> S:
        """This component's section of ``profile``."""
        section: S = getattr(profile, self.key)
        return section

    def enabled(self, profile: Profile) -> bool:
        """True when ``profile`` installs it."""
        return not self.optional or bool(getattr(self.section(profile), "enabled", False))

    @property
    def name(self) -> str:
        """The name in one-line summaries."""
        return self.short or self.title

    def apply(self, profile: Profile, settings: Mapping[str, Any]) -> Profile:
        """``profile`` with ``settings`` (a :class:`Suggestion`'s) in this section, validated by its model.

        Raises:
            pydantic.ValidationError: a suggested value the section refuses.
        """
        data = {**self.section(profile).model_dump(mode="python"), **settings}
        return profile.model_copy(update={self.key: self.settings.model_validate(data)})
