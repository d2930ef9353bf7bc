"""Writing files on the host, atomically, with the right mode; or, in dry-run, showing them.

Steps never call ``open(..., "w")`` on host paths themselves: they go through a
:class:`FileWriter`, so ``--dry-run`` can print every file the install would write
and a crash can never leave a half-written file behind.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

from installer.engine.commands import Redactor
from installer.engine.events import EventSink, FileWritten, NullSink
from installer.errors import InstallerError

WITHHELD_CONTENT: Final = "(content not shown: it holds a secret)"


def _strings(value: Any) -> Iterator[str]:
    """Every string (keys and values) in a parsed document."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


class UnsafeInput(ValueError):
    """A file the installer must read is not a small regular file."""


def read_small_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, refusing anything but a regular file of at most ``limit`` bytes.

    ``stat`` alone is not enough: a link to ``/dev/zero`` or ``/dev/stdin`` reports size
    0 and then never ends, and opening a FIFO blocks forever. Size is checked again
    while reading, so a file growing meanwhile cannot exhaust memory.

    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError: as ``open`` would.
        UnsafeInput: not a regular file, or larger than ``limit``.
    """
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(str(path))
    if not stat.S_ISREG(info.st_mode):
        msg = "not a regular file (a device, FIFO or socket)"
        raise UnsafeInput(msg)
    if info.st_size > limit:
        msg = f"{info.st_size} bytes, over the {limit} byte limit"
        raise UnsafeInput(msg)
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        msg = f"over the {limit} byte limit"
        raise UnsafeInput(msg)
    return data


def make_folders(path: Path, mode: int = 0o755, parents_mode: int = 0o755) -> None:
    """Create ``path`` and any missing parent with exactly these modes, whatever the umask.

    ``mkdir(parents=True, mode=...)`` applies ``mode`` to the last folder only, and the
    parents get ``0777`` less the umask: world-writable under ``umask 000``.
    """
    missing = []
    for folder in (path, *path.parents):
        if folder.is_dir():
            break
        missing.append(folder)
    for folder in reversed(missing):
        wanted = mode if folder == path else parents_mode
        try:
            folder.mkdir(mode=wanted)
        except FileExistsError:
            continue  # made meanwhile by someone else: left as it is
        os.chmod(folder, wanted)
    if not path.is_dir():
        path.mkdir()  # raises the right error (a file is in the way)


def ensure_private_dir(path: Path) -> None:
    """Make ``path`` a root-only (0700) folder: created so, or tightened when it is ours.

    The state folder holds values files with passwords and the journal. A folder
    another user owns, or a shared sticky one like ``/tmp``, is never changed.
    """
    make_folders(path, 0o700)
    info = path.stat()
    if info.st_mode & 0o077 and info.st_uid == os.geteuid() and not info.st_mode & stat.S_ISVTX:
        os.chmod(path, 0o700)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temp file + fsync + rename.

    The temp file is created with ``mode`` from the start, so a secret is never
    readable by others, not even for a moment; a private file's missing folder is
    created root-only.
    """
    make_folders(path.parent, 0o700 if mode & 0o077 == 0 else 0o755)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class FileWriter:
    """Writes host files for steps and reports each one as a :class:`FileWritten` event."""

    dry_run = False

    def __init__(self, sink: EventSink | None = None, redactor: Redactor | None = None) -> None:
        self.sink: EventSink = sink or NullSink()
        self.redact = redactor or Redactor()
        self.step_id: str | None = None
        self.written: dict[Path, str] = {}

    def write(self, path: Path | str, content: str, mode: int = 0o644) -> Path:
        """Write ``content`` to ``path`` (atomically) unless this is a dry-run."""
        path = Path(path)
        if not self.dry_run:
            try:
                atomic_write(path, content.encode(), mode)
            except OSError as exc:
                msg = f"cannot write {path}: {exc.strerror or exc}"
                raise InstallerError(msg, "Check that the folder exists, is writable and the disk is not full.") from exc
        self.written[path] = content
        self.sink.emit(FileWritten(path=str(path), mode=mode, content=self.shown(path, content),
                                   dry_run=self.dry_run, step_id=self.step_id))
        return path

    def shown(self, path: Path, content: str) -> str:
        """``content`` as the screen and the log may show it: secrets masked.

        The masking works on text; a YAML or JSON file is then read back and every
        value checked, so a secret spelt in a way the masking missed withholds the whole
        content instead of showing it (fail closed).
        """
        masked = self.redact(content)
        if path.suffix not in (".yaml", ".yml", ".json"):
            return masked
        try:
            documents = list(yaml.safe_load_all(masked))  # our own output: bounded and trusted
        except yaml.YAMLError:
            return masked
        if any(self.redact.holds_secret(text) for text in _strings(documents)):
            return WITHHELD_CONTENT
        return masked

    def same_content(self, path: Path | str, content: str) -> bool:
        """True when ``path`` already holds exactly ``content`` (an idempotency check)."""
        try:
            return Path(path).read_text() == content
        except (OSError, UnicodeDecodeError):
            return False


class DryRunFileWriter(FileWriter):
    """Reports files without writing them."""

    dry_run = True
