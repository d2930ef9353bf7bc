"""Reading a host's files under a root folder: ``/`` for this machine, a copy otherwise.

Every probe reads through :class:`HostFS` so the same code runs on the live host
and on a tree an operator sent in (``tar czf host.tgz /sys /proc/driver ...``) or
a fake one built by the tests. Only the live host (root ``/``) may run commands.

A copied tree may carry recorded command output under ``.installer/`` (the live
host never reads these):

============================  ==========================================================
file                          content
============================  ==========================================================
``.installer/nvidia-smi.csv``  output of ``nvidia-smi --query-gpu=index,name,uuid,``
                               ``memory.total,driver_version,pci.bus_id,mig.mode.current``
                               ``--format=csv,noheader,nounits`` (the last column may be
                               missing)
============================  ==========================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

RECORDED_DIR: Final = ".installer"
"""Folder inside a copied host tree holding recorded command outputs."""


class HostFS:
    """Paths and small-file reads relative to a host root."""

    def __init__(self, root: Path | str = Path("/")) -> None:
        self.root = Path(root)
        self.live = self.root.resolve() == Path("/")
        """True for this machine: commands may run. False for a copied tree: files only."""

    def path(self, host_path: str) -> Path:
        """``/sys/class/infiniband`` under the root."""
        return self.root / host_path.lstrip("/")

    def read(self, host_path: str | Path) -> str | None:
        """A small text file's content stripped, or ``None`` when absent or unreadable."""
        path = host_path if isinstance(host_path, Path) else self.path(host_path)
        try:
            return path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:  # absent, a folder, or a sysfs attribute that refuses reads
            return None

    def exists(self, host_path: str) -> bool:
        """Whether ``host_path`` exists (symlinks followed, inside the tree when relative)."""
        return self.path(host_path).exists()

    def any_exists(self, *host_paths: str) -> bool:
        """Whether one of ``host_paths`` exists."""
        return any(self.exists(p) for p in host_paths)

    def recorded(self, name: str) -> str | None:
        """A recorded command output shipped inside a copied tree (never on the live host)."""
        if self.live:
            return None
        return self.read(self.root / RECORDED_DIR / name)

    def link_name(self, path: Path) -> str | None:
        """The last part of a symlink's target (``driver -> .../mlx5_core``), without following it.

        Reading the link text instead of resolving it keeps working in a copied
        tree where the target folder was not copied.
        """
        try:
            return Path(os.readlink(path)).name or None
        except OSError:
            return None
