"""Import into a real containerd (private instance from the fixtures): what `microk8s ctr` talks to."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard
from imagegen import ImageSpec, garbage_layer_archive, make_image_archive, to_oci, write_docker_archive

from installer.bundle.importer import PINNED_LABEL, ContainerdStore, ImageImporter, items_from_manifest, items_from_scan
from installer.bundle.manifest import load_manifest, save_manifest
from installer.bundle.scan import lock_bundle, scan_folder
from installer.engine.commands import RealRunner
from installer.engine.events import CollectingSink, ItemFinished, StepProgress
from installer.engine.sizes import human_bytes

pytestmark = pytest.mark.containerd
REPO = Path(__file__).resolve().parents[2]


def _store(containerd) -> ContainerdStore:
    return ContainerdStore(RealRunner(), containerd.socket, containerd.namespace, "ctr")


def _import(containerd, bundle: Path, jobs: int = 2):
    sink = CollectingSink()
    importer = ImageImporter(_store(containerd), sink=sink, jobs=jobs, retry_delay=0.1)
    report = importer.run(items_from_manifest(bundle, load_manifest(bundle).images()))
    return report, sink


def _status(report) -> dict[str, str]:
    return {r.item.name: r.status for r in report.results}


def _lock(bundle: Path) -> None:
    save_manifest(lock_bundle(bundle), bundle)


def _zstd(path: Path) -> Path:
    out = path.with_name(path.name + ".zst")
    out.write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    path.unlink()
    return out


def _gzip(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return out


def _oci_config_digest(path: Path) -> str:
    """The config digest read by hand (skopeo rewrites the config, so it is not the docker one)."""
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
    return manifest["config"]["digest"]


def _image_ids(containerd) -> dict[str, str]:
    """ref -> image ID, straight from containerd (independent of the code under test)."""
    ids = {}
    for ref in containerd.images():
        target = containerd.ctr("images", "ls", f"name=={ref}").stdout.splitlines()[1].split()[2]
        manifest = json.loads(containerd.ctr("content", "get", target).stdout)
        ids[ref] = manifest["config"]["digest"]
    return ids


def test_docker_oci_multi_image_gz_zst_are_imported_and_pinned(clean_containerd, tmp_path: Path) -> None:
    """Every archive kind lands in containerd with the expected image ID, and every ref is pinned."""
    images = tmp_path / "images"
    plain = make_image_archive(images / "plain.tar", "quay.io/jupyterhub/k8s-hub:4.2.0", seed=1)
    gz = make_image_archive(images / "gz.tar", "busybox:1.28.4", seed=2)
    _gzip(images / "gz.tar")
    zst = make_image_archive(images / "zst.tar", "registry.k8s.io/pause:3.10", seed=3)
    _zstd(images / "zst.tar")
    two = write_docker_archive(images / "two.tar", [ImageSpec(refs=["calico/cni:v3.28.1"], seed=4),
                                                     ImageSpec(refs=["calico/node:v3.28.1"], seed=5)])
    make_image_archive(tmp_path / "src.tar", "x:1", seed=6)
    to_oci(tmp_path / "src.tar", images / "oci.tar", "ghcr.io/mellanox/k8s-rdma-shared-dev-plugin:v1.5.3")
    make_image_archive(tmp_path / "short.tar", "x:2", seed=7)
    to_oci(tmp_path / "short.tar", images / "short-oci.tar", "bar:3")
    oci_digest, short_digest = _oci_config_digest(images / "oci.tar"), _oci_config_digest(images / "short-oci.tar")
    _zstd(images / "short-oci.tar")
    _lock(tmp_path)

    report, sink = _import(clean_containerd, tmp_path)
    assert report.ok, [r.reason for r in report.failed]
    assert set(_status(report).values()) == {"ok"}
    expected = {"quay.io/jupyterhub/k8s-hub:4.2.0": plain.config_digest,
                "docker.io/library/busybox:1.28.4": gz.config_digest,
                "registry.k8s.io/pause:3.10": zst.config_digest,
                "docker.io/calico/cni:v3.28.1": two[0].config_digest,
                "docker.io/calico/node:v3.28.1": two[1].config_digest,
                "ghcr.io/mellanox/k8s-rdma-shared-dev-plugin:v1.5.3": oci_digest,
                "docker.io/library/bar:3": short_digest}
    ids = _image_ids(clean_containerd)
    assert {ref: ids.get(ref) for ref in expected} == expected
    listing = clean_containerd.ctr("images", "ls").stdout.splitlines()
    for ref in expected:
        row = next(line for line in listing if line.split()[0] == ref)
        assert f"{PINNED_LABEL}=pinned" in row.split()[-1]
    # Progress: bytes per archive reach its size, and the overall total is the whole bundle.
    progress = sink.of(StepProgress)
    total = sum(r.item.size for r in report.results)
    assert all(p.overall_total == total for p in progress)
    finals = {p.item: p.done for p in progress if p.message == "importing"}
    assert finals == {r.item.name: r.item.size for r in report.results}
    assert max(p.overall_done for p in progress) == total
    assert {e.item for e in sink.of(ItemFinished)} == set(_status(report))


def test_present_images_are_skipped_but_a_new_image_under_the_same_tag_is_not(clean_containerd, tmp_path: Path) -> None:
    """Skip means same image ID under the ref; a different image under the same tag is imported."""
    make_image_archive(tmp_path / "images" / "a.tar", "a/a:1", seed=1)
    make_image_archive(tmp_path / "images" / "b.tar", "b/b:1", seed=2)
    _lock(tmp_path)
    first, _ = _import(clean_containerd, tmp_path)
    assert set(_status(first).values()) == {"ok"}
    second, sink = _import(clean_containerd, tmp_path)
    assert set(_status(second).values()) == {"skipped"}
    assert not [p for p in sink.of(StepProgress) if p.message == "importing"]

    # Same tag, different content: replaced in the bundle (new manifest), then imported again.
    newer = make_image_archive(tmp_path / "images" / "a.tar", "a/a:1", seed=42)
    _lock_force(tmp_path)
    third, _ = _import(clean_containerd, tmp_path)
    assert _status(third) == {"images/a.tar": "ok", "images/b.tar": "skipped"}
    assert _image_ids(clean_containerd)["docker.io/a/a:1"] == newer.config_digest


def _lock_force(bundle: Path) -> None:
    (bundle / "manifest.yaml").unlink()
    _lock(bundle)


def test_bad_files_fail_alone(clean_containerd, tmp_path: Path) -> None:
    """Checksum mismatch, a truncated file and a missing file each fail with a reason; the rest import."""
    images = tmp_path / "images"
    for n in range(4):
        make_image_archive(images / f"i{n}.tar", f"img/i{n}:1", seed=n, size=300_000)
    _lock(tmp_path)
    data = bytearray((images / "i1.tar").read_bytes())
    data[5000] ^= 1
    (images / "i1.tar").write_bytes(bytes(data))
    (images / "i2.tar").write_bytes((images / "i2.tar").read_bytes()[:100_000])
    (images / "i3.tar").unlink()
    report, _ = _import(clean_containerd, tmp_path)
    status = _status(report)
    assert status == {"images/i0.tar": "ok", "images/i1.tar": "failed", "images/i2.tar": "failed",
                      "images/i3.tar": "failed"}
    reasons = {r.item.name: r.reason for r in report.failed}
    assert reasons["images/i1.tar"].startswith("sha256 mismatch: expected ")
    assert "size mismatch" in reasons["images/i2.tar"]
    assert "missing" in reasons["images/i3.tar"]
    assert report.exit_code == 2
    assert clean_containerd.images() == ["docker.io/img/i0:1"]


def test_one_image_rejected_by_containerd_does_not_stop_the_others(clean_containerd, tmp_path: Path) -> None:
    """The rejected archive fails with containerd's reason and exit code 2 (bad input, issue 21).

    The other two import.
    """
    images = tmp_path / "images"
    make_image_archive(images / "a.tar", "ok/a:1", seed=1)
    garbage_layer_archive(images / "b.tar", "bad/b:1")
    make_image_archive(images / "c.tar", "ok/c:1", seed=3)
    _lock(tmp_path)
    report, _ = _import(clean_containerd, tmp_path)
    assert _status(report) == {"images/a.tar": "ok", "images/b.tar": "failed", "images/c.tar": "ok"}
    (failure,) = report.failed
    assert "archive/tar: invalid tar header" in failure.reason and failure.bad_bundle
    assert report.exit_code == 2
    assert clean_containerd.images() == ["docker.io/ok/a:1", "docker.io/ok/c:1"]  # nothing half-imported stays


def test_hand_assembled_folder_imports_without_manifest(clean_containerd, tmp_path: Path) -> None:
    """Without a manifest, refs and IDs come from the archives; a second run skips them."""
    make_image_archive(tmp_path / "a.tar", "hand/a:1", seed=1)
    items = items_from_scan(scan_folder(tmp_path))
    assert items[0].sha256 is None
    importer = ImageImporter(_store(clean_containerd))
    assert _status(importer.run(items)) == {"a.tar": "ok"}
    assert _status(importer.run(items)) == {"a.tar": "skipped"}


def _cli(containerd, bundle: Path, *extra: str) -> list[str]:
    state = bundle.parent / f"{bundle.name}-state"  # the lock goes here, not in /var/lib
    return [sys.executable, "-m", "installer", "import", "--bundle", str(bundle), "--containerd-socket",
            str(containerd.socket), "--namespace", containerd.namespace, "--ctr", "ctr", "--state-dir", str(state),
            *extra]


def test_cli_killed_halfway_then_rerun_finishes_without_reimporting(clean_containerd, tmp_path: Path) -> None:
    """Kill the import after the first archive; the re-run skips what was imported and does the rest."""
    for n in range(3):
        make_image_archive(tmp_path / "images" / f"k{n}.tar", f"kill/k{n}:1", seed=n, size=24 << 20)
    _lock(tmp_path)
    proc = subprocess.Popen(_cli(clean_containerd, tmp_path, "--jobs", "1"), cwd=REPO, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    imported_before = []
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("imported: "):
            imported_before.append(line.split(": ", 1)[1].strip())
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert imported_before == ["images/k0.tar"]
    rerun = subprocess.run(_cli(clean_containerd, tmp_path, "--json"), cwd=REPO, capture_output=True, text=True,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr
    items = {i["file"]: i["status"] for i in json.loads(rerun.stdout)["items"]}
    assert items["images/k0.tar"] == "skipped"
    assert all(status in ("ok", "skipped") for status in items.values())
    assert clean_containerd.images() == ["docker.io/kill/k0:1", "docker.io/kill/k1:1", "docker.io/kill/k2:1"]


def test_cli_exit_code_and_json_on_a_bad_file(clean_containerd, tmp_path: Path) -> None:
    """A checksum mismatch exits 2; the JSON document lists the failure with its reason."""
    make_image_archive(tmp_path / "images" / "a.tar", "cli/a:1", seed=1)
    make_image_archive(tmp_path / "images" / "b.tar", "cli/b:1", seed=2)
    _lock(tmp_path)
    data = bytearray((tmp_path / "images" / "b.tar").read_bytes())
    data[3000] ^= 1
    (tmp_path / "images" / "b.tar").write_bytes(bytes(data))
    done = subprocess.run(_cli(clean_containerd, tmp_path, "--json"), cwd=REPO, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2
    document = json.loads(done.stdout)
    assert document["counts"] == {"ok": 1, "skipped": 0, "failed": 1}
    failed = next(i for i in document["items"] if i["status"] == "failed")
    assert failed["file"] == "images/b.tar" and "sha256 mismatch" in failed["reason"]


def test_preflight_does_not_ask_room_for_images_already_imported(clean_containerd, tmp_path: Path) -> None:
    """A re-run after a full disk: the disk check counts only what is left to import, by image ID."""
    from installer.config.profile import Profile
    from installer.preflight.report import ImageTarget, imported_bytes, run_preflight

    target = ImageTarget(clean_containerd.socket, clean_containerd.namespace)
    make_image_archive(tmp_path / "images" / "a.tar", "a/a:1", seed=1)
    make_image_archive(tmp_path / "images" / "b.tar", "b/b:1", seed=2)
    _lock(tmp_path)
    # What a.tar unpacks to, as the manifest records it: the disk check counts that, not the file.
    a_size = next(e.content_size for _, e in load_manifest(tmp_path).images() if e.file == "images/a.tar")
    assert a_size and imported_bytes(RealRunner(), tmp_path, target) == 0

    items = items_from_manifest(tmp_path, load_manifest(tmp_path).images())
    report = ImageImporter(_store(clean_containerd)).run([i for i in items if i.name == "images/a.tar"])
    assert report.ok
    assert imported_bytes(RealRunner(), tmp_path, target) == a_size

    profile = Profile.model_validate({"preflight": {"disk_headroom_gib": 0}}).with_bundle(tmp_path)
    disk = {c.id: c for c in run_preflight(RealRunner(), profile, images_target=target).checks}["disk-containerd"]
    assert f"({human_bytes(a_size)} already are)" in disk.required

    # A different image under the same tag in the bundle: containerd's copy does not count.
    make_image_archive(tmp_path / "images" / "a.tar", "a/a:1", seed=42)
    _lock_force(tmp_path)
    assert imported_bytes(RealRunner(), tmp_path, target) == 0
