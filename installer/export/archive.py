"""Write a stream of bytes to a bundle file: compressed, hashed as written, renamed into place.

Images are tens of gigabytes in total, so nothing here holds more than one chunk in
memory, and the sha256 the manifest records is computed on the compressed bytes as
they go to disk (no second read of the file). The file appears under its final name
only when complete (temp file + fsync + rename), so a crash or Ctrl-C never leaves a
truncated archive that a re-run would mistake for a finished one.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Full, Queue
from typing import Final, Literal

import zstandard

from installer.bundle.archive import hash_file

_LOGGER: Final = logging.getLogger(__name__)

Compression = Literal["zstd", "gzip", "none"]
COMPRESSIONS: Final[tuple[Compression, ...]] = ("zstd", "gzip", "none")
SUFFIX: Final[dict[Compression, str]] = {"zstd": ".tar.zst", "gzip": ".tar.gz", "none": ".tar"}
ZSTD_LEVEL: Final = 3
"""zstd's default: about gzip -6's ratio on image layers at several times its speed."""
GZIP_LEVEL: Final = 6
HASH_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class WrittenFile:
    """A finished bundle file."""

    path: Path
    sha256: str
    """Hex sha256 of the bytes on disk (compressed)."""
    size: int
    """Bytes on disk."""
    raw_size: int
    """Bytes before compression (what the archive unpacks to)."""


class _HashingFile:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, handle: object) -> None:
        self._handle = handle
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self._handle.write(data)  # type: ignore[attr-defined]  # a binary file or a compressor's stream
        return len(data)

    def flush(self) -> None:
        self._handle.flush()  # type: ignore[attr-defined]  # a binary file or a compressor's stream


class _Plain:
    """The ``none`` compressor: bytes pass through."""

    def __init__(self, target: _HashingFile) -> None:
        self._target = target

    def write(self, data: bytes) -> int:
        return self._target.write(data)

    def close(self) -> None:
        self._target.flush()


def _compressor(kind: Compression, target: _HashingFile):
    if kind == "zstd":
        params = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1, write_checksum=True)
        # zstandard's stub wants a full IO[bytes]; _HashingFile has what a writer uses (write, flush)
        return params.stream_writer(target, closefd=False)  # type: ignore[arg-type]
    if kind == "gzip":
        return gzip.GzipFile(filename="", mode="wb", fileobj=target,
                             compresslevel=GZIP_LEVEL, mtime=0)
    if kind == "none":
        return _Plain(target)
    # unreachable for typed callers; a value from the command line or a file may still be anything
    msg = f"unknown compression {kind!r}; use one of {', '.join(COMPRESSIONS)}"  # type: ignore[unreachable]
    raise ValueError(msg)


def write_stream(chunks: Iterable[bytes], dest: Path, compression: Compression = "zstd", *,
                 on_chunk: Callable[[int], None] | None = None, mode: int = 0o644) -> WrittenFile:
    """Write ``chunks`` to ``dest`` through ``compression``, hashing the compressed bytes.

    Args:
        chunks: the uncompressed content, in pieces.
        dest: the final path; a hidden temp file beside it is renamed onto it at the end.
        compression: ``zstd``, ``gzip`` or ``none``.
        on_chunk: called with the uncompressed bytes done so far, after each chunk.
        mode: permissions of the file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", buffering=HASH_CHUNK) as handle:
            target = _HashingFile(handle)
            stream = _compressor(compression, target)
            raw = 0
            for chunk in chunks:
                if not chunk:
                    continue
                stream.write(chunk)
                raw += len(chunk)
                if on_chunk is not None:
                    on_chunk(raw)
            stream.close()
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return WrittenFile(dest, target.sha.hexdigest(), target.size, raw)


_DONE: Final = object()


def prefetched(chunks: Iterable[bytes], depth: int = 8) -> Iterator[bytes]:
    """Read ``chunks`` in a thread, at most ``depth`` ahead, while the caller compresses and writes.

    Reading ``docker save`` from the socket and compressing/hashing/writing each take
    about as long; overlapping them makes a save up to twice as fast, and memory stays
    bounded by ``depth`` chunks. An error in the reader is raised in the caller; if
    the caller stops early, the reader stops too.
    """
    queue: Queue[object] = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not put(chunk):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)

    reader = threading.Thread(target=read, name="export-prefetch", daemon=True)
    reader.start()
    try:
        while True:
            item = queue.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]  # the queue holds chunks, errors and _DONE
    finally:
        stop.set()
        reader.join(timeout=5)


def copy_file(source: Path, dest: Path, *, on_chunk: Callable[[int], None] | None = None) -> WrittenFile:
    """Copy ``source`` to ``dest`` atomically, hashing as it copies (charts, snaps)."""

    def chunks() -> Iterable[bytes]:
        with source.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                yield chunk

    return write_stream(chunks(), dest, "none", on_chunk=on_chunk)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file (a re-run's check of a file already there); the bundle's own hasher."""
    return hash_file(path)[0]
