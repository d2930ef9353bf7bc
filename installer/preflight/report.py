"""One preflight run: probe the host, run the checks, apply skips, suggest components.

Shared by the ``preflight`` command and the first step of every install, so both
report exactly the same thing.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from installer.bundle.importer import (
    DEFAULT_NAMESPACE,
    MICROK8S_SOCKET,
    ContainerdStore,
    ImageImporter,
    items_from_manifest,
)
from installer.bundle.manifest import MANIFEST_NAME
from installer.bundle.source import source_for
from installer.engine.commands import CommandRunner
from installer.errors import InstallerError, ProfileError, UsageError
from installer.preflight.checks import ALL_CHECK_IDS, CheckResult, run_checks
from installer.preflight.suggestions import Suggestion, suggest
from installer.probes import HostFacts, probe_host

if TYPE_CHECKING:
    from installer.config.profile import Profile

_LOGGER: Final = logging.getLogger(__name__)

IMAGE_SUFFIXES: Final = (".tar", ".tar.gz", ".tar.zst", ".tar.zstd", ".tar.xz")
"""Image archives in a bundle (chart archives are ``.tgz`` and are not counted)."""
_COMPRESSED_SUFFIXES: Final = (".gz", ".zst", ".zstd", ".xz")


COMPRESSED_RATIO: Final = 3
"""What a compressed image archive whose unpacked size is not recorded is taken to unpack to, per byte:
zstd and gzip shrink image layers two to three times. Manifests written by ``export`` and ``bundle lock``
record the real size (``content_size``), so this is only for hand-assembled folders and older bundles."""


class BundleEstimate(NamedTuple):
    """What preflight needs from the bundle, without reading the archives."""

    image_bytes: int | None
    """Uncompressed size of the image archives (what containerd stores); ``None`` when there is no bundle
    or no image in it."""
    has_snaps: bool
    """A ``microk8s*.snap`` is in the bundle."""
    imported_bytes: int | None = 0
    """Size of the archives whose images containerd already holds (a re-run needs no room for them);
    ``None`` when containerd is there but its images could not be listed."""


class ImageTarget(NamedTuple):
    """The containerd the install imports into (MicroK8s's unless told otherwise)."""

    socket: Path = MICROK8S_SOCKET
    namespace: str = DEFAULT_NAMESPACE


def estimate_bundle(bundle_dir: Path | None) -> BundleEstimate:
    """Sum the image archives' unpacked sizes and look for the MicroK8s snap (a walk; only the manifest is read).

    The disk check must count what containerd will store, which is the archives' content
    without the file's compression: the manifest's ``content_size`` where it records one,
    else the file size of a plain tar and :data:`COMPRESSED_RATIO` times that of a compressed one.
    """
    if bundle_dir is None or not bundle_dir.is_dir():
        return BundleEstimate(None, False)
    recorded = _recorded_content_sizes(bundle_dir)
    total, images, snaps = 0, 0, False
    for folder, _dirs, files in os.walk(bundle_dir):
        for name in files:
            lower = name.lower()
            if lower.endswith(IMAGE_SUFFIXES):
                path = Path(folder) / name
                try:
                    size = path.stat().st_size
                    total += _content_bytes(name, size, recorded.get(path.relative_to(bundle_dir).as_posix()))
                    images += 1
                except OSError:
                    continue
            elif lower.startswith("microk8s") and lower.endswith(".snap"):
                snaps = True
    return BundleEstimate(total if images else None, snaps)


def _recorded_content_sizes(bundle_dir: Path) -> dict[str, int]:
    """``file -> content_size`` from the bundle's manifest (empty when it has none or cannot be read)."""
    if not (bundle_dir / MANIFEST_NAME).is_file():
        return {}
    try:
        manifest = source_for(bundle_dir).read_manifest()
    except InstallerError as exc:
        _LOGGER.info("disk estimate without the manifest (%s)", exc)
        return {}
    if manifest is None:
        return {}
    return {entry.file: entry.content_size for _, entry in manifest.images() if entry.content_size is not None}


def _content_bytes(name: str, size: int, recorded: int | None) -> int:
    """What an archive of ``size`` bytes unpacks to: as recorded, else estimated from its name's compression.

    The name, not the first bytes: preflight opens no archive (one could be a FIFO).
    """
    if recorded is not None:
        return recorded
    return size * COMPRESSED_RATIO if name.lower().endswith(_COMPRESSED_SUFFIXES) else size


def imported_bytes(runner: CommandRunner, bundle_dir: Path, target: ImageTarget) -> int | None:
    """Bytes of the manifest's archives already imported with the same image IDs (one ``ctr images ls``).

    A re-run after a full disk must not ask for room for images it will skip. Zero
    when containerd is not there yet or the folder has no readable manifest (the
    bundle check reports that); ``None`` when containerd's images cannot be listed
    (not root, say): the check then asks for the whole bundle and says why.
    """
    manifest_path = bundle_dir / MANIFEST_NAME
    if not target.socket.exists() or not manifest_path.is_file():
        return 0
    try:
        manifest = source_for(bundle_dir).read_manifest()
        items = items_from_manifest(bundle_dir, manifest.images() if manifest is not None else [])
        importer = ImageImporter(ContainerdStore(runner, target.socket, target.namespace))
        missing = {item.name for item in importer.missing(items)}
    except InstallerError as exc:
        _LOGGER.info("could not tell which images are already imported (%s); counting the whole bundle", exc)
        return None
    recorded = _recorded_content_sizes(bundle_dir)
    return sum(_content_bytes(item.name, item.size, recorded.get(item.name)) for item in items
               if item.name not in missing)


@dataclass(frozen=True)
class PreflightReport:
    """The facts, the checks (skips applied) and the suggestions of one run."""

    facts: HostFacts
    checks: tuple[CheckResult, ...]
    suggestions: tuple[Suggestion, ...]
    skipped: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """Checks that stop the install."""
        return tuple(c for c in self.checks if c.status == "fail")

    @property
    def warnings(self) -> tuple[CheckResult, ...]:
        """Checks worth reading that do not stop the install."""
        return tuple(c for c in self.checks if c.status == "warn")

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """The ``preflight --json`` document."""
        facts = self.facts
        return {
            "ok": self.ok,
            "hardware": {
                "gpus": [g.to_dict() for g in facts.gpus],
                "host_driver": facts.host_driver,
                "infiniband": [p.to_dict() for p in facts.infiniband],
            },
            "system": facts.system.to_dict(),
            "disks": [d.to_dict() for d in facts.disks],
            "checks": [c.to_dict() for c in self.checks],
            "skipped": list(self.skipped),
            "suggestions": [s.to_dict() for s in self.suggestions],
            "host_root": facts.host_root,
        }


def validate_skips(ids: Iterable[str], source: str) -> None:
    """Refuse an unknown check id (a typo would silently skip nothing)."""
    for check_id in ids:
        if check_id in ALL_CHECK_IDS:
            continue
        close = difflib.get_close_matches(check_id, ALL_CHECK_IDS, n=1)
        suggestion = f"did you mean '{close[0]}'? " if close else ""
        msg = f"unknown check id '{check_id}' in {source}"
        hint = f"{suggestion}Check ids: {', '.join(ALL_CHECK_IDS)}."
        raise (ProfileError if source.startswith("preflight.") else UsageError)(msg, hint)


def apply_skips(checks: Iterable[CheckResult], skip: frozenset[str]) -> tuple[tuple[CheckResult, ...], tuple[str, ...]]:
    """Mark skipped checks ``skipped`` (keeping what was found) and log each one."""
    result: list[CheckResult] = []
    skipped: list[str] = []
    for check in checks:
        if check.id in skip:
            _LOGGER.warning("check %s skipped on request (it would have been %s: %s)", check.id, check.status,
                            check.found)
            result.append(dataclasses.replace(check, status="skipped",
                                              hint=f"skipped on request; it would have been '{check.status}'"))
            skipped.append(check.id)
        else:
            result.append(check)
    return tuple(result), tuple(skipped)


def run_preflight(runner: CommandRunner, profile: Profile, host_root: Path = Path("/"), *,
                  skip_checks: Iterable[str] = (), bundle_dir: Path | None = None,
                  bundle: BundleEstimate | None = None, images_target: ImageTarget | None = None) -> PreflightReport:
    """Probe ``host_root`` and check it against ``profile``.

    Args:
        runner: runs the read-only probe commands (live host only).
        profile: thresholds, skipped checks and the components turned on.
        host_root: ``/`` or a copied host tree.
        skip_checks: check ids to skip besides ``profile.preflight.skip_checks``.
        bundle_dir: the offline bundle folder (default: ``profile.bundle_dir()``).
        bundle: image bytes and snaps when the caller read the manifest; otherwise
            estimated from the files in ``bundle_dir``.
        images_target: the containerd the images go to; on the live host, images it
            already holds are not counted against its free space.

    Raises:
        UsageError, ProfileError: a skipped check id does not exist.
    """
    skip_checks = tuple(skip_checks)
    validate_skips(skip_checks, "--skip-check")
    validate_skips(profile.preflight.skip_checks, "preflight.skip_checks")
    bundle_dir = bundle_dir or profile.bundle_dir()
    if bundle is None:
        bundle = estimate_bundle(bundle_dir)
    if images_target is not None and host_root == Path("/") and bundle.image_bytes and bundle.imported_bytes == 0:
        bundle = bundle._replace(imported_bytes=imported_bytes(runner, bundle_dir, images_target))
    facts = probe_host(runner, host_root, bundle_dir if bundle_dir.is_dir() else None)
    checks = run_checks(facts, profile, bundle_bytes=bundle.image_bytes, bundle_has_snaps=bundle.has_snaps,
                        imported_bytes=bundle.imported_bytes)
    checks_done, skipped = apply_skips(checks, frozenset(skip_checks) | frozenset(profile.preflight.skip_checks))
    return PreflightReport(facts, checks_done, tuple(suggest(facts)), skipped)
