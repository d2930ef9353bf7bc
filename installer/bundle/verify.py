"""Check every file of the bundle against the manifest: present, size, sha256, refs.

Hashing runs in a few threads (hashlib releases the GIL on large updates, so two
threads hash two files at disk speed; ``sha256sum`` is about three times slower).
A compressed image archive is decompressed once to read its index and hashed on
the same pass; a plain tar is hashed, then its index is read by seeking.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from installer.bundle.archive import ArchiveError, ArchiveInfo, hash_and_inspect, hash_file
from installer.bundle.manifest import MANIFEST_NAME, FileEntry, ImageEntry, Manifest, SnapEntry
from installer.bundle.safefile import UnsafeBundleFile, bundle_path
from installer.bundle.signature import SIGNATURE_NAME
from installer.errors import BundleError

_LOGGER: Final = logging.getLogger(__name__)

CheckStatus = Literal["ok", "missing", "size", "sha256", "refs", "unreadable", "unsafe"]
OnProgress = Callable[[int, int], None]
"""Called with (bytes done so far, bytes in all) while hashing."""


@dataclass(frozen=True)
class FileCheck:
    """The verdict on one file."""

    file: str
    kind: str
    component: str
    status: CheckStatus
    expected: str = ""
    found: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        """True when the file matches the manifest."""
        return self.status == "ok"

    @property
    def message(self) -> str:
        """One line an operator can act on."""
        if self.status == "ok":
            return f"{self.file}: ok"
        if self.status == "missing":
            return f"{self.file}: missing (the manifest lists it for {self.component or 'the installer'})"
        if self.status in ("unreadable", "unsafe"):
            return f"{self.file}: {self.detail}"
        what = {"size": "size", "sha256": "sha256", "refs": "images"}[self.status]
        return f"{self.file}: {what} mismatch: expected {self.expected}, found {self.found}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (see offline-images/README.md)."""
        return {"file": self.file, "kind": self.kind, "component": self.component, "status": self.status,
                "expected": self.expected, "found": self.found, "message": self.message}


@dataclass
class VerifyReport:
    """Every file's verdict, plus files present but not listed."""

    bundle: Path
    checks: list[FileCheck] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    bytes_hashed: int = 0

    @property
    def ok(self) -> bool:
        """True when every listed file matches."""
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[FileCheck]:
        """The files that do not match, in manifest order."""
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        """The ``verify --json`` document."""
        return {"bundle": str(self.bundle), "ok": self.ok, "checked": len(self.checks),
                "failed": len(self.failures), "bytes_hashed": self.bytes_hashed,
                "files": [c.to_dict() for c in self.checks], "unlisted": self.unlisted}


def _compare_refs(entry: ImageEntry, info: ArchiveInfo) -> tuple[str, str] | None:
    """(expected, found) when the archive's images differ from the manifest's, else None."""
    return compare_images({(ref, image.digest) for image in entry.contents() for ref in image.refs}, info)


def compare_images(expected: set[tuple[str, str]], info: ArchiveInfo) -> tuple[str, str] | None:
    """(expected, found) in words when ``info`` lacks one of the ``(ref, image ID)`` pairs, else None.

    Shared by ``verify`` and the importer, which runs it before anything reaches containerd.
    """
    found = {(ref, image.config_digest) for image in info.images for ref in image.refs}
    if expected <= found:
        return None
    missing = sorted(expected - found)
    by_ref = dict(found)
    shown_expected = ", ".join(f"{ref} ({digest[:19]})" for ref, digest in missing)
    shown_found = ", ".join(f"{ref} ({by_ref[ref][:19]})" if ref in by_ref else f"no {ref}" for ref, _ in missing)
    return shown_expected, shown_found


Hashed = tuple[str, ArchiveInfo | None, ArchiveError | None]
"""A file's sha256, what its index says (images), or why the index could not be read."""


class FileHasher:
    """Reads each file once, however many manifest entries list it.

    A manifest may name one file many times (64 entries of one 32 MiB archive would
    otherwise mean 2 GiB read); files are told apart by device and inode, so another
    spelling of the path or a hard link is the same file. Safe to share between threads:
    a second caller waits for the first one's result.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[tuple[int, int, bool], Future[Hashed]] = {}

    def __call__(self, path: Path, inspect: bool, on_bytes: Callable[[int], None] | None = None) -> Hashed:
        """``(sha256, archive info, archive problem)`` of ``path``; ``inspect`` also reads an image's index."""
        info = path.stat()
        key = (info.st_dev, info.st_ino, inspect)
        with self._lock:
            future = self._results.get(key)
            first = future is None
            if future is None:
                future = self._results[key] = Future()
        if first:
            try:
                future.set_result(_hash(path, inspect, on_bytes))
            except BaseException as exc:  # noqa: BLE001 - every caller waiting on this file gets it
                future.set_exception(exc)
        return future.result()


def _hash(path: Path, inspect: bool, on_bytes: Callable[[int], None] | None) -> Hashed:
    if not inspect:
        return hash_file(path, on_bytes=on_bytes)[0], None, None
    try:
        digest, _, info = hash_and_inspect(path, on_bytes=on_bytes)
    except ArchiveError as exc:
        # Unreadable but maybe still the right bytes: the checksum decides which message helps.
        return hash_file(path)[0], None, exc
    return digest, info, None


def check_file(bundle: Path, component: str, kind: str, entry: FileEntry, *, check_refs: bool = True,
               on_bytes: Callable[[int], None] | None = None, hasher: FileHasher | None = None) -> FileCheck:
    """Verify one listed file (and, for a snap, its assertion); ``hasher`` shares reads between entries."""
    try:
        path = bundle_path(bundle, entry.file)
    except UnsafeBundleFile as exc:
        if exc.kind == "missing" and not os.path.islink(bundle / entry.file):
            return FileCheck(entry.file, kind, component, "missing", expected=f"{entry.size} bytes",
                             found="no such file")
        return FileCheck(entry.file, kind, component, "unsafe" if exc.kind in ("outside", "special", "folder")
                         else "unreadable", detail=exc.reason)
    size = path.stat().st_size
    if size != entry.size:
        return FileCheck(entry.file, kind, component, "size", expected=f"{entry.size} bytes", found=f"{size} bytes")
    hasher = hasher or FileHasher()
    try:
        digest, info, problem = hasher(path, kind == "image" and check_refs, on_bytes)
    except OSError as exc:
        return FileCheck(entry.file, kind, component, "unreadable", detail=f"cannot read: {exc}")
    if problem is not None:
        if digest != entry.sha256:
            return FileCheck(entry.file, kind, component, "sha256", expected=entry.sha256, found=digest)
        return FileCheck(entry.file, kind, component, "unreadable", detail=problem.detail(path))
    if digest != entry.sha256:
        return FileCheck(entry.file, kind, component, "sha256", expected=entry.sha256, found=digest)
    if isinstance(entry, ImageEntry) and info is not None:
        mismatch = _compare_refs(entry, info)
        if mismatch:
            return FileCheck(entry.file, kind, component, "refs", expected=mismatch[0], found=mismatch[1])
    if isinstance(entry, SnapEntry):
        assertion = FileEntry(file=entry.assert_file, sha256=entry.assert_sha256,
                              size=entry.assert_size if entry.assert_size is not None
                              else _size_or_zero(bundle / entry.assert_file))
        result = check_file(bundle, component, "assert", assertion, hasher=hasher)
        if not result.ok:
            return result
    return FileCheck(entry.file, kind, component, "ok", expected=entry.sha256, found=digest)


def _size_or_zero(path: Path) -> int:
    try:
        return path.lstat().st_size  # never through a link: check_file then says what the file is
    except OSError:
        return 0


def _unlisted(bundle: Path, manifest: Manifest) -> list[str]:
    listed = {entry.file for _, _, entry in manifest.files()}
    listed |= {entry.assert_file for _, _, entry in manifest.files() if isinstance(entry, SnapEntry)}
    extra = []
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle).as_posix()
        if path.is_file() and rel not in listed and rel not in (MANIFEST_NAME, SIGNATURE_NAME) \
                and not rel.endswith(".md") \
                and not any(part.startswith(".") for part in path.relative_to(bundle).parts):
            extra.append(rel)
    return extra


def verify_bundle(bundle: Path, manifest: Manifest, *, jobs: int = 2, components: list[str] | None = None,
                  check_refs: bool = True, on_progress: OnProgress | None = None,
                  cancel: threading.Event | None = None) -> VerifyReport:
    """Check every file of ``manifest`` (or of ``components`` only) in ``bundle``.

    Never raises for a bad file: each verdict is in the report. Raises
    :class:`BundleError` only if the folder itself is missing.
    """
    if not bundle.is_dir():
        msg = f"bundle folder {bundle} does not exist"
        raise BundleError(msg, "Give the offline-images folder with --bundle DIR.")
    wanted = [(c, k, e) for c, k, e in manifest.files() if components is None or k == "wheel" or c in components]
    total = sum({entry.file: entry.size for _, _, entry in wanted}.values())  # a file listed twice is read once
    hasher = FileHasher()
    done = 0
    lock = threading.Lock()

    def advance(count: int) -> None:
        nonlocal done
        with lock:
            done += count
            current = done
        if on_progress is not None:
            on_progress(current, total)

    def one(item: tuple[str, str, FileEntry]) -> FileCheck:
        if cancel is not None and cancel.is_set():
            return FileCheck(item[2].file, item[1], item[0], "unreadable", detail="not checked: cancelled")
        return check_file(bundle, item[0], item[1], item[2], check_refs=check_refs, on_bytes=advance, hasher=hasher)

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="verify") as pool:
        checks = list(pool.map(one, wanted))
    report = VerifyReport(bundle, checks, _unlisted(bundle, manifest) if components is None else [], done)
    for check in report.failures:
        _LOGGER.warning("%s", check.message)
    return report
