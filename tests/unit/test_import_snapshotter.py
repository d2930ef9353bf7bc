"""The import unpacks into the snapshotter MicroK8s's containerd uses (``native`` on ZFS), as ``microk8s ctr`` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.bundle.importer import MICROK8S_SOCKET, ContainerdStore, ImportItem
from installer.engine.commands import RecordingRunner

STAT = ["stat", "-f", "-c", "%T", "/var/snap/microk8s/common"]


ITEM = ImportItem("x.tar", Path("/nonexistent/x.tar"), 3, None, ())


def imports(runner: RecordingRunner) -> list[tuple[str, ...]]:
    return [c for c in runner.calls if c[5:7] == ("images", "import")]


@pytest.mark.parametrize(("fstype", "snapshotter"), [("zfs", "native"), ("ext2/ext3", "overlayfs"),
                                                     ("xfs", "overlayfs")])
def test_microk8s_import_names_its_snapshotter(fstype: str, snapshotter: str) -> None:
    """utils.sh snapshotter(): native when $SNAP_COMMON is on ZFS, else overlayfs; asked once per store."""
    runner = RecordingRunner()
    runner.answer(STAT, fstype + "\n")
    store = ContainerdStore(runner, MICROK8S_SOCKET, "k8s.io", ctr="ctr")
    for _ in range(2):
        store.load(ITEM, iter([b"tar"]), timeout=60, hint="")
    assert [c[:9] for c in imports(runner)] == [("ctr", "-a", str(MICROK8S_SOCKET), "-n", "k8s.io", "images",
                                                 "import", "--snapshotter", snapshotter)] * 2
    assert runner.ran("stat") == [tuple(STAT)]


def test_unknown_filesystem_keeps_ctrs_default() -> None:
    runner = RecordingRunner()
    runner.answer(STAT, returncode=1, stderr="stat: cannot read file system information: No such file or directory")
    ContainerdStore(runner, MICROK8S_SOCKET, "k8s.io", ctr="ctr").load(ITEM, iter([b"tar"]), timeout=60, hint="")
    assert "--snapshotter" not in imports(runner)[0]


def test_another_containerd_keeps_its_default(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(STAT, "zfs\n")
    store = ContainerdStore(runner, tmp_path / "containerd.sock", "k8s.io", ctr="ctr")
    store.load(ITEM, iter([b"tar"]), timeout=60, hint="")
    assert "--snapshotter" not in imports(runner)[0]
    assert not runner.ran("stat")
