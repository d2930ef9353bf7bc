"""A bundle folder as the installer reads it: its manifest, or a scan of a hand-assembled folder.

Kept apart from :mod:`installer.bundle.requirements` (which asks the component registry what a
profile needs) because the components' own steps read bundles: this module must not reach the registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from installer.bundle.manifest import MANIFEST_NAME, Manifest, load_manifest
from installer.bundle.scan import NO_CHECKSUM_HINT, NO_CHECKSUM_WARNING, ScanResult, scan_folder
from installer.errors import BundleError


@dataclass
class BundleContents:
    """A bundle folder as the installer sees it: from its manifest, or scanned when it has none."""

    path: Path
    manifest: Manifest | None = None
    scan: ScanResult | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """True when checksums are known (a manifest exists)."""
        return self.manifest is not None

    def image_refs(self) -> dict[str, str]:
        """``ref -> file`` of every image the bundle holds."""
        if self.manifest is not None:
            return {ref: entry.file for _, entry in self.manifest.images() for ref in entry.all_refs()}
        assert self.scan is not None
        return {ref: image.file for ref, image in self.scan.refs().items()}

    def has_chart(self, name: str, version: str) -> str | None:
        """The chart's file, or None."""
        if self.manifest is not None:
            chart = self.manifest.find_chart(name, version)
            return chart.file if chart else None
        assert self.scan is not None
        found = [c.file for c in self.scan.charts if c.name == name and c.version.lstrip("v") == version.lstrip("v")]
        return found[0] if found else None

    def has_snap(self, name: str) -> str | None:
        """The snap's file, or None."""
        if self.manifest is not None:
            snap = self.manifest.find_snap(name)
            return snap.file if snap else None
        assert self.scan is not None
        found = [s.file for s in self.scan.snaps if s.name == name]
        return found[0] if found else None


def load_bundle(path: Path, *, jobs: int = 2) -> BundleContents:
    """Read the manifest, or scan a hand-assembled folder (with a warning that nothing is checksummed)."""
    if not path.is_dir():
        msg = f"bundle folder {path} does not exist"
        raise BundleError(msg, "Give the offline-images folder with --bundle DIR.")
    if os.path.lexists(path / MANIFEST_NAME):  # even a broken link or a device: load_manifest says what is wrong
        return BundleContents(path, manifest=load_manifest(path / MANIFEST_NAME))
    scan = scan_folder(path, jobs=jobs)
    warnings = [NO_CHECKSUM_WARNING.format(bundle=path) + ". " + NO_CHECKSUM_HINT.format(bundle=path)]
    warnings += scan.problems
    return BundleContents(path, scan=scan, warnings=warnings)
