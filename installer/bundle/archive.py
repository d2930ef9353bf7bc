"""Read an image archive's own index without extracting it.

Handles what ``docker save``, ``skopeo`` and ``ctr export`` write: docker-archive
(``manifest.json``, one or several images) and OCI archives (``index.json``,
multi-platform indexes resolved to the host platform as ``ctr`` does), each plain,
gzip or zstd compressed (detected from the first bytes, not the file name).

Reading is bounded: only members that look like JSON and are small are kept
(``MAX_METADATA_BYTES`` each, ``MAX_METADATA_TOTAL`` in all); a metadata member
that is larger, a link to metadata, a link or path leading outside the archive,
or a device node is rejected with a :class:`ArchiveError` naming the file and
the member. Plain tars are read by seeking over the layers (only headers are
read); compressed ones are streamed once, with memory bounded by the limits above.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Literal

from installer.bundle.imageref import normalize_ref
from installer.bundle.manifest import host_platform
from installer.bundle.safefile import open_regular
from installer.engine.safeparse import DocumentLimit, load_json
from installer.errors import BundleError

_LOGGER: Final = logging.getLogger(__name__)

MAX_METADATA_BYTES: Final = 8 << 20
"""Largest manifest/index/config member accepted (real ones are a few KiB)."""
MAX_METADATA_TOTAL: Final = 64 << 20
"""Largest sum of JSON members kept while reading one archive."""
MAX_MEMBERS: Final = 100_000
"""Most tar members accepted in one archive: an image has a few per layer (a few hundred in all);
a million empty members would otherwise cost minutes and their names the memory."""
CHUNK: Final = 1 << 20

Compression = Literal["none", "gzip", "zstd"]
OnBytes = Callable[[int], None]

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_INDEX_TYPES: Final = ("application/vnd.oci.image.index.v1+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json")
_ANNOTATION_IMAGE_NAME: Final = "io.containerd.image.name"
_ANNOTATION_REF_NAME: Final = "org.opencontainers.image.ref.name"


class ArchiveError(BundleError):
    """An archive cannot be read, is incomplete, or holds something unsafe.

    The message starts with the archive's path; :meth:`detail` is the rest, for
    reports that already name the file.
    """

    def detail(self, path: Path) -> str:
        """The message without the leading ``<path>: ``."""
        return self.message.removeprefix(f"{path}: ")


@dataclass(frozen=True)
class ImageInfo:
    """One image found in an archive.

    ``config`` is the parsed image config JSON (``config.User``, ``config.Entrypoint``,
    ``config.Cmd``, ``config.Env``, ``config.ExposedPorts``, ``config.Labels``...), so
    other checks (notebook images need a non-root user and ``jupyterhub-singleuser``)
    can read any field.
    """

    refs: tuple[str, ...]
    """Normalised refs (``docker.io/library/busybox:1.28.4``)."""
    raw_refs: tuple[str, ...]
    """Refs exactly as ``ctr images import`` will create them (an OCI ``ref.name`` is not normalised)."""
    config_digest: str
    """``sha256:...`` of the config: the image ID."""
    platform: str
    """``os/arch[/variant]`` of the image."""
    config: dict[str, Any] = field(repr=False, hash=False, compare=False)
    manifest_digest: str | None = None
    """The OCI manifest's digest (None for docker-archive images, whose manifest containerd builds)."""

    @property
    def _runtime(self) -> dict[str, Any]:
        return self.config.get("config") or {}

    @property
    def user(self) -> str:
        """``config.User`` ('' means root)."""
        return str(self._runtime.get("User") or "")

    @property
    def exposed_ports(self) -> tuple[str, ...]:
        """``config.ExposedPorts`` keys, e.g. ``8888/tcp``."""
        return tuple(sorted(self._runtime.get("ExposedPorts") or {}))

    @property
    def env(self) -> dict[str, str]:
        """``config.Env`` as a mapping."""
        pairs = (item.partition("=") for item in self._runtime.get("Env") or [])
        return {key: value for key, _, value in pairs}

    @property
    def labels(self) -> dict[str, str]:
        """``config.Labels``."""
        return dict(self._runtime.get("Labels") or {})

    @property
    def entrypoint(self) -> tuple[str, ...]:
        """``config.Entrypoint``."""
        return tuple(self._runtime.get("Entrypoint") or ())

    @property
    def cmd(self) -> tuple[str, ...]:
        """``config.Cmd``."""
        return tuple(self._runtime.get("Cmd") or ())


@dataclass(frozen=True)
class ArchiveInfo:
    """What an archive holds."""

    path: Path
    format: Literal["docker", "oci"]
    compression: Compression
    images: tuple[ImageInfo, ...]
    content_bytes: int = 0
    """Sum of the member sizes in the tar headers: what the archive unpacks to, and about what containerd
    stores for it (the layer blobs), whatever the file's compression."""

    @property
    def refs(self) -> tuple[str, ...]:
        """Normalised refs of every image."""
        return tuple(ref for image in self.images for ref in image.refs)


def detect_compression(path: Path) -> Compression:
    """``gzip``, ``zstd`` or ``none``, from the file's first bytes."""
    with open_regular(path) as handle:
        head = handle.read(4)
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "none"


class CountingReader(io.RawIOBase):
    """Reads a binary file, hashing and counting what passes (for one-pass verify + inspect)."""

    def __init__(self, raw: IO[bytes], hasher: Any | None = None, on_bytes: OnBytes | None = None,
                 stop: Callable[[], bool] | None = None) -> None:
        super().__init__()
        self.raw = raw
        self.hasher = hasher
        self.on_bytes = on_bytes
        self.stop = stop
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._seen(data)
        return size

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self._seen(data)
        return data

    def _seen(self, data: bytes) -> None:
        if self.stop is not None and self.stop():
            msg = "cancelled"
            raise InterruptedError(msg)
        if not data:
            return
        self.count += len(data)
        if self.hasher is not None:
            self.hasher.update(data)
        if self.on_bytes is not None:
            self.on_bytes(len(data))

    def drain(self) -> None:
        """Read to the end (so the hash covers the whole file)."""
        while self.read(CHUNK):
            pass


def decompressed_chunks(path: Path, compression: Compression | None = None, *, chunk: int = CHUNK,
                        on_bytes: OnBytes | None = None, stop: Callable[[], bool] | None = None):
    """Yield the archive's tar bytes (decompressed), reporting *file* bytes read.

    Memory stays at one chunk whatever the file size; ``stop()`` ends the stream early
    (the consumer then sees a short tar and fails, which is what cancelling wants).
    """
    compression = compression or detect_compression(path)
    with open_regular(path) as raw:
        reader = CountingReader(raw, on_bytes=on_bytes)
        if compression == "zstd":
            import zstandard

            # typeshed: a RawIOBase (CountingReader) or a GzipFile is not nominally an IO[bytes]
            stream: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(reader, read_size=chunk)  # type: ignore[arg-type]
        elif compression == "gzip":
            stream = gzip.GzipFile(fileobj=reader, mode="rb")  # type: ignore[assignment]
        else:
            stream = reader  # type: ignore[assignment]  # CountingReader is a RawIOBase, not nominally an IO[bytes]
        while True:
            if stop is not None and stop():
                return
            data = stream.read(chunk)
            if not data:
                break
            yield data


# --- reading the members ------------------------------------------------------------------


def _clean_name(path: Path, name: str) -> str:
    clean = posixpath.normpath(name)
    if name.startswith("/") or clean == ".." or clean.startswith("../"):
        msg = f"{path}: member {name!r} points outside the archive"
        raise ArchiveError(msg, "Do not use this file; re-create it with `docker save` or `skopeo copy`.")
    return "" if clean == "." else clean


def _looks_json(head: bytes) -> bool:
    return head[:1] in (b"{", b"[")


@dataclass
class _Members:
    """What one pass over the tar found: names, links, kept JSON members."""

    path: Path
    names: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)
    kept: dict[str, bytes] = field(default_factory=dict)
    oversized: dict[str, int] = field(default_factory=dict)
    total: int = 0
    content: int = 0
    """Bytes of every regular member, from the headers."""

    def resolve(self, name: str) -> str:
        """Follow links inside the archive (bounded, so a loop cannot hang)."""
        for _ in range(16):
            if name not in self.links:
                return name
            name = self.links[name]
        msg = f"{self.path}: link loop at member {name!r}"
        raise ArchiveError(msg, "Re-create the archive with `docker save`.")

    def has(self, name: str) -> bool:
        """True if ``name`` (after links) is a regular file in the archive."""
        return self.resolve(name) in self.names

    def json(self, name: str, what: str) -> Any:
        """The parsed JSON member ``name``; metadata must not be reached through a link."""
        if name in self.links:
            msg = f"{self.path}: {what} {name!r} is a link; metadata members must be regular files"
            raise ArchiveError(msg, "Re-create the archive with `docker save` or `skopeo copy`.")
        if name in self.oversized:
            msg = (f"{self.path}: {what} {name!r} is {self.oversized[name]} bytes, over the "
                   f"{MAX_METADATA_BYTES >> 20} MiB limit for metadata")
            raise ArchiveError(msg, "This is not a normal image archive; re-create it with `docker save`.")
        if name not in self.kept:
            msg = f"{self.path}: {what} {name!r} is missing from the archive (incomplete or truncated file?)"
            raise ArchiveError(msg, "Copy the file again from the export machine.")
        try:
            return load_json(self.kept[name], f"{self.path}: {what} {name!r}", max_bytes=MAX_METADATA_BYTES)
        except DocumentLimit as exc:
            hint = "This is not a normal image archive; re-create it with `docker save`."
            raise ArchiveError(str(exc), hint) from None
        except ValueError as exc:
            msg = f"{self.path}: {what} {name!r} is not valid JSON: {exc}"
            raise ArchiveError(msg, "Copy the file again from the export machine.") from None


def _scan_members(path: Path, tar: tarfile.TarFile) -> _Members:
    found = _Members(path)
    for count, member in enumerate(tar, 1):
        if count > MAX_MEMBERS:
            msg = f"{path}: more than {MAX_MEMBERS} members; not a normal image archive"
            raise ArchiveError(msg, "Re-create the archive with `docker save` or `skopeo copy`.")
        name = _clean_name(path, member.name)
        if not name:
            continue
        if member.issym() or member.islnk():
            target = member.linkname if member.islnk() else posixpath.join(posixpath.dirname(name), member.linkname)
            if member.linkname.startswith("/"):
                msg = f"{path}: member {name!r} links to an absolute path {member.linkname!r}"
                raise ArchiveError(msg, "Do not use this file; re-create it with `docker save`.")
            found.links[name] = _clean_name(path, target)
            continue
        if member.isdir():
            continue
        if not member.isfile():
            msg = f"{path}: member {name!r} is a device, fifo or other special file"
            raise ArchiveError(msg, "Do not use this file; image archives hold only files, folders and links.")
        found.names.add(name)
        found.content += member.size
        metadata_name = name in ("manifest.json", "index.json", "oci-layout", "repositories")
        if member.size > MAX_METADATA_BYTES:
            if metadata_name:
                found.oversized[name] = member.size
            else:
                found.oversized[name] = member.size if _peek_json(tar, member) else 0
                if not found.oversized[name]:
                    del found.oversized[name]
            continue
        handle = tar.extractfile(member)
        if handle is None:
            continue
        head = handle.read(1)
        if not (metadata_name or _looks_json(head)):
            continue
        found.total += member.size
        if found.total > MAX_METADATA_TOTAL:
            msg = f"{path}: more than {MAX_METADATA_TOTAL >> 20} MiB of JSON members; not a normal image archive"
            raise ArchiveError(msg, "Re-create the archive with `docker save` or `skopeo copy`.")
        found.kept[name] = head + handle.read(MAX_METADATA_BYTES)
    return found


def _peek_json(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bool:
    handle = tar.extractfile(member)
    return handle is not None and _looks_json(handle.read(1))


def _platform_of(config: dict[str, Any]) -> str:
    text = f"{config.get('os') or 'linux'}/{config.get('architecture') or 'amd64'}"
    return f"{text}/{config['variant']}" if config.get("variant") else text


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _docker_images(found: _Members) -> list[ImageInfo]:
    entries = found.json("manifest.json", "manifest")
    if not isinstance(entries, list) or not entries:
        msg = f"{found.path}: manifest.json lists no images"
        raise ArchiveError(msg, "Re-create the archive with `docker save IMAGE`.")
    images = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            msg = f"{found.path}: manifest.json entry {index} has no Config"
            raise ArchiveError(msg, "Re-create the archive with `docker save IMAGE`.")
        config_name = _clean_name(found.path, entry["Config"])
        raw_config = found.kept.get(config_name)
        config = found.json(config_name, "image config")
        for layer in entry.get("Layers") or []:
            if not found.has(_clean_name(found.path, layer)):
                msg = f"{found.path}: layer {layer!r} of image {index} is missing (incomplete or truncated file?)"
                raise ArchiveError(msg, "Copy the file again from the export machine.")
        tags = tuple(entry.get("RepoTags") or ())
        images.append(ImageInfo(refs=tuple(normalize_ref(t) for t in tags),
                                raw_refs=tuple(normalize_ref(t) for t in tags), config_digest=_sha(raw_config or b""),
                                platform=_platform_of(config), config=config))
    return images


def _blob_name(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _blob(found: _Members, digest: str, what: str) -> Any:
    name = _blob_name(digest)
    data = found.json(name, what)
    if _sha(found.kept[name]) != digest:
        msg = f"{found.path}: {what} {name} does not match its digest (corrupt archive)"
        raise ArchiveError(msg, "Copy the file again from the export machine.")
    return data


def _matches(platform: dict[str, Any], wanted: str) -> bool:
    parts = wanted.split("/")
    if platform.get("os") != parts[0] or platform.get("architecture") != parts[1]:
        return False
    return len(parts) < 3 or platform.get("variant") in (None, parts[2])


def _pick_platform(found: _Members, index: dict[str, Any], wanted: str) -> dict[str, Any]:
    manifests: list[dict[str, Any]] = index.get("manifests") or []
    for descriptor in manifests:
        if _matches(descriptor.get("platform") or {}, wanted) and found.has(_blob_name(descriptor["digest"])):
            return descriptor
    offered = sorted({_platform_of({"os": (d.get("platform") or {}).get("os"),
                                    "architecture": (d.get("platform") or {}).get("architecture"),
                                    "variant": (d.get("platform") or {}).get("variant")}) for d in manifests})
    msg = (f"{found.path}: no image for this machine's platform {wanted} "
           f"(the archive has: {', '.join(offered) or 'none'})")
    raise ArchiveError(msg, f"Export the image for {wanted} (docker pull --platform {wanted}).")


def _oci_names(annotations: dict[str, str]) -> tuple[str | None, str | None]:
    """(raw ref as ``ctr import`` names it, normalised ref), or Nones for an unnamed image."""
    full = annotations.get(_ANNOTATION_IMAGE_NAME)
    if full:
        return full, normalize_ref(full)
    name = annotations.get(_ANNOTATION_REF_NAME)
    if name and any(c in name for c in "/:@"):
        return name, normalize_ref(name)
    return None, None  # a bare tag: ctr would invent "import-<date>:<tag>"


def _oci_images(found: _Members, platform: str) -> list[ImageInfo]:
    index = found.json("index.json", "index")
    images: list[ImageInfo] = []
    by_digest: dict[str, int] = {}
    for descriptor in index.get("manifests") or []:
        raw, ref = _oci_names(descriptor.get("annotations") or {})
        chosen = descriptor
        for _ in range(4):  # nested indexes (docker save of a multi-platform image)
            if chosen.get("mediaType") not in _INDEX_TYPES:
                break
            chosen = _pick_platform(found, _blob(found, chosen["digest"], "image index"), platform)
        manifest_digest = chosen["digest"]
        if manifest_digest in by_digest:  # the same image under a second name
            image = images[by_digest[manifest_digest]]
            if ref and raw:
                images[by_digest[manifest_digest]] = ImageInfo(
                    (*image.refs, ref), (*image.raw_refs, raw), image.config_digest, image.platform, image.config,
                    image.manifest_digest)
            continue
        manifest = _blob(found, manifest_digest, "image manifest")
        config_digest = (manifest.get("config") or {}).get("digest", "")
        config = _blob(found, config_digest, "image config")
        for layer in manifest.get("layers") or []:
            if not found.has(_blob_name(layer.get("digest", ""))):
                msg = f"{found.path}: layer {layer.get('digest')} is missing (incomplete or truncated file?)"
                raise ArchiveError(msg, "Copy the file again from the export machine.")
        by_digest[manifest_digest] = len(images)
        images.append(ImageInfo(refs=(ref,) if ref else (), raw_refs=(raw,) if raw else (),
                                config_digest=config_digest, platform=_platform_of(config), config=config,
                                manifest_digest=manifest_digest))
    if not images:
        msg = f"{found.path}: index.json lists no images"
        raise ArchiveError(msg, "Re-create the archive with `skopeo copy ... oci-archive:FILE:REF`.")
    return images


def _open_tar(path: Path, compression: Compression, reader: IO[bytes] | None, stack: ExitStack) -> tarfile.TarFile:
    if compression == "none" and reader is None:  # seekable: layers are skipped, not read
        return tarfile.open(fileobj=stack.enter_context(open_regular(path)), mode="r:")
    source: IO[bytes] = reader if reader is not None else stack.enter_context(open_regular(path))
    if compression == "zstd":
        import zstandard

        source = zstandard.ZstdDecompressor().stream_reader(source, read_size=CHUNK)
    elif compression == "gzip":
        # the ignore below: typeshed: GzipFile is not nominally an IO[bytes]
        source = gzip.GzipFile(fileobj=source, mode="rb")  # type: ignore[assignment]
    return tarfile.open(fileobj=source, mode="r|", bufsize=CHUNK)


def _read(path: Path, compression: Compression, reader: IO[bytes] | None, platform: str) -> ArchiveInfo:
    try:
        with ExitStack() as stack, _open_tar(path, compression, reader, stack) as tar:
            found = _scan_members(path, tar)
    except (ArchiveError, InterruptedError):
        raise
    except FileNotFoundError:
        msg = f"{path} does not exist"
        raise ArchiveError(msg, "Check the bundle folder; `./install.sh verify` lists what is missing.") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError) as exc:
        detail = str(exc) or type(exc).__name__
        msg = f"{path}: not a readable image archive ({detail}); the file is truncated or damaged"
        raise ArchiveError(msg, "Copy the file again from the export machine, "
                                "or re-create it with `docker save`.") from None
    except Exception as exc:  # zstandard.ZstdError has no common base with the above
        if type(exc).__name__ != "ZstdError":
            raise
        msg = f"{path}: zstd data is damaged or truncated ({exc})"
        raise ArchiveError(msg, "Copy the file again from the export machine.") from None
    try:
        if "manifest.json" in found.kept or "manifest.json" in found.oversized or "manifest.json" in found.links:
            return ArchiveInfo(path, "docker", compression, tuple(_docker_images(found)), found.content)
        if "index.json" in found.kept or "index.json" in found.oversized or "index.json" in found.links:
            return ArchiveInfo(path, "oci", compression, tuple(_oci_images(found, platform)), found.content)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:  # JSON of the wrong shape
        msg = f"{path}: the archive's image metadata is malformed ({type(exc).__name__}: {exc})"
        raise ArchiveError(msg, "Re-create the file with `docker save IMAGE -o FILE.tar` or `skopeo copy`.") from None
    msg = f"{path}: neither manifest.json (docker save) nor index.json (OCI) found; not an image archive, or truncated"
    raise ArchiveError(msg, "Image archives come from `docker save IMAGE -o FILE.tar` or `skopeo copy`.")


def inspect_archive(path: Path | str, *, platform: str | None = None) -> ArchiveInfo:
    """What images ``path`` holds, read from its own index; nothing is extracted.

    Raises:
        ArchiveError: the file is missing, truncated, not an image archive, or unsafe.
    """
    path = Path(path)
    try:
        compression = detect_compression(path)
    except FileNotFoundError:
        msg = f"{path} does not exist"
        raise ArchiveError(msg, "Check the bundle folder; `./install.sh verify` lists what is missing.") from None
    except OSError as exc:  # a link, device, FIFO or socket (refused unread), or no permission
        msg = f"{path}: cannot read: {exc.strerror or exc}"
        raise ArchiveError(msg, "Replace it with the real archive file, then run again.") from None
    return _read(path, compression, None, platform or host_platform())


def hash_file(path: Path, *, on_bytes: OnBytes | None = None, stop: Callable[[], bool] | None = None,
              chunk: int = CHUNK) -> tuple[str, int]:
    """``(sha256 hex, size)`` of a file, read in chunks (hashlib releases the GIL, so threads run in parallel)."""
    hasher = hashlib.sha256()
    size = 0
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with open_regular(path, buffering=0) as handle:
        while True:
            if stop is not None and stop():
                msg = "cancelled"
                raise InterruptedError(msg)
            # the ignore below: IO[bytes] has no readinto; every reader here has
            count = handle.readinto(buffer)  # type: ignore[attr-defined]
            if not count:
                break
            hasher.update(view[:count])
            size += count
            if on_bytes is not None:
                on_bytes(count)
    return hasher.hexdigest(), size


def hash_and_inspect(path: Path | str, *, platform: str | None = None, on_bytes: OnBytes | None = None,
                     stop: Callable[[], bool] | None = None) -> tuple[str, int, ArchiveInfo]:
    """``(sha256, size, info)`` reading the file once where it must be read whole anyway.

    A compressed archive is decompressed to find its index, so the hash is taken on
    the same pass; a plain tar is hashed, then inspected by seeking (headers only).
    ``stop()`` returning true aborts with :class:`InterruptedError`.
    """
    path = Path(path)
    compression = detect_compression(path)
    if compression == "none":
        digest, size = hash_file(path, on_bytes=on_bytes, stop=stop)
        return digest, size, _read(path, compression, None, platform or host_platform())
    hasher = hashlib.sha256()
    with open_regular(path) as raw:
        reader = CountingReader(raw, hasher, on_bytes, stop)
        # the ignore below: CountingReader is a RawIOBase, not nominally an IO[bytes]
        info = _read(path, compression, reader, platform or host_platform())  # type: ignore[arg-type]
        reader.drain()
    return hasher.hexdigest(), reader.count, info
