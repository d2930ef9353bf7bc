"""Import the bundle's image archives into containerd (or Docker), fast and safely.

The work, per archive:

1. **Skip** it when every image it holds is already present under its refs with the
   same image ID (config digest). One ``ctr images ls`` answers for the whole
   bundle; the ID of a present ref comes from the ``sha256:<id>`` alias the CRI
   plugin keeps for each image, else from one ``ctr content get``. A different
   image under the same tag is therefore re-imported, not skipped.
2. **Verify** size and sha256 against the manifest, in a thread that runs ahead of
   the imports, so hashing the next file overlaps importing this one.
3. **Import** by streaming the file through an in-process decompressor into
   ``ctr images import -`` (containerd 1.6/1.7 do not decompress), in a few parallel
   lanes, retrying errors that come from concurrent imports sharing layers. The
   stream's image names are taken out, so ``ctr`` creates only a staged
   ``STAGING@sha256:...`` ref and no real ref moves before the image is unpacked.
4. **Name and pin**: tag each ref to its staged image (found by image ID), pin it
   (``io.cri-containerd.pinned=pinned``, so kubelet's image GC leaves it alone), drop
   the staged name, and check that the ref now holds the expected image ID.

One failing archive does not stop the others, and a failure touches no real ref:
the image a tag held before stays, with its pin. The report lists every archive.
Memory stays at a few chunks per lane whatever the archive size.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from installer.bundle.archive import ArchiveError, decompressed_chunks, hash_and_inspect
from installer.bundle.imageref import normalize_ref
from installer.bundle.manifest import ImageEntry, host_platform
from installer.bundle.safefile import UnsafeBundleFile, listed_path
from installer.bundle.scan import ScanResult, clash_message, ref_clashes
from installer.bundle.unnamed import UnnamableArchive, strip_names
from installer.bundle.verify import compare_images
from installer.engine.commands import CommandRunner
from installer.engine.events import EventSink, ItemFinished, LogLine, NullSink, StepProgress
from installer.engine.files import atomic_write
from installer.engine.lock import TargetLock
from installer.engine.safeparse import load_json
from installer.engine.sizes import human_bytes
from installer.errors import CommandFailed, ExitCode, InstallerError, StepFailed
from installer.probes.disk import mount_point, nearest_existing

_LOGGER: Final = logging.getLogger(__name__)

MICROK8S_SOCKET: Final = Path("/var/snap/microk8s/common/run/containerd.sock")
MICROK8S_CTR: Final = Path("/snap/microk8s/current/bin/ctr")
MICROK8S_SNAP_COMMON: Final = "/var/snap/microk8s/common"
DEFAULT_NAMESPACE: Final = "k8s.io"
PINNED_LABEL: Final = "io.cri-containerd.pinned"
PROGRESS_INTERVAL: Final = 0.1
"""Seconds between progress events of one archive (front ends need no more)."""
_NOT_RETRYABLE: Final = ("archive/tar", "unexpected eof", "unrecognized image format", "invalid tar header",
                         "no such file", "not a readable", "zstd", "gzip", "program not found",
                         "no space left on device", "did not finish within", "wrong diff id",
                         "mismatched image rootfs")
_BAD_ARCHIVE: Final = ("archive/tar", "invalid tar header", "unrecognized image format", "wrong diff id",
                       "mismatched image rootfs")
"""What ``ctr images import`` says when the archive's content is wrong (seen with containerd 1.6.20: a layer
that is not a tar, or whose content does not match the config's ``rootfs.diff_ids``): bad input, not the store."""
IMPORT_TIMEOUT: Final = 600.0
"""Seconds an archive's import may take on top of its size at :data:`MIN_IMPORT_RATE`."""
MIN_IMPORT_RATE: Final = 2e6
"""Bytes per second below which ``ctr images import`` is taken as hung (containerd does 60-80 MB/s)."""
_DISK_FULL: Final = "no space left on device"
_PATH_IN_TEXT: Final = re.compile(r"""(?:^|[\s"'(=])(/[^\s:'"()]+)""")
_INDEX_TYPES: Final = ("application/vnd.oci.image.index.v1+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json")

STAGING_PREFIX: Final = "import.offline-installer.invalid/staging/"
"""Names ``ctr`` gives images while they are imported; a real ref moves only once one is complete."""
BACKUP_PREFIX: Final = "import.offline-installer.invalid/backup/"
"""Names that keep what a ref held while it is retargeted (see :meth:`ContainerdStore._retarget`)."""
LEASE_WINDOW: Final = 30.0
"""Seconds after its start within which a ``ctr`` whose end is unknown has taken its lease."""
_LEASE_EXPIRY: Final = "containerd.io/gc.expire"
MAX_MANIFEST_BYTES: Final = 4 << 20
"""Largest image manifest or index read back from containerd (its resolver takes about 4 MiB from a
registry: ``MaxManifestSize``, ``remotes/docker/resolver.go``, containerd v1.6.20)."""

ItemStatus = Literal["ok", "skipped", "failed"]


def _is_staged(ref: str, prefix: str) -> bool:
    return ref.startswith((prefix + "@", prefix + ":"))


# --- what to import ------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedImage:
    """One image an archive should put in the store."""

    refs: tuple[str, ...]
    """Normalised refs."""
    digest: str
    """Config digest (image ID)."""


@dataclass(frozen=True)
class ImportItem:
    """One archive to import."""

    name: str
    """How it is shown: the path relative to the bundle."""
    path: Path
    size: int
    sha256: str | None
    """Expected sha256; None for a hand-assembled folder (nothing to verify against)."""
    images: tuple[ExpectedImage, ...]
    component: str = ""
    problem: str = ""
    """Why the archive must not be imported at all (it fails with this reason, as a bad file)."""

    @property
    def refs(self) -> tuple[str, ...]:
        """Every normalised ref of the archive."""
        return tuple(ref for image in self.images for ref in image.refs)

    @property
    def label(self) -> str:
        """How people know the archive: its image refs (the file name when it names none)."""
        return ", ".join(self.refs) or self.name

    @classmethod
    def from_entry(cls, bundle: Path, component: str, entry: ImageEntry) -> ImportItem:
        """An item from a manifest entry."""
        return cls(entry.file, bundle / entry.file, entry.size, entry.sha256,
                   tuple(ExpectedImage(tuple(i.refs), i.digest) for i in entry.contents()), component)


@dataclass(frozen=True)
class ItemResult:
    """How one archive ended."""

    item: ImportItem
    status: ItemStatus
    reason: str = ""
    attempts: int = 0
    bytes: int = 0
    seconds: float = 0.0
    bad_bundle: bool = False
    """True when the file itself is wrong (missing, checksum), not the store."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form (see offline-images/README.md)."""
        return {"file": self.item.name, "component": self.item.component, "refs": list(self.item.refs),
                "status": self.status, "reason": self.reason, "attempts": self.attempts,
                "bytes": self.bytes, "seconds": round(self.seconds, 3)}


@dataclass
class ImportReport:
    """Every archive's outcome."""

    target: str
    results: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing failed and the run was not cancelled."""
        return not self.cancelled and all(r.status != "failed" for r in self.results)

    @property
    def failed(self) -> list[ItemResult]:
        """The failures, in bundle order."""
        return [r for r in self.results if r.status == "failed"]

    def count(self, status: ItemStatus) -> int:
        """How many archives ended with ``status``."""
        return sum(1 for r in self.results if r.status == status)

    @property
    def exit_code(self) -> ExitCode:
        """0 all done; 2 a file of the bundle is wrong; 1 the store refused an image; 130 cancelled."""
        if self.cancelled:
            return ExitCode.INTERRUPTED
        if any(r.bad_bundle for r in self.failed):
            return ExitCode.BAD_INPUT
        return ExitCode.STEP_FAILED if self.failed else ExitCode.OK

    def summary(self) -> str:
        """One line for people."""
        size = sum(r.bytes for r in self.results if r.status == "ok")
        text = (f"{self.count('ok')} imported ({size / 1e6:.0f} MB), {self.count('skipped')} already present, "
                f"{self.count('failed')} failed, of {len(self.results)} archives, in {self.seconds:.1f} s")
        return text + (" (cancelled)" if self.cancelled else "")

    def to_dict(self) -> dict[str, Any]:
        """The ``import --json`` document."""
        return {"target": self.target, "ok": self.ok, "cancelled": self.cancelled,
                "seconds": round(self.seconds, 3),
                "counts": {s: self.count(s) for s in ("ok", "skipped", "failed")},
                "total": len(self.results),
                "bytes_total": sum(r.item.size for r in self.results),
                "bytes_imported": sum(r.bytes for r in self.results if r.status == "ok"),
                "items": [r.to_dict() for r in self.results]}


# --- where images go -----------------------------------------------------------------------


class ImageStore(Protocol):
    """A place images are imported into: containerd (through ``ctr``) or Docker."""

    description: str
    hint: str
    """What to check when the store refuses an image (shown under the failures)."""

    def present(self, refs: Iterable[str]) -> dict[str, str]:
        """``ref -> image ID`` for those of ``refs`` the store holds."""

    def load(self, item: ImportItem, chunks: Iterator[bytes], *, timeout: float, hint: str) -> None:
        """Import one uncompressed archive read from ``chunks``; raise CommandFailed on failure.

        A ref the item names must not move before :meth:`after_load`.
        """

    def after_load(self, item: ImportItem) -> None:
        """Name and pin what was just imported."""

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Held for a whole run: no other import into the same store meanwhile."""

    def settle(self) -> None:
        """Free now what failed imports left unreferenced (before trying again on a full disk)."""

    def ensure_pinned(self, refs: Iterable[str]) -> None:
        """Pin refs that are present but not pinned (a skipped archive from an older run)."""

    def discard(self, item: ImportItem) -> None:
        """Remove what a failed import staged (never what a ref held before)."""


def default_ctr(runner: CommandRunner) -> str:
    """MicroK8s's own ``ctr`` when installed (it matches its containerd), else ``ctr`` on PATH."""
    return str(MICROK8S_CTR) if MICROK8S_CTR.exists() else "ctr"


class ContainerdStore:
    """containerd through ``ctr -a SOCKET -n NAMESPACE`` (what ``microk8s ctr`` runs)."""

    def __init__(self, runner: CommandRunner, socket: Path = MICROK8S_SOCKET, namespace: str = DEFAULT_NAMESPACE,
                 ctr: str | None = None, platform: str | None = None) -> None:
        self.runner = runner
        self.socket = Path(socket)
        self.namespace = namespace
        self.ctr = ctr or default_ctr(runner)
        self.platform = platform or host_platform()
        self.description = f"containerd at {self.socket} (namespace {namespace})"
        self.hint = self._hint()
        self._configs: dict[str, str] = {}
        """Target digest -> config digest; content-addressed, so never stale."""
        self._labels: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        self._snapshotter: str | None = None
        """MicroK8s's snapshotter once known (``""``: unknown, ctr's default)."""
        self._journal: Path | None = None
        self._failed_loads = False
        self._imports_started = False
        self._windows: dict[int, tuple[float, float | None]] = {}
        """``ctr images import`` runs that have not ended well: (start, end or None while running)."""
        self._next_window = 0
        self._backups: dict[str, str] = {}
        """Backup name -> ref, while the ref is being retargeted."""
        self._naming = threading.Lock()

    def _argv(self, *args: str) -> list[str]:
        return [self.ctr, "-a", str(self.socket), "-n", self.namespace, *args]

    def _hint(self) -> str:
        return (f"Is containerd running on {self.socket}, with free disk space? For MicroK8s: `microk8s status "
                "--wait-ready`; for another containerd pass --containerd-socket PATH (and --namespace).")

    def _listing(self) -> list[tuple[str, str, set[str]]]:
        if not self.socket.exists():
            if self.runner.dry_run:
                return []  # MicroK8s not installed yet: nothing is present (ctr would wait 10 s to say so)
            msg = f"cannot list images in {self.description}: the socket does not exist"
            raise StepFailed(msg, self._hint())
        # Unmasked: a profile password that is part of an image name must not change the names compared.
        result = self.runner.run(self._argv("images", "ls"), timeout=60, check=False, mutates=False, raw_stdout=True)
        if not result.ok:
            if self.runner.dry_run:
                return []
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            msg = f"cannot list images in {self.description}: {detail[0]}"
            raise StepFailed(msg, self._hint())
        rows = []
        for line in result.stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) < 4 or not parts[2].startswith("sha256:"):
                continue
            labels = set(parts[-1].split(",")) if "=" in parts[-1] else set()
            rows.append((parts[0], parts[2], labels))
        return rows

    def _config_of(self, target: str) -> str | None:
        for _ in range(4):
            result = self.runner.run(self._argv("content", "get", target), timeout=60, check=False, mutates=False)
            if not result.ok:
                return None
            try:  # a store's content is not trusted either: bounded like any document the installer reads
                document = load_json(result.stdout, f"content {target}", max_bytes=MAX_MANIFEST_BYTES)
            except ValueError:  # not JSON, or a limit crossed (DocumentLimit, also for a RecursionError)
                return None
            if not isinstance(document, dict):
                return None
            if document.get("mediaType") in _INDEX_TYPES or "manifests" in document:
                wanted = self.platform.split("/")
                chosen = [m for m in document.get("manifests") or [] if isinstance(m, dict)
                          and [(m.get("platform") or {}).get(k) for k in ("os", "architecture")] == wanted[:2]]
                if not chosen or not isinstance(chosen[0].get("digest"), str):
                    return None
                target = chosen[0]["digest"]
                continue
            config = document.get("config")
            digest = config.get("digest") if isinstance(config, dict) else None
            return digest if isinstance(digest, str) else None
        return None

    def present(self, refs: Iterable[str]) -> dict[str, str]:
        """``ref -> image ID``: one listing, plus ``ctr content get`` for refs without a CRI alias."""
        wanted = set(refs)
        rows = self._listing()
        aliases = {target: ref for ref, target, _ in rows if ref.startswith("sha256:")}
        found: dict[str, str] = {}
        with self._lock:
            self._labels = {ref: labels for ref, _, labels in rows}
        for ref, target, _ in rows:
            if ref not in wanted:
                continue
            with self._lock:
                config = self._configs.get(target) or aliases.get(target)
            if config is None:
                config = self._config_of(target)
            if config is not None:
                with self._lock:
                    self._configs[target] = config
                found[ref] = config
        return found

    def _staging(self, item: ImportItem) -> str:
        """The name ``ctr`` gives ``item``'s images while they are imported (``PREFIX@sha256:...``)."""
        return f"{STAGING_PREFIX}{hashlib.sha256(str(item.path).encode()).hexdigest()[:16]}"

    def load(self, item: ImportItem, chunks: Iterator[bytes], *, timeout: float, hint: str) -> None:
        """``ctr images import -`` fed with the decompressed stream, under staged names only.

        The stream has its image names taken out (:func:`strip_names`), so ``ctr``
        creates nothing but ``STAGING@sha256:<manifest>`` refs: a real ref is moved
        by :meth:`after_load`, once the image is unpacked, never by ``ctr``. The
        journal records when each ``ctr`` ran until it ends well: a killed or failed
        one may leave its lease, and only leases of that window are released.
        """
        window = self._open_window()
        ended = False
        try:
            self.runner.run(self._argv("images", "import", *self._snapshotter_args(), "--base-name",
                                       self._staging(item), "--digests", "-"),
                            stdin=strip_names(chunks), timeout=timeout, hint=hint)
            ended = True
        except BaseException:
            self._failed_loads = True  # a killed ctr, or one whose containerd died, leaves its lease
            raise
        finally:
            self._close_window(window, ended)

    def _snapshotter_args(self) -> list[str]:
        """``--snapshotter NAME`` as ``microk8s ctr`` sets it, for MicroK8s's own containerd only.

        microk8s (1.30-1.35) ``microk8s-resources/wrappers/microk8s-ctr.wrapper`` exports
        ``CONTAINERD_SNAPSHOTTER=$(snapshotter)``, and ``actions/common/utils.sh``
        ``snapshotter()`` answers ``native`` when ``stat -f -c %T $SNAP_COMMON`` is ``zfs``,
        else ``overlayfs`` (the same value goes into containerd.toml). Unpacked into another
        snapshotter, the images are unusable to pods on ZFS. Another containerd keeps its default.
        """
        if self.socket != MICROK8S_SOCKET:
            return []
        with self._lock:
            if self._snapshotter is None:
                result = self.runner.run(["stat", "-f", "-c", "%T", MICROK8S_SNAP_COMMON], timeout=30, check=False,
                                         mutates=False)
                fstype = result.stdout.strip() if result.ok else ""
                self._snapshotter = ("native" if fstype == "zfs" else "overlayfs") if fstype else ""
            return ["--snapshotter", self._snapshotter] if self._snapshotter else []

    def after_load(self, item: ImportItem) -> None:
        """Point every ref at its unpacked image, pin it, and drop the staged names.

        Each expected image is found among the staged ones by its image ID; a ref whose
        image is not there is left untouched (the check after this names it). The refs
        are moved by :meth:`_retarget`, one archive at a time (two archives may name one
        ref with one image).
        """
        prefix = self._staging(item)
        with self._naming:
            rows = self._listing()
            aliases = {target: ref.removeprefix("sha256:") for ref, target, _ in rows if ref.startswith("sha256:")}
            staged = {ref: target for ref, target, _ in rows if _is_staged(ref, prefix)}
            current = {ref: (target, labels) for ref, target, labels in rows}
            by_config: dict[str, str] = {}
            for ref, target in staged.items():
                alias = aliases.get(target)
                config = self._configs.get(target) or (f"sha256:{alias}" if alias else None) or self._config_of(target)
                if config is not None:
                    with self._lock:
                        self._configs[target] = config
                    by_config.setdefault(config, ref)
            retargeted = set()
            for image in item.images:
                source = by_config.get(image.digest)
                if source is not None and image.refs:
                    self._retarget(source, staged[source], image.refs, current)
                    retargeted.add(staged[source])
            self._remove_staged(lambda ref: _is_staged(ref, prefix), rows=rows, retargeted=retargeted)

    def _retarget(self, source: str, target: str, refs: Sequence[str],
                  current: dict[str, tuple[str, set[str]]]) -> None:
        """Tag ``refs`` to ``source`` (whose target is ``target``) and pin them, never losing what a ref held.

        ``ctr images tag --force`` is not one step: it tries Create, and on AlreadyExists
        it Deletes the old record and Creates the new one, three calls
        (``cmd/ctr/commands/images/tag.go``, containerd v1.6.20 and v1.7.34). containerd
        dying, or its metadata write failing (a full disk), between the Delete and the
        Create leaves the ref gone. So a ref that holds another image is first copied
        to a backup name (``ctr images tag`` copies the target and the labels, the pin
        included), recorded in the journal before anything moves. If the retag or the
        pin fails, each ref is tagged back from its backup; if that fails too (containerd
        is down), the journal keeps the backup and the next run restores it
        (:meth:`_restore`). Once the refs are pinned, the journal drops the backups and
        they are removed. A ref that already holds ``target`` is only pinned, not retagged.
        """
        moving = [ref for ref in refs if current.get(ref, ("", set()))[0] != target]
        with self._lock:  # a backup an earlier failed attempt could not put back holds the image from before the run
            outstanding = {backup: ref for backup, ref in self._backups.items() if ref in refs}
        backups = {self._backup_name(ref): ref for ref in moving
                   if ref in current and self._backup_name(ref) not in outstanding}
        if backups and not self._journal_backups(add=backups):  # before anything moves: the next run undoes it
            msg = f"cannot record the import journal, so {', '.join(backups.values())} was not moved"
            raise StepFailed(msg, "Free space where the lock lives (/run or /tmp), then import again.")
        try:
            for backup, ref in backups.items():
                self.runner.run(self._argv("images", "tag", "--force", ref, backup), timeout=60)
            if moving:
                self.runner.run(self._argv("images", "tag", "--force", source, *moving), timeout=60)
            for ref in refs:
                if ref in moving or f"{PINNED_LABEL}=pinned" not in current.get(ref, ("", set()))[1]:
                    self.runner.run(self._argv("images", "label", ref, f"{PINNED_LABEL}=pinned"), timeout=60)
        except BaseException:
            if backups:
                try:
                    self._restore(backups)
                except Exception as exc:  # noqa: BLE001 - the journal keeps the backups: the next run restores them
                    _LOGGER.warning("could not put back %s yet (the next import does): %s",
                                    ", ".join(backups.values()), _reason(exc))
            raise
        # Every ref now holds what this import asked for: no backup of them may be put back later.
        done = {**outstanding, **backups}
        self._journal_backups(drop=done)
        if done and not self.runner.run(self._argv("images", "rm", *done), timeout=60, check=False).ok:
            self._failed_loads = True  # the run's clean-up (or the next run) removes the backups

    @staticmethod
    def _backup_name(ref: str) -> str:
        return f"{BACKUP_PREFIX}{hashlib.sha256(ref.encode()).hexdigest()[:24]}"

    def _restore(self, backups: dict[str, str]) -> None:
        """Tag each ref back to its backup where it differs; then the backups are no longer needed.

        A backup that does not exist was never made (the run stopped before), so its ref
        was not touched. Raises (StepFailed or CommandFailed) when containerd does not answer;
        the backups stay in the journal then.
        """
        rows = {ref: (target, labels) for ref, target, labels in self._listing()}
        for backup, ref in backups.items():
            if backup in rows and rows.get(ref) != rows[backup]:
                _LOGGER.info("putting %s back on the image it held before the import", ref)
                self.runner.run(self._argv("images", "tag", "--force", backup, ref), timeout=60)
        self._journal_backups(drop=backups)
        present = [backup for backup in backups if backup in rows]
        if present and not self.runner.run(self._argv("images", "rm", *present), timeout=60, check=False).ok:
            self._failed_loads = True

    def ensure_pinned(self, refs: Iterable[str]) -> None:
        """Pin present refs that lack the label (one call each, only where needed)."""
        with self._lock:
            labels = dict(self._labels)
        for ref in refs:
            if f"{PINNED_LABEL}=pinned" not in labels.get(ref, set()):
                self.runner.run(self._argv("images", "label", ref, f"{PINNED_LABEL}=pinned"), timeout=60)


    def discard(self, item: ImportItem) -> None:
        """Remove what a failed import of ``item`` staged; never a real ref.

        ``ctr`` records an image before unpacking it, so a layer it cannot unpack
        leaves a staged ref without a usable snapshot: it is removed, so its content
        is freed. The refs the item names were never touched (see :meth:`load`), so
        the image they held before, and its pin, stay as they were.
        """
        prefix = self._staging(item)
        self._remove_staged(lambda ref: _is_staged(ref, prefix))

    def _remove_staged(self, staged: Callable[[str], bool], timeout: float = 60,
                       rows: list[tuple[str, str, set[str]]] | None = None, retargeted: Iterable[str] = ()) -> bool:
        """Remove the refs ``staged(ref)`` accepts, and the CRI ``sha256:<ID>`` alias only they used.

        The CRI plugin adds that alias to every image it sees; left alone it would keep
        a failed import's content (and the disk space it holds) alive. ``rows`` is a
        listing taken before real refs were tagged to the ``retargeted`` targets. False when
        ``ctr images rm`` failed.
        """
        rows = self._listing() if rows is None else rows
        gone = {target for ref, target, _ in rows if staged(ref)}
        if not gone:
            return True
        kept = {target for ref, target, _ in rows if not staged(ref) and not ref.startswith("sha256:")}
        kept.update(retargeted)
        doomed = [ref for ref, target, _ in rows
                  if staged(ref) or (ref.startswith("sha256:") and target in gone - kept)]
        if not self.runner.run(self._argv("images", "rm", *doomed), timeout=timeout, check=False).ok:
            self._failed_loads = True  # cleaned again at the end of the run, or by the next one
            return False
        return True

    # --- one run at a time per containerd, and what a killed run left ---------------------

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock on this containerd for a run; clean what an earlier, interrupted run left.

        A run keeps a journal beside the lock while it may leave something behind:
        the time window of each ``ctr images import`` that has not ended well (a killed
        ``ctr`` leaves its lease, with its active ingests, holding the partial content
        for 24 hours) and the backups of refs being retargeted (:meth:`_retarget`). A
        journal found at the start means the last run was killed or interrupted: its
        backups are put back, its staged refs removed and the leases of its ``ctr``
        windows released first. A run whose own imports failed cleans the same way at
        its end. A run that never started an import (containerd was not there) leaves
        no journal. A clean run costs no extra ``ctr`` call.
        """
        if self.runner.dry_run:
            yield
            return
        with TargetLock(str(self.socket)) as lock:
            journal = lock.path.with_name(lock.path.stem + ".journal.json")
            if journal.exists():
                problem = self._clean_leftovers(journal)
                if problem is not None:
                    msg = f"cannot clean up after an interrupted import in {self.description}: {problem}"
                    raise StepFailed(msg, self._hint())
                journal.unlink(missing_ok=True)
            self._journal, self._failed_loads, self._imports_started = journal, False, False
            self._windows, self._backups, self._next_window = {}, {}, 0
            self._save_journal()
            try:
                yield
            except BaseException:
                with self._lock:
                    self._journal = None  # interrupted: its ctr may still be ending; the next run cleans up
                    untouched = not self._imports_started and not self._backups
                if untouched:  # nothing ran that could have left anything
                    journal.unlink(missing_ok=True)
                raise
            with self._lock:
                self._journal = None
                windows, backups = list(self._windows.values()), dict(self._backups)
            if not self._failed_loads and not windows and not backups:
                journal.unlink(missing_ok=True)
            elif self._clean_up(windows, backups) is None:
                journal.unlink(missing_ok=True)  # else containerd is down: the next run cleans up

    def _clean_leftovers(self, journal: Path) -> str | None:
        """What the run that wrote ``journal`` left; the reason when containerd does not answer."""
        try:
            document = load_json(journal.read_bytes(), journal, max_bytes=1 << 20)
            windows = [(float(start), None if end is None else float(end)) for start, end in document["imports"]]
            backups = {str(backup): str(ref) for backup, ref in document["backups"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # unreadable: staged refs only (its leases expire in 24 h; backups are kept, as their refs are unknown)
            _LOGGER.warning("the journal %s of an interrupted import is unreadable; cleaning staged images only",
                            journal)
            windows, backups = [], None
        _LOGGER.info("cleaning up after an interrupted import into %s", self.description)
        return self._clean_up(windows, backups)

    def _clean_up(self, windows: list[tuple[float, float | None]], backups: dict[str, str] | None) -> str | None:
        """Put ``backups`` back, remove every staged ref and those backups, release the leases of ``windows``.

        None when done, else why not (containerd does not answer). ``backups`` None: the
        journal was unreadable, so no backup is removed (one may hold the only copy of an image).
        """
        try:
            if backups:
                self._restore(backups)
            recorded = set(backups or {})  # an unrecorded backup may hold the only copy of an image: kept

            def ours(ref: str) -> bool:
                return ref.startswith(STAGING_PREFIX) or ref in recorded

            if not self._remove_staged(ours, timeout=120):
                return "containerd did not remove the staged images (see the log)"
        except InstallerError as exc:
            return exc.message.removeprefix(f"cannot list images in {self.description}: ")
        return None if self._release_leases(windows) else "containerd did not list or release its leases"

    def _save_journal(self) -> bool:
        """Write the journal (under ``self._lock`` or before the lanes start); a failed write is logged (False)."""
        if self._journal is None:
            return True
        document = {"started": time.time(), "imports": list(self._windows.values()), "backups": self._backups}
        try:
            atomic_write(self._journal, json.dumps(document).encode(), 0o600)
        except OSError as exc:
            _LOGGER.warning("cannot write the import journal %s: %s", self._journal, exc)
            return False
        return True

    def _open_window(self) -> int:
        """Record that a ``ctr images import`` starts now; returns its key for :meth:`_close_window`."""
        with self._lock:
            self._imports_started = True
            key = self._next_window
            self._next_window += 1
            self._windows[key] = (time.time(), None)
            self._save_journal()
            return key

    def _close_window(self, key: int, ended: bool) -> None:
        """Forget the window of a ``ctr`` that ended well (it deleted its lease), else record its end."""
        with self._lock:
            start, _ = self._windows.pop(key, (time.time(), None))
            if not ended:
                self._windows[key] = (start, time.time())
            self._save_journal()

    def _journal_backups(self, add: dict[str, str] | None = None, drop: Iterable[str] = ()) -> bool:
        """Record backups made or no longer needed; False when the journal could not be written."""
        with self._lock:
            self._backups.update(add or {})
            for backup in drop:
                self._backups.pop(backup, None)
            return self._save_journal()

    def _leases(self) -> dict[str, tuple[float, set[str]]] | None:
        """``lease ID -> (created, label keys)``; None when containerd does not answer."""
        result = self.runner.run(self._argv("leases", "ls"), timeout=60, check=False, mutates=False)
        if not result.ok:
            return None
        leases = {}
        for line in result.stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) < 2:
                continue
            try:
                created = datetime.fromisoformat(parts[1].replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
            labels = {label.split("=", 1)[0] for label in (parts[2].split(",") if len(parts) > 2 else [])}
            leases[parts[0]] = (created, labels)
        return leases

    def _release_leases(self, windows: Sequence[tuple[float, float | None]]) -> bool:
        """Delete the leases killed ``ctr images import`` runs left: nothing but an expiry, made in their window.

        ``ctr`` takes a lease with only ``containerd.io/gc.expire`` (24 h) and deletes it
        when it ends; killed, it cannot (``Client.WithLease`` in ``lease.go``;
        ``cmd/ctr/commands/images/import.go``, containerd v1.6.20 and v1.7.34). ``ctr`` has
        no flag to name or label that lease, and every containerd client's default lease
        (the CRI plugin's pulls too) looks the same, so only a lease created while one of
        our failed ``ctr`` runs was running is taken as ours. A ``ctr`` whose end was not
        recorded (the installer was killed) creates its lease first thing after connecting
        (10 s at most, ``client.go``): its window is :data:`LEASE_WINDOW` long. ``leases rm
        --sync`` runs the garbage collection synchronously on the last delete, and that also
        aborts the ingests no lease holds any more (``metadata/content.go`` ``garbageCollect``).
        ``leases ls`` shows whole seconds.
        """
        if not windows:
            return True
        leases = self._leases()
        if leases is None:
            return False
        bounds = [(int(start), start + LEASE_WINDOW if end is None else end) for start, end in windows]
        stale = [lease for lease, (created, labels) in leases.items()
                 if labels == {_LEASE_EXPIRY} and any(start <= created <= end for start, end in bounds)]
        if stale:
            _LOGGER.info("releasing %d lease(s) left by a killed import: %s", len(stale), " ".join(stale))
            return self.runner.run(self._argv("leases", "rm", "--sync", *stale), timeout=120, check=False).ok
        return True

    def settle(self) -> None:
        """Run containerd's garbage collection now: create a lease and delete it with ``--sync``.

        A synchronous delete collects everything unreferenced, including the content
        and ingests of imports that failed, which the normal schedule frees a little later.
        """
        created = self.runner.run(self._argv("leases", "create", "--expires", "1m"), timeout=60, check=False)
        lease = created.stdout.strip().splitlines()[-1:] if created.ok else []
        if lease:
            self.runner.run(self._argv("leases", "rm", "--sync", lease[0]), timeout=300, check=False)


class DockerStore:
    """Docker through ``docker load`` (for hosts that run Docker instead of MicroK8s)."""

    def __init__(self, runner: CommandRunner, host: str | None = None, docker: str = "docker") -> None:
        self.runner = runner
        self.docker = docker
        self.host = host
        self.description = f"docker at {host}" if host else "docker"
        self.hint = "Is the Docker daemon running and its disk not full? `docker info` tells; see the log for details."

    def _argv(self, *args: str) -> list[str]:
        return [self.docker, *(["-H", self.host] if self.host else []), *args]

    def present(self, refs: Iterable[str]) -> dict[str, str]:
        """``ref -> image ID`` from one ``docker image ls``."""
        wanted = set(refs)
        result = self.runner.run(self._argv("image", "ls", "--no-trunc",
                                            "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"),
                                 timeout=60, check=False, mutates=False)
        if not result.ok:
            if self.runner.dry_run:
                return {}
            msg = f"cannot list images in {self.description}: {(result.stderr or result.stdout).strip()[-300:]}"
            raise StepFailed(msg, "Is the Docker daemon running? Pass its socket with --docker-host.")
        found = {}
        for line in result.stdout.splitlines():
            name, _, image_id = line.strip().partition(" ")
            if "<none>" in name or not image_id:
                continue
            ref = normalize_ref(name)
            if ref in wanted:
                found[ref] = image_id
        return found

    def load(self, item: ImportItem, chunks: Iterator[bytes], *, timeout: float, hint: str) -> None:
        """``docker load`` fed with the decompressed stream (all or nothing)."""
        self.runner.run(self._argv("load", "-q"), stdin=chunks, timeout=timeout, hint=hint)

    def after_load(self, item: ImportItem) -> None:
        """Docker has no pin label; nothing to do."""

    def ensure_pinned(self, refs: Iterable[str]) -> None:
        """Docker has no pin label; nothing to do."""

    def discard(self, item: ImportItem) -> None:
        """``docker load`` is all-or-nothing; nothing to clean."""

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Docker serialises its own loads; nothing to hold."""
        return contextlib.nullcontext()

    def settle(self) -> None:
        """A failed ``docker load`` keeps nothing; nothing to free."""


WOULD_IMPORT: Final = "would be imported (dry-run)"
"""The reason of an archive a dry-run would import (:meth:`ImageImporter.predict`)."""


# --- progress ------------------------------------------------------------------------------


class _Progress:
    """Bytes per archive and overall; emits throttled :class:`StepProgress` events."""

    def __init__(self, sink: EventSink, step_id: str, overall_total: int, already: int) -> None:
        self.sink = sink
        self.step_id = step_id
        self.total = overall_total
        self.base = already
        self.done: dict[str, int] = {}
        self.last: dict[str, float] = {}
        self.lock = threading.Lock()

    def update(self, item: ImportItem, done: int, message: str, *, force: bool = False, counts: bool = True) -> None:
        now = time.monotonic()
        with self.lock:
            if counts:
                self.done[item.name] = done
            if not force and now - self.last.get(item.name, 0.0) < PROGRESS_INTERVAL:
                return
            self.last[item.name] = now
            overall = self.base + sum(self.done.values())
        self.sink.emit(StepProgress(step_id=self.step_id, done=done, total=item.size, item=item.name,
                                    overall_done=overall, overall_total=self.total, message=message,
                                    label=item.label))


# --- the importer --------------------------------------------------------------------------


def _reason(error: BaseException) -> str:
    """One line for the report: how the command ended and its last output line."""
    if isinstance(error, CommandFailed) and error.ended:
        program = error.message.removeprefix("`").split(" ", 1)[0].rsplit("/", 1)[-1]
        return f"{program} {error.ended}" + (f": {error.last_output}" if error.last_output else "")
    text = error.message if isinstance(error, InstallerError) else (str(error) or type(error).__name__)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def disk_full_reason(reason: str) -> str:
    """``reason`` plus the full filesystem and its free space, found from the path in ``ctr``'s message.

    containerd names the file it could not write (under its root), which is the one
    place the installer learns where containerd keeps its data.
    """
    for candidate in _PATH_IN_TEXT.findall(reason):
        existing = nearest_existing(Path(candidate))
        if existing == Path("/") and candidate != "/":
            continue
        try:
            usage = shutil.disk_usage(existing)
        except OSError:
            continue
        return (f"{reason} (the disk is full: {human_bytes(usage.free)} free of {human_bytes(usage.total)} on "
                f"{mount_point(existing)})")
    return f"{reason} (the disk holding containerd's data is full)"


def bad_archive(reason: str) -> bool:
    """True when containerd refused the archive's content (exit 2, fix the file) rather than failing itself."""
    lowered = reason.lower()
    if _DISK_FULL in lowered or "rpc error" in lowered:
        return False
    return any(marker in lowered for marker in _BAD_ARCHIVE) or (
        "failed to extract layer" in lowered and "unexpected eof" in lowered)


def _retryable(reason: str) -> bool:
    lowered = reason.lower()
    return not any(marker in lowered for marker in _NOT_RETRYABLE)


class ImageImporter:
    """Skips, verifies, imports and pins a list of archives into one :class:`ImageStore`.

    Args:
        store: where the images go.
        sink: receives ``StepProgress`` (bytes per archive and overall) and ``ItemFinished``.
        step_id: stamped on the events.
        jobs: parallel import lanes (containerd is CPU-bound: 2 is right for most hosts).
        retries: extra attempts after a failure that may be transient.
        cancel: set it to stop; the archive being streamed is cut short and not imported.
        timeout, min_rate: an archive's import is stopped after ``timeout + size / min_rate`` seconds.
    """

    def __init__(self, store: ImageStore, *, sink: EventSink | None = None, step_id: str = "import-images",
                 jobs: int = 2, retries: int = 2, retry_delay: float = 1.0,
                 cancel: threading.Event | None = None, timeout: float = IMPORT_TIMEOUT,
                 min_rate: float = MIN_IMPORT_RATE) -> None:
        self.store = store
        self.sink: EventSink = sink or NullSink()
        self.step_id = step_id
        self.jobs = max(1, jobs)
        self.retries = max(0, retries)
        self.retry_delay = retry_delay
        self.cancel = cancel or threading.Event()
        self.timeout = timeout
        """Seconds an import may take besides its size at ``min_rate``: a hung ``ctr`` is stopped, never waited on."""
        self.min_rate = min_rate
        self._overlapped: set[str] = set()
        """Archives whose import ran while another lane imported too."""

    # public ----------------------------------------------------------------------------

    def missing(self, items: Sequence[ImportItem]) -> list[ImportItem]:
        """The items whose images are not all present with the expected ID (one listing)."""
        present = self.store.present({ref for item in items for ref in item.refs})
        return [item for item in items if not self._is_present(item, present)]

    def run(self, items: Sequence[ImportItem]) -> ImportReport:
        """Import ``items``; never raises for one bad archive (see the report).

        Every item ends in the report as imported, present or failed, whatever goes
        wrong in the pipeline. Raises :class:`LockHeld` when another import into the
        same store runs.
        """
        start = time.monotonic()
        report = ImportReport(self.store.description)
        with self.store.exclusive():
            results = self._run_locked(items)
        for item in items:  # nothing may vanish from the count, even after a bug
            if item.name not in results:
                results[item.name] = ItemResult(item, "failed", "not imported: the import stopped before it")
                self._finished(results[item.name])
        report.results = [results[item.name] for item in items]
        report.cancelled = self.cancel.is_set()
        report.seconds = time.monotonic() - start
        self.sink.emit(LogLine(level="info" if report.ok else "error", message=f"images: {report.summary()}",
                               step_id=self.step_id))
        return report

    def predict(self, items: Sequence[ImportItem]) -> ImportReport:
        """What :meth:`run` would do, importing nothing (the dry-run): each archive present, to import, or bad.

        An archive to import is checked as :meth:`run` checks it first (size, sha256, its
        own index), so only a file that is really wrong is reported as failed; the rest
        end ``skipped`` with "would be imported" and their size in ``bytes``.
        """
        start = time.monotonic()
        report = ImportReport(self.store.description)
        present = self.store.present({ref for item in items if not item.problem for ref in item.refs})
        progress = _Progress(self.sink, self.step_id, sum(i.size for i in items), 0)
        for item in items:
            if item.problem:
                result = ItemResult(item, "failed", item.problem, bad_bundle=True)
            elif self._is_present(item, present):
                result = ItemResult(item, "skipped", "already present with the same image ID")
            else:
                checked = self._checked(item, progress)
                result = checked or ItemResult(item, "skipped", WOULD_IMPORT, bytes=item.size)
            report.results.append(result)
            self._finished(result)
        report.cancelled = self.cancel.is_set()  # as run() says it: the step then stops as interrupted, not failed
        report.seconds = time.monotonic() - start
        return report

    def _run_locked(self, items: Sequence[ImportItem]) -> dict[str, ItemResult]:
        results: dict[str, ItemResult] = {}
        for item in items:
            if item.problem:
                results[item.name] = ItemResult(item, "failed", item.problem, bad_bundle=True)
        present = self.store.present({ref for item in items if not item.problem for ref in item.refs})
        todo = []
        for item in items:
            if item.name in results:
                continue
            if self._is_present(item, present):
                results[item.name] = ItemResult(item, "skipped", "already present with the same image ID")
            else:
                todo.append(item)
        skipped = [r.item for r in results.values() if r.status == "skipped"]
        if skipped:
            self.store.ensure_pinned(ref for item in skipped for ref in item.refs)
        for result in results.values():
            self._finished(result)
        progress = _Progress(self.sink, self.step_id, sum(i.size for i in items), sum(i.size for i in skipped))
        results.update(self._pipeline(todo, progress))
        results.update(self._retry_disk_full(results, progress))
        return results

    def _retry_disk_full(self, results: dict[str, ItemResult], progress: _Progress) -> dict[str, ItemResult]:
        """Import again, one at a time, what failed for a full disk while another lane was importing.

        Two lanes share the free space: two images that each fit alone can both fail
        together. Once the lanes have drained (and the failed content is freed), each
        such archive gets one attempt on its own, so "one fits" never ends as "none".
        """
        full = [r.item for r in results.values()
                if r.status == "failed" and _DISK_FULL in r.reason.lower() and r.item.name in self._overlapped]
        if not full or self.cancel.is_set():
            return {}
        self.sink.emit(LogLine(level="warning", step_id=self.step_id,
                               message=f"the disk filled while {self.jobs} archives were imported at once; "
                                       f"trying {len(full)} of them again one at a time"))
        self.store.settle()
        retried: dict[str, ItemResult] = {}
        for item in full:
            if self.cancel.is_set():
                break
            result = self._guarded(self._import, item, progress)
            retried[item.name] = result
            self._finished(result)
        return retried

    # internals -------------------------------------------------------------------------

    @staticmethod
    def _is_present(item: ImportItem, present: dict[str, str]) -> bool:
        return bool(item.refs) and all(present.get(ref) == image.digest for image in item.images for ref in image.refs)

    def _finished(self, result: ItemResult) -> None:
        """One :class:`ItemFinished` per archive for front ends; the same in words for the log file only.

        Front ends show items from the event; a second, visible log line would print every
        archive (and every failure) twice.
        """
        self.sink.emit(ItemFinished(step_id=self.step_id, item=result.item.name,
                                    status=result.status, reason=result.reason, label=result.item.label))
        verb = {"ok": "imported", "skipped": "already present", "failed": "FAILED"}[result.status]
        tail = f": {result.reason}" if result.status == "failed" else ""
        self.sink.emit(LogLine(level="debug", message=f"{verb}: {result.item.name}{tail}", step_id=self.step_id))

    def _verify(self, item: ImportItem, progress: _Progress) -> ItemResult | None:
        """None when the file is fine to import, else the failure."""
        try:
            path = listed_path(item.path, item.name)
            size = path.stat().st_size
        except UnsafeBundleFile as exc:
            reason = f"{item.path} is missing from the bundle" if exc.kind == "missing" else exc.reason
            return ItemResult(item, "failed", reason, bad_bundle=True)
        except OSError:
            return ItemResult(item, "failed", f"{item.path} is missing from the bundle", bad_bundle=True)
        if size != item.size:
            return ItemResult(item, "failed", f"size mismatch: expected {item.size} bytes, found {size}",
                              bad_bundle=True)
        if item.sha256 is None:
            return None
        seen = 0

        def on_bytes(count: int) -> None:
            nonlocal seen
            seen += count
            progress.update(item, seen, "verifying", counts=False)

        try:
            digest, _, info = hash_and_inspect(path, on_bytes=on_bytes, stop=self.cancel.is_set)
        except InterruptedError:
            return ItemResult(item, "failed", "not imported: cancelled")
        except ArchiveError as exc:
            return ItemResult(item, "failed", exc.detail(path), bad_bundle=True)
        except OSError as exc:
            return ItemResult(item, "failed", f"cannot read {item.path}: {exc}", bad_bundle=True)
        if digest != item.sha256:
            return ItemResult(item, "failed", f"sha256 mismatch: expected {item.sha256}, found {digest}",
                              bad_bundle=True)
        # The checksum proves the file is the one the manifest lists, not that the manifest tells
        # the truth about it: read its own index before containerd sees a byte (cheap for a plain tar).
        mismatch = compare_images({(ref, image.digest) for image in item.images for ref in image.refs}, info)
        if mismatch is not None:
            reason = f"the archive does not hold what the manifest says: expected {mismatch[0]}, found {mismatch[1]}"
            return ItemResult(item, "failed", reason, bad_bundle=True)
        return None

    def _import(self, item: ImportItem, progress: _Progress) -> ItemResult:
        start = time.monotonic()
        try:
            path = listed_path(item.path, item.name)  # checked again: what is streamed is never a link out or a FIFO
        except UnsafeBundleFile as exc:
            return ItemResult(item, "failed", exc.reason, bad_bundle=True)
        attempts = 0
        reason = ""
        while attempts <= self.retries:
            if self.cancel.is_set():
                return ItemResult(item, "failed", "not imported: cancelled", attempts)
            attempts += 1
            seen = 0

            def on_bytes(count: int) -> None:
                nonlocal seen
                seen += count
                progress.update(item, seen, "importing", force=seen >= item.size)

            progress.update(item, 0, "importing", force=True)
            try:
                chunks = decompressed_chunks(path, on_bytes=on_bytes, stop=self.cancel.is_set)
                timeout = self.timeout + item.size / self.min_rate
                self.store.load(item, chunks, timeout=timeout, hint=f"The archive {item.name} was not imported.")
                if self.cancel.is_set():
                    self._discard(item)  # the stream was cut short: whatever ctr staged is incomplete
                    return ItemResult(item, "failed", "not imported: cancelled", attempts)
                return self._check_imported(item, attempts, time.monotonic() - start)
            except UnnamableArchive as exc:  # the file itself: trying again cannot help
                self._discard(item)
                return ItemResult(item, "failed", f"{item.path} cannot be imported: {exc}", attempts,
                                  seconds=time.monotonic() - start, bad_bundle=True)
            except Exception as exc:  # noqa: BLE001 - any failure of one archive is reported, others go on
                reason = _reason(exc)
                if _DISK_FULL in str(exc).lower():
                    reason = disk_full_reason(reason if _DISK_FULL in reason.lower() else f"{reason}: {_DISK_FULL}")
                _LOGGER.debug("import of %s failed (attempt %d): %s", item.name, attempts, reason)
                progress.update(item, 0, "retrying", force=True)
                self._discard(item)
                if not _retryable(reason) or self.cancel.is_set():
                    break
                self.sink.emit(LogLine(level="warning", step_id=self.step_id,
                                       message=f"retrying {item.name} after: {reason}"))
                time.sleep(self.retry_delay * attempts)
        if bad_archive(reason):
            reason = (f"containerd refused the archive's content, so the file is damaged or not a real image "
                      f"export: {reason}")
            return ItemResult(item, "failed", reason, attempts, seconds=time.monotonic() - start, bad_bundle=True)
        return ItemResult(item, "failed", reason, attempts, seconds=time.monotonic() - start)

    def _discard(self, item: ImportItem) -> None:
        try:
            self.store.discard(item)
        except Exception as exc:  # noqa: BLE001 - cleanup is best effort; the failure is already reported
            _LOGGER.warning("could not remove what the failed import of %s left: %s", item.name, exc)

    def _check_imported(self, item: ImportItem, attempts: int, seconds: float) -> ItemResult:
        """Name, pin and check what was imported (no re-import on failure: the data is in already)."""
        try:
            self.store.after_load(item)
            present = self.store.present(item.refs)
        except Exception as exc:  # noqa: BLE001 - reported as this archive's failure
            self._discard(item)
            return ItemResult(item, "failed", f"imported, but naming or pinning failed: {_reason(exc)}", attempts,
                              item.size, seconds)
        for image in item.images:
            for ref in image.refs:
                if present.get(ref) != image.digest:
                    found = present.get(ref, "nothing")
                    reason = (f"after import {ref} holds {found}, expected {image.digest} "
                              "(the archive does not hold what the manifest says)")
                    self._discard(item)  # the refs were not moved; drop the staged image
                    return ItemResult(item, "failed", reason, attempts, item.size, seconds, bad_bundle=True)
        return ItemResult(item, "ok", "", attempts, item.size, seconds)

    def _guarded(self, stage: Callable[[ImportItem, _Progress], ItemResult], item: ImportItem,
                 progress: _Progress) -> ItemResult:
        """``stage(item, progress)``, with anything it raises turned into this item's failure."""
        try:
            return stage(item, progress)
        except Exception as exc:
            _LOGGER.exception("%s of %s failed unexpectedly", getattr(stage, "__name__", "stage"), item.name)
            return ItemResult(item, "failed", f"not imported: {type(exc).__name__}: {_reason(exc)}")

    def _checked(self, item: ImportItem, progress: _Progress) -> ItemResult | None:
        """:meth:`_verify`, where an unexpected error reading the file fails it as a bad file."""
        try:
            return self._verify(item, progress)
        except Exception as exc:
            _LOGGER.debug("checking %s failed", item.name, exc_info=True)
            reason = f"{item.path} could not be read as an image archive ({type(exc).__name__}: {_reason(exc)})"
            return ItemResult(item, "failed", reason, bad_bundle=True)

    def _pipeline(self, todo: list[ImportItem], progress: _Progress) -> dict[str, ItemResult]:
        """A verify thread feeds ``jobs`` import lanes through a short queue."""
        results: dict[str, ItemResult] = {}
        lock = threading.Lock()
        ready: queue.Queue[ImportItem | None] = queue.Queue(maxsize=self.jobs)

        def record(result: ItemResult) -> None:
            with lock:
                results[result.item.name] = result
            self._finished(result)

        def verifier() -> None:
            try:
                for item in todo:
                    if self.cancel.is_set():
                        record(ItemResult(item, "failed", "not imported: cancelled"))
                        continue
                    failure = self._checked(item, progress)
                    if failure is not None:
                        record(failure)
                    else:
                        ready.put(item)
            finally:
                for _ in range(self.jobs):
                    ready.put(None)

        active: set[str] = set()

        def lane() -> None:
            while (item := ready.get()) is not None:
                with lock:
                    active.add(item.name)
                    if len(active) > 1:
                        self._overlapped.update(active)  # these shared the disk with another import
                try:
                    result = self._guarded(self._import, item, progress)
                finally:
                    with lock:
                        active.discard(item.name)
                record(result)

        threads = [threading.Thread(target=verifier, name="import-verify", daemon=True)]
        threads += [threading.Thread(target=lane, name=f"import-lane-{n}", daemon=True) for n in range(self.jobs)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results


def items_from_scan(scan: ScanResult) -> list[ImportItem]:
    """Import items for a hand-assembled folder: refs and IDs from each archive's index, no checksum.

    Two archives giving one ref to different images are both refused (:func:`ref_clashes`,
    the rule ``bundle lock`` and ``verify`` apply): importing both would leave the ref
    on whichever came last.
    """
    problems: dict[str, list[str]] = {}
    for clash in ref_clashes(scan.images):
        for file in clash.files:
            problems.setdefault(file, []).append(clash_message(clash))
    items = []
    for scanned in scan.images:
        images = tuple(ExpectedImage(i.refs, i.config_digest) for i in scanned.info.images if i.refs)
        items.append(ImportItem(scanned.file, scan.bundle / scanned.file, scanned.size, scanned.sha256, images, "extra",
                                "not imported: " + "; ".join(problems[scanned.file])
                                if scanned.file in problems else ""))
    return items


def items_from_manifest(bundle: Path, entries: Iterable[tuple[str, ImageEntry]]) -> list[ImportItem]:
    """Import items for manifest entries ``(component, entry)``; an archive listed twice is imported once."""
    seen: set[str] = set()
    items = []
    for component, entry in entries:
        if entry.file not in seen:
            seen.add(entry.file)
            items.append(ImportItem.from_entry(bundle, component, entry))
    return items
