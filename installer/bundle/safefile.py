"""Reaching a bundle's files without being led out of the bundle or into a device.

A bundle arrives on a USB disk from elsewhere: its files are input, not trusted. A file
that is a link leading outside the bundle folder would have its checksum (or, for an
archive, its contents) read from anywhere on the host and written into a world-readable
manifest; a FIFO, or a link to ``/dev/zero``, makes a read that never ends. So every verb
that reads bundle files (``verify``, ``import``, ``bundle lock``, ``export``'s top-up, the
install's bundle check) asks :func:`bundle_path` first: ``lstat``, the link resolved and
required to stay inside the bundle root, a regular file only. :func:`open_regular` is
the one way bundle files are opened: ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO swapped in after
the check cannot block the open), then ``fstat`` must say regular file before a byte is read.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Final, Literal

from installer.engine.printable import shown
from installer.errors import BundleError

UnsafeKind = Literal["missing", "outside", "special", "folder", "unreadable"]

LINK_HINT: Final = ("Copy the real file into the bundle folder in place of the link (links may only point to "
                    "files inside the bundle), then run again.")
SPECIAL_HINT: Final = "Remove it from the bundle folder and copy the real file there, then run again."


class UnsafeBundleFile(BundleError):
    """A bundle file that is missing, a link leaving the bundle, a folder, or a device, FIFO or socket.

    ``reason`` is the message without the file's path, for reports that name the file already.
    """

    def __init__(self, path: Path, kind: UnsafeKind, reason: str, hint: str) -> None:
        super().__init__(f"{shown(path)}: {reason}", hint)
        self.path = path
        self.kind: UnsafeKind = kind
        self.reason = reason


def special_kind(mode: int) -> str:
    """What a non-regular file is, in words (``a FIFO (named pipe)``, ``a character device``...)."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a link loop"
    return "not a regular file"


def bundle_path(bundle: Path, relative: str | PurePosixPath) -> Path:
    """The path to read ``bundle/relative`` through, once it is known to be a regular file inside the bundle.

    Returns ``bundle/relative`` itself, or, when that is a link (to a file inside the
    bundle), the link's target, so :func:`open_regular` can refuse to follow a link.

    Raises:
        UnsafeBundleFile: missing, a link leading outside the bundle, a folder, a device,
            a FIFO, a socket, or a link loop; the message names the file and says which.
    """
    path = bundle / relative
    try:
        first = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise UnsafeBundleFile(path, "missing", "does not exist",
                               "Copy the file again from the export machine (`./install.sh verify` lists every "
                               "missing one).") from None
    except OSError as exc:
        raise UnsafeBundleFile(path, "unreadable", f"cannot read: {exc.strerror or exc}",
                               "Check the bundle's permissions (copy it again as root), then run again.") from None
    root = Path(os.path.realpath(bundle))
    real = Path(os.path.realpath(path))
    linked = stat.S_ISLNK(first.st_mode) or real != Path(os.path.abspath(path))
    if not real.is_relative_to(root):
        try:
            target = os.lstat(real).st_mode
            what = "" if stat.S_ISREG(target) else f" ({special_kind(target)}, not a regular file)"
        except OSError:
            what = " (which does not exist)"
        raise UnsafeBundleFile(path, "outside", f"is a link to {shown(real)}{what}, outside the bundle folder {shown(root)}; "
                                                "refused, never read", LINK_HINT)
    try:
        info = os.lstat(real)
    except (FileNotFoundError, NotADirectoryError):
        raise UnsafeBundleFile(path, "missing", f"is a broken link (to {shown(real)}, which does not exist)",
                               LINK_HINT) from None
    except OSError as exc:
        raise UnsafeBundleFile(path, "unreadable", f"cannot read: {exc.strerror or exc}",
                               "Check the bundle's permissions (copy it again as root), then run again.") from None
    if stat.S_ISREG(info.st_mode):
        return real if stat.S_ISLNK(first.st_mode) else path
    what = special_kind(info.st_mode)
    via = f" (through a link, at {shown(real)})" if linked else ""
    if stat.S_ISDIR(info.st_mode):
        raise UnsafeBundleFile(path, "folder", f"is a folder{via}, not a file", SPECIAL_HINT)
    raise UnsafeBundleFile(path, "special", f"is {what}{via}, not a regular file; refused, never read",
                           SPECIAL_HINT)


def listed_path(path: Path, relative: str) -> Path:
    """:func:`bundle_path` for ``path``, known to be ``<bundle>/<relative>`` (an import item's file)."""
    root = path
    for _ in PurePosixPath(relative).parts:
        root = root.parent
    return bundle_path(root, relative)


def open_regular(path: Path, *, buffering: int = -1) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file; never follows a last-component link, never blocks.

    Raises:
        OSError: as ``open`` would; ``ELOOP`` for a link; ``EINVAL`` for a device, FIFO or socket.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, f"{special_kind(info.st_mode)}, not a regular file; refused", str(path))
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb", buffering=buffering)  # type: ignore[return-value]
    except BaseException:
        os.close(fd)
        raise
