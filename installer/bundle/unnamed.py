"""Take the image names out of an archive stream, so ``ctr images import`` retargets no ref.

``ctr images import`` creates or retargets every name an archive carries *before* it
unpacks the layers (containerd v1.6.20 and v1.7.29, ``import.go`` ``Client.Import``:
``is.Update`` else ``is.Create`` per name; ``cmd/ctr/commands/images/import.go`` unpacks
afterwards). A layer that cannot be unpacked, a full disk or a containerd that dies
during the unpack would leave the real ref, and its pin, on a broken image.

So the stream ``ctr`` reads names nothing: the docker ``manifest.json`` loses its
``RepoTags`` and the OCI ``index.json`` its name annotations. With ``--base-name P
--digests`` ``ctr`` then creates only ``P@sha256:<manifest>`` refs (``DigestTranslator``
in ``images/archive/reference.go``), and the installer points the real refs at an
image only once it is complete. The file on disk is never changed: its checksum was
verified before, and only the names differ in what ``ctr`` reads.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from typing import Any, Final

BLOCK: Final = 512
MAX_INDEX_BYTES: Final = 16 << 20
"""A ``manifest.json``/``index.json`` larger than this is refused (real ones are a few KB)."""
MAX_EXTENSION_BYTES: Final = 1 << 20
_INDEX_FILES: Final = ("manifest.json", "index.json")
_NAME_ANNOTATIONS: Final = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
_REGULAR: Final = (b"0", b"\0")
"""The member types containerd reads an index from (``images/archive/importer.go``)."""


class UnnamableArchive(ValueError):
    """The archive's index could not be rewritten (so it is not imported at all)."""


class _Source:
    """Exact reads over an iterator of chunks, without copying the chunks it passes through."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._head = b""

    def read(self, count: int) -> bytes:
        """``count`` bytes, fewer only at the end of the stream."""
        parts = [self._head[:count]]
        have = len(parts[0])
        self._head = self._head[count:]
        while have < count:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            take = chunk[: count - have]
            parts.append(take)
            have += len(take)
            self._head = chunk[len(take):]
        return b"".join(parts)

    def forward(self, count: int) -> Iterator[bytes]:
        """The next ``count`` bytes, as they come."""
        while count > 0:
            if not self._head:
                chunk = next(self._chunks, None)
                if chunk is None:
                    return
                self._head = chunk
            take, self._head = self._head[:count], self._head[count:]
            count -= len(take)
            yield take

    def rest(self) -> Iterator[bytes]:
        """Everything left."""
        if self._head:
            yield self._head
            self._head = b""
        yield from self._chunks


def _octal(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # base-256 (GNU) for sizes over 8 GiB
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _header_name(header: bytes) -> str:
    name = header[:100].split(b"\0", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "replace")


def _pax_records(data: bytes) -> dict[str, str]:
    records = {}
    while data:
        length_text = data.partition(b" ")[0]
        try:
            length = int(length_text)
        except ValueError:
            break
        record = data[len(length_text) + 1:length].rstrip(b"\n")
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        data = data[length:] if length > 0 else b""
    return records


def _without_names(name: str, body: bytes) -> bytes:
    """``body`` of ``manifest.json`` or ``index.json`` with every image name taken out."""
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:
        msg = f"its {name} is not valid JSON ({type(exc).__name__})"
        raise UnnamableArchive(msg) from None
    if name == "manifest.json" and isinstance(document, list):
        for entry in document:
            if isinstance(entry, dict):
                entry["RepoTags"] = []
    elif name == "index.json" and isinstance(document, dict):
        for entry in document.get("manifests") or []:
            if isinstance(entry, dict) and isinstance(entry.get("annotations"), dict):
                for key in _NAME_ANNOTATIONS:
                    entry["annotations"].pop(key, None)
    else:
        msg = f"its {name} is not an image index"
        raise UnnamableArchive(msg)
    return json.dumps(document, separators=(",", ":")).encode()


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def strip_names(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The tar stream ``chunks`` with the image names removed from its top-level index files.

    Every other member passes through byte for byte. A stream that is not a tar is
    passed on unchanged (``ctr`` says what is wrong with it).

    Raises:
        UnnamableArchive: an index file too large or not JSON (``ctr`` would refuse it too).
    """
    source = _Source(chunks)
    pending: list[bytes] = []
    long_name: str | None = None
    long_size: int | None = None
    while True:
        header = source.read(BLOCK)
        if len(header) < BLOCK or not header.strip(b"\0"):
            yield from pending
            yield header
            yield from source.rest()
            return
        try:
            size = _octal(header[124:136])
        except ValueError:
            yield from pending
            yield header
            yield from source.rest()
            return
        kind = header[156:157]
        padded = size + (-size % BLOCK)
        if kind in (b"x", b"L", b"K"):
            if size > MAX_EXTENSION_BYTES:  # it could hide an index's name: refuse rather than guess
                msg = f"it has a {size}-byte extended tar header (more than {MAX_EXTENSION_BYTES})"
                raise UnnamableArchive(msg)
            data = source.read(padded)
            pending += [header, data]
            if kind == b"x":
                records = _pax_records(data[:size])
                long_name = records.get("path", long_name)
                if "size" in records and records["size"].isdigit():
                    long_size = int(records["size"])
            elif kind == b"L":
                long_name = data[:size].split(b"\0", 1)[0].decode("utf-8", "replace")
            continue
        name = posixpath.normpath(long_name or _header_name(header))
        if long_size is not None:
            size, padded = long_size, long_size + (-long_size % BLOCK)
        if kind in _REGULAR and name in _INDEX_FILES:
            if size > MAX_INDEX_BYTES:
                msg = f"its {name} is {size} bytes (more than {MAX_INDEX_BYTES})"
                raise UnnamableArchive(msg)
            body = _without_names(name, source.read(padded)[:size])
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(body), 0o644
            yield info.tobuf(format=tarfile.USTAR_FORMAT)
            yield body + _padding(len(body))
        else:
            yield from pending
            yield header
            yield from source.forward(padded)
        pending, long_name, long_size = [], None, None
