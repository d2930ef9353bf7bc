"""Disk: containerd's root filesystem fills up during an import.

A private containerd keeps its root on a 20 MiB tmpfs mounted where MicroK8s keeps
it (``<host>/var/snap/microk8s/common``), and the bundle needs more than that.
What the operator must see: preflight says so beforehand, from the bundle's sizes;
the import names each image that did not fit and the free space left on that
filesystem, exits 1, and leaves the rest intact: the images that fit are complete
and pinned, the ones that did not leave no half-image behind, and once space is
freed the same command finishes the job without re-importing anything.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from imagegen import make_image_archive
from realparts import Containerd, start_containerd

from installer.bundle.manifest import save_manifest
from installer.bundle.scan import lock_bundle
from tests.faults.support import cli, mount_tmpfs

pytestmark = pytest.mark.containerd

MIB = 1 << 20
IMAGES = 4
IMAGE_BYTES = 4 * MIB
"""Each image takes about twice its size in containerd (blob + unpacked): two of four fit in 20 MiB."""




@pytest.fixture
def small_disk() -> Iterator[tuple[Path, Path, Containerd]]:
    """(host root, mount point, containerd whose root is on a 20 MiB tmpfs); unmounted afterwards.

    The host root is a short path under /tmp: containerd's sockets must stay under 104 characters.
    """
    host = Path(tempfile.mkdtemp(prefix="disk-", dir="/tmp"))
    mount = host / "var/snap/microk8s/common"
    mount_tmpfs(mount, "20m")
    daemon: Containerd | None = None
    try:
        daemon = start_containerd(base=mount)
        yield host, mount, daemon
    finally:
        if daemon is not None:
            daemon.stop()
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)
        shutil.rmtree(host, ignore_errors=True)


def _bundle(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    bundle = tmp_path / "bundle"
    expected = {}
    for n in range(IMAGES):
        built = make_image_archive(bundle / "images" / f"d{n}.tar", f"disk/d{n}:1", seed=n, size=IMAGE_BYTES)
        expected[f"docker.io/disk/d{n}:1"] = built.config_digest
    save_manifest(lock_bundle(bundle), bundle)
    return bundle, expected


def _import(daemon: Containerd, bundle: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return cli("import", "--bundle", str(bundle), "--containerd-socket", str(daemon.socket), "--namespace",
               daemon.namespace, "--ctr", "ctr", "--jobs", "1", "--state-dir", str(state))


def _complete_images(daemon: Containerd) -> dict[str, str]:
    """ref -> image ID of images whose content is all present (``ctr images check``), from containerd itself."""
    found = {}
    for line in daemon.ctr("images", "check").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and not fields[0].startswith("sha256:") and "complete" in fields:
            target = daemon.ctr("images", "ls", f"name=={fields[0]}").stdout.splitlines()[1].split()[2]
            found[fields[0]] = json.loads(daemon.ctr("content", "get", target).stdout)["config"]["digest"]
    return found


def test_preflight_says_beforehand_that_the_images_will_not_fit(small_disk: tuple[Path, Path, Containerd],
                                                                tmp_path: Path) -> None:
    """`preflight` on that host, with the bundle: the disk check fails naming the filesystem, the free space
    and what the bundle needs (2.5 x its image files), and the exit code is 3."""
    host, mount, _ = small_disk
    bundle, _ = _bundle(tmp_path)
    profile = tmp_path / "profile.yaml"
    profile.write_text("preflight:\n  disk_headroom_gib: 0\n")
    done = cli("preflight", "--host-root", str(host), "--bundle", str(bundle), "--profile", str(profile), "--json")
    assert done.returncode == 3, done.stderr
    check = next(c for c in json.loads(done.stdout)["checks"] if c["id"] == "disk-containerd")
    assert check["status"] == "fail"
    assert f"free on {mount}" in check["found"]
    image_bytes = sum(p.stat().st_size for p in (bundle / "images").iterdir())
    said = re.search(r"2\.5 x ([\d.]+) MiB of image files", check["required"])  # the images' own unit, not 0.0 GiB
    assert said and 0 < float(said.group(1)) <= image_bytes / (1 << 20) + 0.05, check["required"]
    assert "Free " in check["hint"] and str(mount) in check["hint"]


def test_disk_full_during_import_names_the_image_and_free_space_and_keeps_the_rest(
        small_disk: tuple[Path, Path, Containerd], tmp_path: Path) -> None:
    """The import fills containerd's filesystem: each image that did not fit fails with the free space named.

    Then 100 MiB more is given to the filesystem and the same command finishes the
    job: what fitted is skipped, the rest is imported.
    """
    _, mount, daemon = small_disk
    bundle, expected = _bundle(tmp_path)

    done = _import(daemon, bundle, tmp_path / "state")
    assert done.returncode == 1, done.stdout + done.stderr
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL ")]
    assert failures, done.stdout
    for line in failures:
        assert "no space left on device" in line
        assert "(the disk is full: " in line and f" free of 20.0 MiB on {mount})" in line
    failed = {line.split()[1].rstrip(":") for line in failures}
    complete = _complete_images(daemon)
    fitted = {f"images/d{n}.tar" for n in range(IMAGES)} - failed
    assert fitted, "nothing fitted: the test bundle is too big for the 20 MiB disk"
    # The rest is intact: what fitted is complete with the right ID; what failed left no ref behind.
    assert complete == {f"docker.io/disk/{Path(f).stem}:1": expected[f"docker.io/disk/{Path(f).stem}:1"]
                        for f in fitted}
    assert sorted(daemon.images()) == sorted(complete)
    assert "imported (" in done.stdout and f"{len(failures)} failed" in done.stdout

    subprocess.run(["mount", "-o", "remount,size=120m", str(mount)], check=True)
    again = cli("import", "--bundle", str(bundle), "--containerd-socket", str(daemon.socket), "--namespace",
                daemon.namespace, "--ctr", "ctr", "--state-dir", str(tmp_path / "state"), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    statuses = {item["file"]: item["status"] for item in json.loads(again.stdout)["items"]}
    assert statuses == {f: ("skipped" if f in fitted else "ok") for f in statuses}
    assert _complete_images(daemon) == expected
