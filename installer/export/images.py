"""Pull images through the Docker SDK and save each one to its own compressed archive.

The flow per image: pull for the target platform (with byte progress), check that
what Docker holds really is that platform (Docker 20.10 happily keeps an amd64
image when asked for arm64), then stream ``docker save`` through the compressor into
the bundle (see :mod:`.archive`). Refs that resolve to the same image ID share one
archive whose ``RepoTags`` carry all of them, as ``docker save a b`` does.

A re-run pulls again (cheap when up to date, and the only way to learn whether a
tag moved) and skips the save when the manifest already lists a file for the same
image ID and those refs, and the file on disk still has the recorded size and
sha256. A failed pull names the image and the export goes on with the rest.
"""

from __future__ import annotations

import errno
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, overload

from installer.bundle.imageref import ImageRef, parse_ref
from installer.bundle.safefile import UnsafeBundleFile, bundle_path
from installer.engine.events import EventSink, ItemFinished, StepProgress
from installer.errors import BundleError, InstallerError, Interrupted
from installer.export.archive import SUFFIX, Compression, WrittenFile, file_sha256, prefetched, write_stream
from installer.export.refs import file_stem

_LOGGER: Final = logging.getLogger(__name__)

SAVE_CHUNK: Final = 1 << 20
"""Bytes per ``docker save`` chunk: big enough for throughput, small enough for flat memory."""
PROGRESS_INTERVAL: Final = 0.2
"""Seconds between progress events for one image (the console redraws at 5 Hz)."""
IMAGES_DIR: Final = "images"


PullPolicy = Literal["always", "missing", "never"]
PULL_POLICIES: Final[tuple[PullPolicy, ...]] = ("always", "missing", "never")
"""``always`` learns moved tags; ``missing`` and ``never`` also export images built or loaded locally."""


class ImageExportFailed(InstallerError):
    """One image could not be pulled or saved; the export continues with the others."""


@dataclass(frozen=True)
class ExportedImage:
    """One image archive in the bundle: the fields of a manifest image entry."""

    refs: tuple[str, ...]
    file: str
    """Path relative to the bundle folder (``images/<ref>.tar.zst``)."""
    sha256: str
    size: int
    digest: str
    """Image ID (``sha256:`` of the config), the same as Docker's ``image.id``."""
    platform: str
    content_size: int | None = None
    """Bytes before compression (the tar stream): the disk check's measure."""


@dataclass(frozen=True)
class PulledImage:
    """An image present in Docker after a pull."""

    image_id: str
    refs: tuple[str, ...]
    size: int
    """Docker's uncompressed size: the estimate for save progress."""


@dataclass
class ImageOutcome:
    """How one archive ended: ``ok`` (written), ``skipped`` (already there) or ``failed``."""

    refs: tuple[str, ...]
    status: str
    entry: ExportedImage | None = None
    reason: str = ""
    seconds: float = 0.0


@dataclass
class _Throttle:
    interval: float = PROGRESS_INTERVAL
    last: float = field(default=0.0)

    def ready(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            return True
        return False


def split_platform(platform: str) -> tuple[str, str, str]:
    """``linux/arm64/v8`` -> ``("linux", "arm64", "v8")``.

    Raises:
        ValueError: when ``platform`` is not ``os/arch[/variant]``.
    """
    parts = platform.split("/")
    if len(parts) not in (2, 3) or not all(re.fullmatch(r"[a-z0-9_]+", part) for part in parts):
        msg = f"{platform!r} is not a platform; expected lower-case os/arch such as linux/amd64"
        raise ValueError(msg)
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _pull_error(ref: str, exc: BaseException) -> ImageExportFailed:
    explanation = getattr(exc, "explanation", None) or str(exc)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    text = str(explanation).strip()
    if "manifest unknown" in text or "not found" in text:
        hint = "Check the name and tag (they are case-sensitive) and that the registry has this image."
    elif "unauthorized" in text or "denied" in text:
        hint = "Log in to the registry first (docker login REGISTRY), then run export again."
    else:
        hint = "Check the network and that the registry is reachable from this machine, then run export again."
    return ImageExportFailed(f"cannot pull {ref}: {text}", hint)


def _counted(text: str, position: tuple[int, int] | None) -> str:
    return f"{text} ({position[0] + 1}/{position[1]})" if position else text


class DockerImages:
    """Pulls and saves images through one Docker client, reporting progress to ``sink``."""

    def __init__(self, client: Any, platform: str, sink: EventSink, *, cancel: threading.Event | None = None,
                 pull_policy: PullPolicy = "always", pull_step: str = "pull-images",
                 save_step: str = "save-images") -> None:
        self.client = client
        self.pull_policy = pull_policy
        self.platform = platform
        self.os, self.arch, self.variant = split_platform(platform)
        self.sink = sink
        self.cancel = cancel or threading.Event()
        self.pull_step = pull_step
        self.save_step = save_step

    def _check_cancelled(self) -> None:
        if self.cancel.is_set():
            msg = "the export was cancelled"
            raise Interrupted(msg, "Run the same command again: images already saved are skipped.")

    # --- pull ---------------------------------------------------------------------------

    def pull(self, ref: str, *, position: tuple[int, int] | None = None) -> PulledImage:
        """Pull ``ref`` for the target platform (as ``pull_policy`` says) and return the image Docker holds.

        ``position`` is ``(index, count)`` of this image in the run, shown in progress messages
        (a registry tells layer sizes only as the pull goes, so there is no byte total up front).

        Raises:
            ImageExportFailed: the registry refused, the image does not exist, or it
                exists only for another platform.
        """
        import docker.errors  # the SDK is only needed on the connected machine

        if self.pull_policy != "always":
            local = self.inspect(ref, missing_ok=True)
            if local is not None:
                return local
            if self.pull_policy == "never":
                msg = f"{ref} is not in the local Docker (and --pull never was given)"
                raise ImageExportFailed(msg, f"Pull or build it first (docker pull {ref}), or use --pull missing.")
        parsed = parse_ref(ref)
        layers: dict[str, tuple[int, int]] = {}
        throttle = _Throttle()
        try:
            stream = self.client.api.pull(parsed.repository, tag=parsed.digest or parsed.tag, stream=True,
                                          decode=True, platform=self.platform)
            for event in stream:
                self._check_cancelled()
                if "error" in event:
                    detail = event.get("errorDetail", {}).get("message") or event["error"]
                    raise ImageExportFailed(f"cannot pull {ref}: {detail}",
                                            "Check the network and the registry, then run export again.")
                self._pull_progress(ref, event, layers, throttle, position)
        except docker.errors.DockerException as exc:
            raise _pull_error(ref, exc) from None
        except OSError as exc:  # the daemon's socket went away
            raise _pull_error(ref, exc) from None
        done = sum(d for d, _ in layers.values())
        self.sink.emit(StepProgress(step_id=self.pull_step, done=done, total=done, item=ref,
                                    message=_counted(f"pulled {ref}", position)))
        return self.inspect(ref)

    def _pull_progress(self, ref: str, event: dict[str, Any], layers: dict[str, tuple[int, int]],
                       throttle: _Throttle, position: tuple[int, int] | None) -> None:
        layer = event.get("id")
        detail = event.get("progressDetail") or {}
        status = event.get("status", "")
        if not layer:
            return
        if status == "Downloading" and detail.get("total"):
            layers[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        elif status in ("Download complete", "Already exists", "Pull complete") and layer in layers:
            total = layers[layer][1]
            layers[layer] = (total, total)
        if layers and throttle.ready():
            done = sum(d for d, _ in layers.values())
            total = sum(t for _, t in layers.values())
            self.sink.emit(StepProgress(step_id=self.pull_step, done=done, total=total, item=ref,
                                        message=_counted(f"pulling {ref}", position)))

    @overload
    def inspect(self, ref: str, *, missing_ok: Literal[False] = False) -> PulledImage: ...
    @overload
    def inspect(self, ref: str, *, missing_ok: bool) -> PulledImage | None: ...

    def inspect(self, ref: str, *, missing_ok: bool = False) -> PulledImage | None:
        """The image Docker holds under ``ref``, checked against the target platform.

        With ``missing_ok``, None when Docker has no image under ``ref``.
        """
        import docker.errors

        parsed = parse_ref(ref)
        try:
            image = self.client.images.get(parsed.familiar)
        except docker.errors.ImageNotFound:
            if missing_ok:
                return None
            msg = f"{ref} was pulled but Docker cannot find it"
            raise ImageExportFailed(msg, "Run export again; if it persists, check `docker images`.") from None
        except docker.errors.DockerException as exc:
            msg = f"{ref} was pulled but Docker cannot find it: {exc}"
            raise ImageExportFailed(msg, "Run export again; if it persists, check `docker images`.") from None
        attrs = image.attrs
        found = "/".join(p for p in (attrs.get("Os", ""), attrs.get("Architecture", ""), attrs.get("Variant", "")) if p)
        if attrs.get("Os") != self.os or attrs.get("Architecture") != self.arch or (
                self.variant and attrs.get("Variant") not in (self.variant, None, "")):
            msg = f"{ref} is {found or 'of unknown platform'}, not {self.platform}"
            raise ImageExportFailed(msg, f"Use a tag published for {self.platform} (or a multi-platform tag).")
        if parsed.digest:
            ref = self._tag_for_archive(image, ref, parsed)
        return PulledImage(image.id, (ref,), int(attrs.get("Size") or 0))

    @staticmethod
    def _tag_for_archive(image: Any, ref: str, parsed: ImageRef) -> str:
        """``repo:tag@sha256:…`` was pulled by its digest; an archive can only carry ``repo:tag``.

        The digest pinned what was pulled; the image is tagged locally so ``docker save``
        names it, and the manifest records the ref the archive really carries.
        """
        import docker.errors

        if not parsed.tag:
            msg = f"{ref} is pinned by digest only, and an image archive can carry only tags"
            raise ImageExportFailed(msg, "Give the tag as well (repo:tag@sha256:…): the digest still pins what is "
                                         "pulled, and the bundle lists the image under the tag.")
        tagged = ImageRef(parsed.domain, parsed.path, parsed.tag, None)
        try:
            image.tag(tagged.familiar[: -len(parsed.tag) - 1], tag=parsed.tag)
        except docker.errors.DockerException as exc:
            msg = f"cannot tag {ref} as {tagged} for the archive: {exc}"
            raise ImageExportFailed(msg, "Check that dockerd is running (docker images).") from None
        _LOGGER.info("%s is listed in the bundle as %s (an archive carries tags, not digests)", ref, tagged)
        return str(tagged)

    # --- save ---------------------------------------------------------------------------

    def _save_chunks(self, pulled: PulledImage) -> Iterator[bytes]:
        """``docker save`` of the image under every one of its refs, as a stream.

        Docker-side errors become :class:`ImageExportFailed` here, in the reading thread,
        so they are never mistaken for an error writing the bundle.
        """
        import docker.errors
        import requests

        names = [parse_ref(r).familiar for r in pulled.refs if parse_ref(r).tag and not parse_ref(r).digest]
        try:
            if len(names) <= 1:
                image = self.client.images.get(pulled.image_id)
                yield from image.save(chunk_size=SAVE_CHUNK, named=names[0] if names else False)
                return
            # The SDK's Image.save names one tag; the Engine API takes several (`docker save a b`),
            # so that an archive imports under all refs. Same calls as APIClient.get_image.
            api = self.client.api
            response = api._get(api._url("/images/get"), params={"names": names}, stream=True)
            yield from api._stream_raw_result(response, SAVE_CHUNK, False)
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            msg = f"cannot save {pulled.refs[0]}: {getattr(exc, 'explanation', None) or exc}"
            raise ImageExportFailed(msg, "Check that dockerd is running and has this image (docker images).") from None

    def save(self, pulled: PulledImage, out_dir: Path, compression: Compression, *,
             overall: tuple[int, int] | None = None, file_name: str | None = None) -> ExportedImage:
        """Write ``pulled`` to ``out_dir/images/<first ref><suffix>`` and return its manifest entry.

        ``file_name`` overrides the name inside ``images/`` (when that name is taken).

        Raises:
            ImageExportFailed: Docker could not save it.
            BundleError: the bundle folder cannot be written (full disk, permissions).
        """
        relative = f"{IMAGES_DIR}/{file_name or file_stem(pulled.refs[0]) + SUFFIX[compression]}"
        item = pulled.refs[0]
        throttle = _Throttle()
        base = overall[0] if overall else 0

        def progress(raw: int) -> None:
            self._check_cancelled()
            if throttle.ready():
                self.sink.emit(StepProgress(step_id=self.save_step, done=raw, total=max(pulled.size, raw),
                                            item=item, overall_done=base + raw if overall else None,
                                            overall_total=overall[1] if overall else None,
                                            message=f"saving {item}"))

        try:
            written = write_stream(prefetched(self._save_chunks(pulled)), out_dir / relative, compression,
                                   on_chunk=progress)
        except OSError as exc:
            where = out_dir / relative
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                msg = f"the disk holding {out_dir} is full while writing {where}"
                raise BundleError(msg, "Free space there (or export to a bigger disk) and run export again; "
                                       "images already saved are skipped.") from None
            msg = f"cannot write {where}: {exc.strerror or exc}"
            raise BundleError(msg, "Check that the --out folder is writable.") from None
        return self._entry(pulled, relative, written)

    def _entry(self, pulled: PulledImage, relative: str, written: WrittenFile) -> ExportedImage:
        return ExportedImage(refs=pulled.refs, file=relative, sha256=written.sha256, size=written.size,
                             digest=pulled.image_id, platform=self.platform, content_size=written.raw_size)


def reusable_entry(previous: Iterable[ExportedImage], pulled: PulledImage, out_dir: Path, platform: str,
                   compression: Compression) -> ExportedImage | None:
    """A previous export of the same image ID, refs and compression whose file is intact, if any.

    "Intact" means present with the recorded size and sha256: the hash is read again
    because the file could have been damaged or replaced since (a USB disk).
    """
    for entry in previous:
        if entry.digest != pulled.image_id or entry.platform != platform:
            continue
        if not set(pulled.refs) <= set(entry.refs) or not entry.file.endswith(SUFFIX[compression]):
            continue
        try:
            path = bundle_path(out_dir, entry.file)
            if path.stat().st_size != entry.size:
                continue
            if file_sha256(path) != entry.sha256:
                _LOGGER.warning("%s does not match its recorded sha256; exporting it again", path)
                continue
        except UnsafeBundleFile as exc:
            if exc.kind != "missing":
                _LOGGER.warning("%s; exporting it again (the new archive replaces it)", exc.message)
            continue
        except OSError:
            continue
        return entry  # with all the refs the archive carries, which may be more than asked for now
    return None


def group_by_image(pulled: Iterable[PulledImage]) -> list[PulledImage]:
    """Merge refs that resolved to the same image ID (one archive carries all of them)."""
    groups: dict[str, PulledImage] = {}
    for image in pulled:
        known = groups.get(image.image_id)
        if known is None:
            groups[image.image_id] = image
        else:
            refs = known.refs + tuple(r for r in image.refs if r not in known.refs)
            groups[image.image_id] = PulledImage(image.image_id, refs, known.size)
    return list(groups.values())


def emit_item(sink: EventSink, step_id: str, outcome: ImageOutcome) -> None:
    """One result line per archive (the console prints failures, and all of them in plain logs)."""
    status = outcome.status if outcome.status in ("ok", "skipped", "failed") else "failed"
    # the ignore below: `in` does not narrow to the Literal
    sink.emit(ItemFinished(step_id=step_id, item=", ".join(outcome.refs), status=status,  # type: ignore[arg-type]
                           reason=outcome.reason))
