"""Verification against the manifest, scanning hand-assembled folders, and `bundle lock`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from imagegen import ImageSpec, make_image_archive, write_docker_archive

from installer.bundle.manifest import load_manifest, save_manifest
from installer.bundle.scan import lock_bundle, scan_folder
from installer.bundle.verify import verify_bundle

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A hand-assembled folder of three archives (one holding two images), then locked."""
    folder = tmp_path / "offline-images"
    make_image_archive(folder / "images" / "hub.tar", "quay.io/jupyterhub/k8s-hub:4.2.0", seed=1)
    make_image_archive(folder / "images" / "pause.tar", "registry.k8s.io/pause:3.10", seed=2)
    write_docker_archive(folder / "images" / "two.tar", [ImageSpec(refs=["busybox:1.28.4"], seed=3),
                                                         ImageSpec(refs=["x/y:1"], seed=4)])
    save_manifest(lock_bundle(folder, known_refs={"quay.io/jupyterhub/k8s-hub:4.2.0": "jupyterhub"}), folder)
    return folder


def test_lock_files_images_by_component(bundle: Path) -> None:
    """Known refs go to their component, others to extra; multi-image archives keep every image."""
    manifest = load_manifest(bundle)
    assert [e.file for e in manifest.component("jupyterhub").images] == ["images/hub.tar"]
    two = next(e for e in manifest.component("extra").images if e.file == "images/two.tar")
    assert two.all_refs() == ["docker.io/library/busybox:1.28.4", "docker.io/x/y:1"]


def test_intact_bundle_verifies(bundle: Path) -> None:
    """Every file matches; nothing is unlisted."""
    report = verify_bundle(bundle, load_manifest(bundle), jobs=2)
    assert report.ok, [c.message for c in report.failures]
    assert len(report.checks) == 3 and report.unlisted == []


def test_mismatches_name_file_expected_and_found(bundle: Path) -> None:
    """A changed byte, a missing file and a different image under the same name are each named."""
    manifest = load_manifest(bundle)
    hub = bundle / "images" / "hub.tar"
    data = bytearray(hub.read_bytes())
    data[-2000] ^= 0xFF
    hub.write_bytes(bytes(data))
    (bundle / "images" / "pause.tar").unlink()
    make_image_archive(bundle / "images" / "two.tar", "busybox:1.28.4", seed=99)  # same size class, new content
    entry = next(e for _, e in manifest.images() if e.file == "images/two.tar")
    entry.size = (bundle / "images" / "two.tar").stat().st_size
    entry.sha256 = __import__("hashlib").sha256((bundle / "images" / "two.tar").read_bytes()).hexdigest()
    report = verify_bundle(bundle, manifest, jobs=2)
    by_file = {c.file: c for c in report.checks}
    assert by_file["images/hub.tar"].status == "sha256"
    assert manifest.find_image("quay.io/jupyterhub/k8s-hub:4.2.0")[1].sha256 in by_file["images/hub.tar"].message
    assert by_file["images/pause.tar"].status == "missing"
    assert by_file["images/two.tar"].status == "refs"
    assert "docker.io/x/y:1" in by_file["images/two.tar"].message
    assert not report.ok


def test_size_mismatch_and_unlisted_file(bundle: Path) -> None:
    """A truncated file is caught by size before hashing; a stray file is listed as unlisted."""
    hub = bundle / "images" / "hub.tar"
    hub.write_bytes(hub.read_bytes()[:1000])
    (bundle / "images" / "stray.tar").write_bytes(b"x")
    report = verify_bundle(bundle, load_manifest(bundle), jobs=2)
    check = next(c for c in report.checks if c.file == "images/hub.tar")
    assert check.status == "size" and "found 1000 bytes" in check.message
    assert report.unlisted == ["images/stray.tar"]


def test_scan_reports_unreadable_archives(tmp_path: Path) -> None:
    """A hand-assembled folder is read from the archives' own indexes; a broken file is a named problem."""
    make_image_archive(tmp_path / "ok.tar", "a:1")
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08garbage")
    scan = scan_folder(tmp_path)
    assert list(scan.refs()) == ["docker.io/library/a:1"]
    assert len(scan.problems) == 1 and "broken.tar.gz" in scan.problems[0]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "installer", *args], capture_output=True, text=True,
                          cwd=REPO, check=False)


def test_verify_cli_exit_codes_and_json(bundle: Path) -> None:
    """`verify --json` prints one document; a mismatch exits 2 and names the file."""
    ok = _cli("verify", "--bundle", str(bundle), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    (bundle / "images" / "pause.tar").unlink()
    bad = _cli("verify", "--bundle", str(bundle))
    assert bad.returncode == 2
    assert "images/pause.tar: missing" in bad.stdout


def test_bundle_lock_cli(tmp_path: Path) -> None:
    """`bundle lock` writes manifest.yaml, refuses to overwrite it without --force."""
    make_image_archive(tmp_path / "images" / "a.tar", "registry.k8s.io/pause:3.10")
    first = _cli("bundle", "lock", "--bundle", str(tmp_path), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["components"] == {"microk8s": ["registry.k8s.io/pause:3.10"]}
    assert load_manifest(tmp_path).find_image("registry.k8s.io/pause:3.10")
    again = _cli("bundle", "lock", "--bundle", str(tmp_path))
    assert again.returncode == 2 and "--force" in again.stderr


def test_a_misspelt_section_is_refused_naming_it(bundle: Path) -> None:
    """``gpu_operater:`` in a hand-edited manifest: verify and import exit 2 naming the section, the manifest
    and the nearest component (the manifest model itself accepts any well-formed name; the registry decides)."""
    text = (bundle / "manifest.yaml").read_text()
    (bundle / "manifest.yaml").write_text(text.replace("  jupyterhub:", "  jupyterhup:", 1))
    for verb in ("verify", "import"):
        done = _cli(verb, "--bundle", str(bundle))  # import refuses before it reaches any containerd
        assert done.returncode == 2, (verb, done.stdout, done.stderr)
        assert "unknown component 'jupyterhup'" in done.stderr and str(bundle / "manifest.yaml") in done.stderr
        assert "Did you mean 'jupyterhub'?" in done.stderr
