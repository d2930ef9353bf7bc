"""Which artifacts the chosen components need, and which of them the bundle lacks.

Called before anything changes on the host: a missing image for a chosen
component is reported up front (with the file it should be in), rather than as a
pod stuck in ``ImagePullBackOff`` after half an hour of installing.
"""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from installer.bundle.contents import BundleContents
from installer.bundle.imageref import normalize_ref
from installer.bundle.manifest import EXTRA, Manifest
from installer.bundle.safefile import UnsafeBundleFile, bundle_path
from installer.components import registry
from installer.errors import BundleError

if TYPE_CHECKING:
    from installer.config.profile import Profile

_LOGGER: Final = logging.getLogger(__name__)


def component_names() -> tuple[str, ...]:
    """The sections a manifest written for this installer has: each component's key, in bundle order, then
    ``extra`` (the manifest itself does not ask the registry: the components' steps read manifests)."""
    return (*(c.key for c in registry.bundle_order()), EXTRA)


def check_sections(manifest: Manifest, where: Path) -> None:
    """Refuse a manifest section no component has (a typo such as ``gpu_operater:`` would hide its files).

    Raises:
        BundleError: naming the section, the manifest and the nearest known name.
    """
    known = component_names()
    for name in manifest.components:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            msg = f"{where}: unknown component {name!r}; the manifest's sections are {', '.join(known)}"
            hint = (f"Did you mean {close[0]!r}? " if close else "") + (
                "Fix the section's name in the manifest, or export the bundle again with this installer.")
            raise BundleError(msg, hint)


def chosen_components(profile: Profile) -> list[str]:
    """The components this profile installs, in bundle order (those every install needs first)."""
    return [c.key for c in registry.enabled_components(profile)]


@dataclass(frozen=True)
class Needs:
    """What one component needs."""

    component: str
    images: tuple[str, ...]
    charts: tuple[tuple[str, str], ...]
    snaps: tuple[str, ...]


def component_needs(profile: Profile, component: str) -> Needs:
    """Images (normalised refs), charts ``(name, version)`` and snaps of ``component``."""
    described = registry.component(component)
    return Needs(component, tuple(normalize_ref(r) for r in described.images(profile)),
                 tuple(described.charts(profile)), tuple(described.snaps(profile)))


def known_refs(profile: Profile) -> dict[str, str]:
    """``ref -> component`` over every component (enabled or not): where ``bundle lock`` files an image."""
    refs: dict[str, str] = {}
    for described in registry.bundle_order():
        for ref in component_needs(profile, described.key).images:
            refs.setdefault(ref, described.key)
    return refs


def chart_components(profile: Profile) -> dict[str, str]:
    """``chart name -> component``."""
    return {name: c.key for c in registry.bundle_order() for name, _ in component_needs(profile, c.key).charts}


def snap_component(profile: Profile, name: str) -> str:
    """The component a snap belongs to: the one that needs it, else the base (the first registered)."""
    for described in registry.bundle_order():
        if name in described.snaps(profile):
            return described.key
    return registry.components()[0].key


@dataclass(frozen=True)
class MissingArtifact:
    """Something a chosen component needs that the bundle lacks."""

    component: str
    kind: Literal["image", "chart", "snap", "file", "unsafe"]
    name: str
    detail: str = ""

    @property
    def message(self) -> str:
        """One line naming what is missing and for which component."""
        if self.kind == "unsafe":
            return f"{self.component}: {self.name} {self.detail}"
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.component}: {self.kind} {self.name} is not in the bundle{extra}"


def _file_problem(component: str, bundle: Path, file: str, holds: str) -> MissingArtifact | None:
    """None when ``file`` is a regular file inside the bundle; else what it is (missing, a link out, a FIFO...)."""
    try:
        bundle_path(bundle, file)
    except UnsafeBundleFile as exc:
        if exc.kind == "missing" and not os.path.islink(bundle / file):
            return MissingArtifact(component, "file", file, holds)
        return MissingArtifact(component, "unsafe", file, f"({holds}) {exc.reason}")
    return None


def missing_artifacts(profile: Profile, bundle: BundleContents,
                      components: list[str] | None = None) -> list[MissingArtifact]:
    """Everything the chosen components need that ``bundle`` does not hold (listed, or the file absent)."""
    missing = []
    refs = bundle.image_refs()
    for component in components or chosen_components(profile):
        needs = component_needs(profile, component)
        for ref in needs.images:
            file = refs.get(ref)
            if file is None:
                missing.append(MissingArtifact(component, "image", ref))
            elif (problem := _file_problem(component, bundle.path, file, f"holds {ref}")) is not None:
                missing.append(problem)
        for name, version in needs.charts:
            file = bundle.has_chart(name, version)
            if file is None:
                missing.append(MissingArtifact(component, "chart", f"{name} {version}"))
            elif (problem := _file_problem(component, bundle.path, file, f"chart {name} {version}")) is not None:
                missing.append(problem)
        for name in needs.snaps:
            file = bundle.has_snap(name)
            if file is None:
                missing.append(MissingArtifact(component, "snap", name))
            elif (problem := _file_problem(component, bundle.path, file, f"snap {name}")) is not None:
                missing.append(problem)
    return missing


def require_artifacts(profile: Profile, bundle: BundleContents, components: list[str] | None = None) -> None:
    """Raise one :class:`BundleError` listing every missing artifact, or return."""
    missing = missing_artifacts(profile, bundle, components)
    if missing:
        msg = f"the bundle {bundle.path} lacks what the chosen components need:\n" + \
              "\n".join(f"  {m.message}" for m in missing)
        hint = ("Add them on the connected machine with `./install.sh export`, "
                "or `docker save` them into the folder and run `bundle lock`.")
        if any(m.kind == "unsafe" for m in missing):
            hint += " Copy the real file in place of each link, device or FIFO named above."
        raise BundleError(msg, hint)
