"""One installer at a time: a lock file that says who holds it.

``flock`` is released by the kernel when the holder dies (even by SIGKILL), so a
crashed run never leaves a stale lock; the file's content only says who holds it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType

from installer.engine.files import ensure_private_dir
from installer.errors import LockHeld, UsageError

LOCK_NAME = "install.lock"
"""The lock file's name inside the state folder; ``install`` and ``import`` share it."""
TARGET_LOCK_DIR = Path("/run/jupyterhub-offline-installer")
"""Where root's per-target locks live (``/run`` is a tmpfs: nothing outlives a reboot)."""


class InstallLock:
    """Exclusive, non-blocking lock on ``path``; a second holder gets :class:`LockHeld`.

    Args:
        path: the lock file (``<state dir>/install.lock``).
        purpose: what the holder does (``install``, ``image import``), shown to a second run.
    """

    def __init__(self, path: Path, purpose: str = "install") -> None:
        self.path = path
        self.purpose = purpose
        self._fd: int | None = None
        self.about = ""
        """Said after the holder in the message a second run gets."""

    def _unusable(self, exc: OSError) -> UsageError:
        msg = f"cannot use the state folder {self.path.parent}: {exc.strerror or exc}"
        return UsageError(msg, "Pass --state-dir with a folder root can write (the journal and the "
                               "generated values files go there).")

    def __enter__(self) -> InstallLock:
        try:
            ensure_private_dir(self.path.parent)  # the state folder: journal, values files with secrets
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._unusable(exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "an unknown process"
            os.close(fd)
            msg = f"another installer is running ({holder}){self.about}; lock file {self.path}"
            raise LockHeld(msg, "Wait for it to finish, or stop it; a run that died releases the lock by itself.") from None
        holder = f"{self.purpose}, pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{holder}\n".encode(), 0)
        except OSError as exc:  # a full or read-only disk: nothing the run writes there later would fit either
            os.close(fd)  # releases the lock
            full = " (the disk is full)" if exc.errno == errno.ENOSPC else ""
            msg = f"cannot write the lock file {self.path}: {exc.strerror or exc}{full}"
            raise UsageError(msg, f"Free space on the disk holding {self.path.parent}, or pass --state-dir with a "
                                  "folder on a disk with free space (the journal and values files go there).") from None
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def target_lock_path(target: str) -> Path:
    """The lock file for an import target (a containerd socket), the same for every state folder.

    Keyed by the resolved path, so two spellings of one socket share one lock.
    """
    key = hashlib.sha256(os.path.realpath(target).encode()).hexdigest()[:16]
    base = TARGET_LOCK_DIR if os.geteuid() == 0 else Path(tempfile.gettempdir()) / f"jupyterhub-offline-installer-{os.getuid()}"
    return base / f"import-{key}.lock"


class TargetLock(InstallLock):
    """One import per containerd, whatever ``--state-dir`` each run was given.

    Two imports into one containerd would race on the same refs (and on the leases
    the installer cleans up), so the lock follows the target, not only the state folder.
    """

    def __init__(self, target: str, purpose: str = "image import") -> None:
        super().__init__(target_lock_path(target), purpose)
        self.target = target
        self.about = f" into {target}"

    def _unusable(self, exc: OSError) -> UsageError:
        msg = f"cannot create the import lock {self.path} for {self.target}: {exc.strerror or exc}"
        return UsageError(msg, f"Make {self.path.parent} writable for the user running the import (root).")
