"""What an upgrade changes: chart versions per release, images added, images no longer needed.

The installed profile names chart versions; a new bundle carries the versions it was exported
with. :func:`retarget` moves the profile to the bundle's charts (the one setting of the component
that holds the old version), and :func:`compare` lists the differences between what runs now
(the installed manifest and profile) and what the new bundle brings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from installer.bundle.manifest import Manifest
from installer.bundle.requirements import component_needs
from installer.components.registry import enabled_components
from installer.config.profile import Profile
from installer.errors import BundleError


@dataclass(frozen=True)
class ChartChange:
    """One chart whose version the upgrade changes."""

    component: str
    chart: str
    old: str
    new: str


@dataclass(frozen=True)
class Changes:
    """What the upgrade does, for the operator to read before anything changes."""

    charts: list[ChartChange] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    """Image refs the new bundle brings that the installation did not have."""
    unneeded: list[str] = field(default_factory=list)
    """Image refs the installation had that nothing in the new bundle or profile needs any more."""

    def lines(self, *, prune: bool) -> list[str]:
        """The changes in words, one per line."""
        out = [f"chart {c.chart} ({c.component}): {c.old} -> {c.new}" for c in self.charts]
        if not self.charts:
            out.append("charts: no version changes (the releases are re-applied only where their values differ)")
        out += [f"image added: {ref}" for ref in self.added]
        fate = "unpinned, left to the kubelet's image GC" if prune else "kept pinned (--prune releases it)"
        out += [f"image no longer needed: {ref} ({fate})" for ref in self.unneeded]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"charts": [c.__dict__ for c in self.charts], "added": self.added, "unneeded": self.unneeded}


def _version_field(section: dict[str, Any], version: str) -> str | None:
    """The one top-level setting of a section that holds ``version`` (``chart_version``, ``version``)."""
    found = [k for k, v in section.items() if isinstance(v, str) and v.lstrip("v") == version.lstrip("v")]
    return found[0] if len(found) == 1 else None


def retarget(profile: Profile, manifest: Manifest) -> tuple[Profile, list[ChartChange]]:
    """``profile`` with each enabled component's chart moved to the version ``manifest`` carries.

    Raises:
        BundleError: the bundle lacks a chart the profile needs, or holds several versions of it.
    """
    changes: list[ChartChange] = []
    for component in enabled_components(profile):
        for name, version in component.charts(profile):
            if manifest.find_chart(name, version) is not None:
                continue
            versions = sorted({c.version for a in manifest.components.values() for c in a.charts if c.name == name})
            if len(versions) != 1:
                held = ", ".join(versions) or "none"
                msg = f"the new bundle's manifest has no single version of the chart {name} (it holds: {held})"
                raise BundleError(msg, f"Export the new bundle with exactly one {name} chart for {component.key}.")
            section = component.section(profile).model_dump(mode="python")
            key = _version_field(section, version)
            if key is None:
                msg = f"cannot tell which setting of {component.key} holds the chart version {version}"
                raise BundleError(msg, f"Set the chart version in the profile's {component.key} section and "
                                       "run the upgrade with --profile.")
            profile = component.apply(profile, {key: versions[0]})
            changes.append(ChartChange(component.key, name, version, versions[0]))
    return profile, changes


def needed_refs(profile: Profile, manifest: Manifest | None) -> set[str]:
    """Every image ref ``profile`` runs: its components' needs and their part of ``manifest``."""
    keys = [c.key for c in enabled_components(profile)]
    refs = {ref for key in keys for ref in component_needs(profile, key).images}
    if manifest is not None:
        refs |= {ref for _, entry in manifest.images(keys) for ref in entry.all_refs()}
    return refs


def compare(old_profile: Profile, old_manifest: Manifest | None, new_profile: Profile, new_manifest: Manifest,
            charts: list[ChartChange]) -> Changes:
    """What moving from the installed profile and manifest to the new ones changes."""
    before = needed_refs(old_profile, old_manifest)
    after = needed_refs(new_profile, new_manifest)
    return Changes(charts=charts, added=sorted(after - before), unneeded=sorted(before - after))
