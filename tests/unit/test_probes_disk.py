"""Disk probe on real temp folders."""

from __future__ import annotations

import shutil
from pathlib import Path

from fakehost import FakeHost

from installer.probes.disk import mount_point, nearest_existing, probe_disks
from installer.probes.hostfs import HostFS


def test_missing_microk8s_folder_is_measured_on_its_nearest_parent(tmp_path: Path) -> None:
    FakeHost(tmp_path).mkdir("/var/lib")
    containerd, snapd = probe_disks(HostFS(tmp_path))
    assert (containerd.role, containerd.path) == ("containerd", "/var/snap/microk8s/common")
    assert containerd.measured_at == str(tmp_path / "var")
    assert snapd.measured_at == str(tmp_path / "var" / "lib")
    usage = shutil.disk_usage(tmp_path)
    assert containerd.total_bytes == usage.total
    assert abs(containerd.free_bytes - usage.free) < 64 << 20  # same filesystem, give or take other writers


def test_bundle_folder_is_measured_when_given(tmp_path: Path) -> None:
    bundle = tmp_path / "offline-images"
    bundle.mkdir()
    disks = probe_disks(HostFS(tmp_path), bundle)
    assert [d.role for d in disks] == ["containerd", "snapd", "bundle"]
    assert disks[2].path == str(bundle)


def test_nearest_existing_and_mount_point(tmp_path: Path) -> None:
    assert nearest_existing(tmp_path / "a" / "b") == tmp_path
    assert mount_point(Path("/")) == Path("/")
    assert Path(str(tmp_path)).is_relative_to(mount_point(tmp_path))
