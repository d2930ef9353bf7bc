"""Hand-assembled bundle folders: learn what they hold, and ``lock`` them into a manifest.

Operators often just ``docker save`` images into the folder. Without a manifest
the installer reads each archive's own index to learn its refs and image IDs (so
import can still skip what is present), warns that nothing could be checked
against a known checksum, and ``bundle lock`` writes a manifest with checksums.

Files are classified by name: ``*.tar``, ``*.tar.gz``, ``*.tar.zst`` are image
archives; ``*.tgz`` is a Helm chart when it holds ``<name>/Chart.yaml`` (else an
image archive); ``*.snap`` with its ``*.assert``; ``*.whl``.
"""

from __future__ import annotations

import logging
import os
import re
import tarfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml

from installer.bundle.archive import ArchiveError, ArchiveInfo, hash_and_inspect, hash_file, inspect_archive
from installer.bundle.manifest import (
    MANIFEST_NAME,
    ArchivedImage,
    ChartEntry,
    ComponentArtifacts,
    ImageEntry,
    Manifest,
    SnapEntry,
    WheelEntry,
    host_platform,
)
from installer.bundle.safefile import UnsafeBundleFile, bundle_path, open_regular
from installer.engine.printable import needs_escaping, shown
from installer.engine.safeparse import DocumentLimit, load_yaml
from installer.errors import BundleError

_LOGGER: Final = logging.getLogger(__name__)

IMAGE_SUFFIXES: Final = (".tar", ".tar.gz", ".tar.zst", ".tar.zstd", ".tgz")
MAX_CHART_BYTES: Final = 32 << 20
NO_CHECKSUM_WARNING: Final = ("no manifest.yaml in {bundle}: the files could not be checked against known "
                              "checksums (their own indexes were read instead)")
NO_CHECKSUM_HINT: Final = "Run `./install.sh bundle lock --bundle {bundle}` once to write a manifest with checksums."
_SNAP_NAME = re.compile(r"^(?P<name>[a-z0-9-]+)_(?P<revision>[A-Za-z0-9.+-]+)$")


@dataclass(frozen=True)
class ScannedImage:
    """An image archive found in the folder, with what its index says."""

    file: str
    size: int
    info: ArchiveInfo
    sha256: str | None = None


@dataclass
class ScanResult:
    """What a folder holds. ``problems`` are files that could not be read (named, with why)."""

    bundle: Path
    images: list[ScannedImage] = field(default_factory=list)
    charts: list[ChartEntry] = field(default_factory=list)
    snaps: list[SnapEntry] = field(default_factory=list)
    wheels: list[WheelEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def refs(self) -> dict[str, ScannedImage]:
        """Normalised ref -> the archive holding it."""
        return {ref: image for image in self.images for ref in image.info.refs}


def _rel(bundle: Path, path: Path) -> str:
    return path.relative_to(bundle).as_posix()


def _chart_of(path: Path) -> tuple[str, str] | None:
    """(name, version) if ``path`` is a Helm chart archive."""
    if path.stat().st_size > MAX_CHART_BYTES:
        return None
    try:
        with open_regular(path) as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile() and member.size < 1 << 20:
                    handle = tar.extractfile(member)
                    data = load_yaml(handle.read(), f"{path}: {member.name}", max_bytes=1 << 20) if handle else None
                    if isinstance(data, dict) and data.get("name") and data.get("version"):
                        return str(data["name"]), str(data["version"])
                    return None
    except (tarfile.TarError, OSError, EOFError, yaml.YAMLError):
        return None
    return None


def _chart_or_problem(path: Path, result: ScanResult) -> tuple[str, str] | tuple[()] | None:
    """:func:`_chart_of`; a hostile Chart.yaml becomes a problem naming the file, and ``()``."""
    try:
        return _chart_of(path)
    except DocumentLimit as exc:
        result.problems.append(f"{exc}; not a chart the installer can use")
        return ()


def _files(bundle: Path) -> list[Path]:
    """Every entry that is not a folder (links and special files included: they are checked, not skipped)."""
    return sorted(p for p in bundle.rglob("*") if (p.is_symlink() or not p.is_dir())
                  and not any(part.startswith(".") for part in p.relative_to(bundle).parts))


def _read_file(path: Path, checksums: bool) -> tuple[str, int]:
    return hash_file(path) if checksums else ("0" * 64, path.stat().st_size)


def _classify(bundle: Path, result: ScanResult, checksums: bool) -> list[tuple[str, Path]]:
    """Sort the bundle's files into ``result`` (wheels, snaps, charts); return the image archives to inspect.

    Only files of a kind the installer reads are checked; each goes through :func:`bundle_path`,
    so a link leading outside the bundle, a device, a FIFO or a socket is named in
    ``problems`` and never opened.
    """
    archives: list[tuple[str, Path]] = []
    for entry in _files(bundle):
        name = entry.name
        rel = _rel(bundle, entry)
        if not name.endswith((".whl", ".snap", *IMAGE_SUFFIXES)):
            continue
        if needs_escaping(rel):  # a newline would forge output lines; undecodable bytes cannot go in a manifest
            result.problems.append(f"{shown(bundle / rel)}: the file name holds a control character or bytes that "
                                   "are not UTF-8; refused (rename it, e.g. with only letters, digits and . _ -)")
            continue
        try:
            path = bundle_path(bundle, rel)
            if name.endswith(".whl"):
                digest, size = _read_file(path, checksums)
                result.wheels.append(WheelEntry(file=rel, sha256=digest, size=size))
            elif name.endswith(".snap"):
                assert_rel = _rel(bundle, entry.with_suffix(".assert"))
                match = _SNAP_NAME.match(entry.stem)
                if not os.path.lexists(bundle / assert_rel) or not match:
                    result.problems.append(f"{rel}: a snap needs its assertion {entry.with_suffix('.assert').name} "
                                           "beside it (`snap download` writes both)")
                    continue
                assertion = bundle_path(bundle, assert_rel)
                digest, size = _read_file(path, checksums)
                assert_digest, assert_size = _read_file(assertion, checksums)
                result.snaps.append(SnapEntry(name=match["name"], revision=match["revision"], file=rel,
                                              sha256=digest, size=size, assert_file=assert_rel,
                                              assert_sha256=assert_digest, assert_size=assert_size))
            elif name.endswith(".tgz") and (chart := _chart_or_problem(path, result)) is not None:
                if not chart:  # a chart whose Chart.yaml was refused: named in problems, not an image archive either
                    continue
                digest, size = _read_file(path, checksums)
                result.charts.append(ChartEntry(name=chart[0], version=chart[1], file=rel, sha256=digest, size=size))
            elif name.endswith(IMAGE_SUFFIXES):
                archives.append((rel, path))
        except UnsafeBundleFile as exc:
            result.problems.append(exc.message)
    return archives


def scan_folder(bundle: Path, *, jobs: int = 2, checksums: bool = False,
                on_bytes: Callable[[int], None] | None = None) -> ScanResult:
    """Classify and inspect every file of ``bundle``; with ``checksums`` also hash them (for ``lock``)."""
    if not bundle.is_dir():
        msg = f"bundle folder {bundle} does not exist"
        raise BundleError(msg, "Give the offline-images folder with --bundle DIR.")
    result = ScanResult(bundle)
    try:
        archives = _classify(bundle, result, checksums)
    except OSError as exc:  # an unreadable file or folder in the bundle: bad input, named
        msg = f"cannot read {exc.filename or bundle}: {exc.strerror or exc}"
        raise BundleError(msg, "Check the bundle's permissions (copy it again as root), then run again.") from None
    if not (archives or result.wheels or result.snaps or result.charts or result.problems):
        msg = (f"{bundle} holds no {MANIFEST_NAME} and no image archive, chart, snap or wheel: "
               "it is not an offline bundle (empty, or the wrong folder)")
        raise BundleError(msg, "Give the offline-images folder with --bundle DIR, or copy the bundle there again.")

    def inspect(archive: tuple[str, Path]) -> ScannedImage | str:
        rel, path = archive
        try:
            if checksums:
                digest, size, info = hash_and_inspect(path, on_bytes=on_bytes)
                return ScannedImage(rel, size, info, digest)
            info = inspect_archive(path)
            return ScannedImage(rel, path.stat().st_size, info)
        except ArchiveError as exc:
            return exc.message
        except OSError as exc:  # no permission, or a file swapped for a FIFO/link since it was checked
            return f"{path}: cannot read: {exc.strerror or exc}"

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="scan") as pool:
        for outcome in pool.map(inspect, archives):
            if isinstance(outcome, str):
                result.problems.append(outcome)
            else:
                result.images.append(outcome)
    return result


def _component_of(refs: tuple[str, ...], known: dict[str, str]) -> str:
    for ref in refs:
        if ref in known:
            return known[ref]
    return "extra"


@dataclass(frozen=True)
class RefClash:
    """One ref that two archives give to different images."""

    ref: str
    first: str
    first_digest: str
    other: str
    other_digest: str

    def __str__(self) -> str:
        return f"{self.ref}: {self.first} ({self.first_digest[:19]}) and {self.other} ({self.other_digest[:19]})"

    @property
    def files(self) -> tuple[str, str]:
        """Both archives."""
        return self.first, self.other


CLASH_HINT: Final = ("Keep only the archive with the image you want (usually the newer export), then run again "
                     "(and `bundle lock` to write a manifest).")


def ref_clashes(images: list[ScannedImage]) -> list[RefClash]:
    """Refs that two archives give to different images: which one would be used is a coin toss.

    The one rule for a folder without a manifest, applied by ``bundle lock`` (refuses),
    ``verify`` (fails naming both) and ``import`` (imports neither). The same image in
    two archives is harmless.
    """
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for image in images:
        for inner in image.info.images:
            for ref in inner.refs:
                first = seen.setdefault(ref, (image.file, inner.config_digest))
                if first[1] != inner.config_digest:
                    clashes.append(RefClash(ref, first[0], first[1], image.file, inner.config_digest))
    return clashes


def clash_message(clash: RefClash) -> str:
    """One line naming the ref and both archives."""
    return f"{clash.ref} names different images in two archives: {clash.first} ({clash.first_digest[:19]}) and " \
           f"{clash.other} ({clash.other_digest[:19]})"


def _refuse_conflicting_refs(scan: ScanResult) -> None:
    """One ref in two archives as different images: which one the install would get is a coin toss."""
    clashes = ref_clashes(scan.images)
    if clashes:
        msg = "cannot lock the bundle; these refs name different images in different archives:\n  " + "\n  ".join(
            str(clash) for clash in clashes)
        raise BundleError(msg, "Keep only the archive with the image you want (usually the newer export), then "
                               "run `bundle lock` again.")


def manifest_from_scan(scan: ScanResult, known_refs: dict[str, str] | None = None,
                       chart_components: dict[str, str] | None = None) -> Manifest:
    """A manifest for a hashed scan; images and charts go to the component that needs them, else ``extra``.

    Raises:
        BundleError: a file could not be read, or an image archive has no tagged image.
    """
    if scan.problems:
        msg = "cannot lock the bundle; unreadable files:\n" + "\n".join(scan.problems)
        raise BundleError(msg, "Remove or re-create these files, then run `bundle lock` again.")
    _refuse_conflicting_refs(scan)
    known = known_refs or {}
    components: dict[str, ComponentArtifacts] = {}
    for image in scan.images:
        tagged = [i for i in image.info.images if i.refs]
        if not tagged or image.sha256 is None:
            msg = f"{scan.bundle / image.file}: the archive holds no tagged image, so nothing could refer to it"
            raise BundleError(msg, "Save images by name: `docker save REPO:TAG -o FILE.tar`.")
        first, *more = tagged
        entry = ImageEntry(refs=list(first.refs), file=image.file, sha256=image.sha256, size=image.size,
                           digest=first.config_digest, platform=first.platform, content_size=image.info.content_bytes,
                           more_images=[ArchivedImage(refs=list(i.refs), digest=i.config_digest, platform=i.platform)
                                        for i in more])
        component = _component_of(image.info.refs, known)
        components.setdefault(component, ComponentArtifacts()).images.append(entry)
    for chart in scan.charts:
        component = (chart_components or {}).get(chart.name, "extra")
        components.setdefault(component, ComponentArtifacts()).charts.append(chart)
    for snap in scan.snaps:
        components.setdefault("microk8s", ComponentArtifacts()).snaps.append(snap)
    return Manifest(platform=host_platform(), components=components, wheels=scan.wheels)  # type: ignore[arg-type]


def lock_bundle(bundle: Path, *, known_refs: dict[str, str] | None = None,
                chart_components: dict[str, str] | None = None, jobs: int = 2,
                on_bytes: Callable[[int], None] | None = None) -> Manifest:
    """Hash and inspect every file of ``bundle`` and return the manifest to write as ``manifest.yaml``."""
    scan = scan_folder(bundle, jobs=jobs, checksums=True, on_bytes=on_bytes)
    manifest = manifest_from_scan(scan, known_refs, chart_components)
    _LOGGER.info("locked %s: %d image archives, %d charts, %d snaps, %d wheels", bundle / MANIFEST_NAME,
                 len(scan.images), len(scan.charts), len(scan.snaps), len(scan.wheels))
    return manifest
