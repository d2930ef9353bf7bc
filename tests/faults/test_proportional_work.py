"""Work proportional to what the bundle really holds, not to what its manifest or an archive claims.

A manifest can list one file many times or expand (through YAML aliases) to a million
entries in a few MB; an archive can hold a hundred thousand empty members. Each must
cost what the real content costs, or be refused at once with exit 2 naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard
from imagegen import make_image_archive

from installer.bundle.archive import MAX_MEMBERS
from tests.faults.support import cli, mount_tmpfs


def _entry(bundle: Path, file: str, ref: str, digest: str) -> str:
    data = (bundle / file).read_bytes()
    return (f"{{refs: [{ref}], file: {file}, sha256: {hashlib.sha256(data).hexdigest()}, size: {len(data)}, "
            f"digest: '{digest}'}}")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return cli(*args)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{' '.join(args)}` did not end: the work was not bounded by the content")


def test_a_file_listed_64_times_is_read_once(tmp_path: Path) -> None:
    """64 entries naming one archive: verify reads its bytes once (``bytes_hashed``), and says each entry is ok."""
    bundle = tmp_path / "bundle"
    built = make_image_archive(bundle / "images" / "a.tar", "f/a:1", size=2 << 20, seed=1)
    entry = _entry(bundle, "images/a.tar", "docker.io/f/a:1", built.config_digest)
    (bundle / "manifest.yaml").write_text("version: 1\ncomponents:\n  extra:\n    images:\n" + f"    - {entry}\n" * 64)
    done = _run("verify", "--bundle", str(bundle), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and len(report["files"]) == 64
    assert report["bytes_hashed"] == (bundle / "images" / "a.tar").stat().st_size


def test_a_manifest_of_a_million_entries_is_refused_at_once(tmp_path: Path) -> None:
    """A million entries in 8 MB (one anchor, a million aliases): exit 2 naming the manifest, not minutes of work."""
    bundle = tmp_path / "bundle"
    built = make_image_archive(bundle / "images" / "a.tar", "f/a:1", seed=1)
    entry = _entry(bundle, "images/a.tar", "docker.io/f/a:1", built.config_digest)
    (bundle / "manifest.yaml").write_text(
        f"version: 1\ncomponents:\n  extra:\n    images:\n    - &e {entry}\n" + "    - *e\n" * 999_999)
    for verb in (["verify"], ["import", "--containerd-socket", str(tmp_path / "none.sock"),
                              "--state-dir", str(tmp_path / "state")]):
        done = _run(*verb, "--bundle", str(bundle))
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == 2, done.stdout + done.stderr
        assert f"{bundle / 'manifest.yaml'}: more than" in done.stderr, done.stderr


def test_an_archive_with_too_many_members_is_refused(tmp_path: Path) -> None:
    """A real image archive padded with more than MAX_MEMBERS empty files (gzip: a few MB): exit 2 naming it."""
    bundle = tmp_path / "bundle"
    plain = tmp_path / "a.tar"
    make_image_archive(plain, "f/a:1", seed=1)
    archive = bundle / "images" / "a.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(plain) as source, tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for member in source.getmembers():
            tar.addfile(member, source.extractfile(member) if member.isfile() else None)
        for index in range(MAX_MEMBERS + 10):
            tar.addfile(tarfile.TarInfo(f"pad/{index}"), io.BytesIO(b""))
    done = _run("verify", "--bundle", str(bundle))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "members" in line]
    assert lines and str(archive) in lines[0], done.stdout + done.stderr


@pytest.fixture
def small_disk() -> Iterator[tuple[Path, Path]]:
    """(host root, MicroK8s's containerd folder in it on a 20 MiB tmpfs); unmounted afterwards."""
    host = Path(tempfile.mkdtemp(prefix="disk-", dir="/tmp"))
    mount = host / "var/snap/microk8s/common"
    try:
        mount_tmpfs(mount, "20m")
    except BaseException:
        shutil.rmtree(host, ignore_errors=True)
        raise
    try:
        yield host, mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)
        shutil.rmtree(host, ignore_errors=True)


def test_the_disk_check_counts_what_an_archive_unpacks_to(small_disk: tuple[Path, Path], tmp_path: Path) -> None:
    """A zstd archive of a few KB holding a 16 MiB layer (zeros), locked: containerd will store the 16 MiB (twice),
    so preflight fails the disk check on 20 MiB free, and says how much it counted."""
    host, mount = small_disk
    bundle = tmp_path / "bundle"
    plain = tmp_path / "a.tar"
    make_image_archive(plain, "f/a:1", seed=1, files={"zeros": bytes(16 << 20)})
    archive = bundle / "images" / "a.tar.zst"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    assert archive.stat().st_size < 1 << 20  # the file is small; its content is not
    locked = cli("bundle", "lock", "--bundle", str(bundle))
    assert locked.returncode == 0, locked.stderr
    profile = tmp_path / "profile.yaml"
    profile.write_text("preflight:\n  disk_headroom_gib: 0\n")
    done = _run("preflight", "--host-root", str(host), "--bundle", str(bundle), "--profile", str(profile), "--json")
    check = next(c for c in json.loads(done.stdout)["checks"] if c["id"] == "disk-containerd")
    assert check["status"] == "fail", check
    assert f"free on {mount}" in check["found"]
    assert "of image files (unpacked)" in check["required"]
    assert done.returncode == 3, done.stderr
