"""Free space on the filesystems the install fills.

* ``containerd``: ``/var/snap/microk8s/common`` holds MicroK8s's containerd root,
  where every imported image lands twice (content blobs + unpacked snapshots).
* ``snapd``: ``/var/lib/snapd`` receives the snaps when MicroK8s is installed.
* ``bundle``: the offline-images folder (informational: it is only read).

Before MicroK8s is installed its folder does not exist yet, so the nearest
existing parent is measured: that is the filesystem it will be created on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import psutil

from installer.probes.hostfs import HostFS
from installer.probes.model import DiskInfo

CONTAINERD_ROOT: Final = "/var/snap/microk8s/common"
SNAPD_ROOT: Final = "/var/lib/snapd"


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing parent."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path("/")


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding ``path`` (which must exist)."""
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def measure(path: Path, *, shown_as: str, role: str) -> DiskInfo:
    """Free and total bytes of the filesystem that holds (or will hold) ``path``."""
    existing = nearest_existing(path)
    usage = psutil.disk_usage(str(existing))
    return DiskInfo(path=shown_as, mount_point=str(mount_point(existing)), free_bytes=usage.free,
                    total_bytes=usage.total, role=role, measured_at=str(existing))


def probe_disks(fs: HostFS, bundle_dir: Path | None = None) -> tuple[DiskInfo, ...]:
    """The containerd root, snapd and (when given) the bundle folder."""
    disks = [
        measure(fs.path(CONTAINERD_ROOT), shown_as=CONTAINERD_ROOT, role="containerd"),
        measure(fs.path(SNAPD_ROOT), shown_as=SNAPD_ROOT, role="snapd"),
    ]
    if bundle_dir is not None:
        disks.append(measure(Path(bundle_dir), shown_as=str(bundle_dir), role="bundle"))
    return tuple(disks)
