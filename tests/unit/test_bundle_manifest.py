"""The manifest: round trip, precise errors, ref normalisation, lookups."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.bundle.manifest import (
    ArchivedImage,
    ChartEntry,
    ComponentArtifacts,
    ImageEntry,
    Manifest,
    dump_manifest,
    load_manifest,
    normalize_ref,
    save_manifest,
)
from installer.errors import BundleError

SHA = "a" * 64
DIGEST = "sha256:" + "b" * 64


def _manifest() -> Manifest:
    hub = ImageEntry(refs=["quay.io/jupyterhub/k8s-hub:4.2.0"], file="images/hub.tar.zst", sha256=SHA, size=10,
                     digest=DIGEST, more_images=[ArchivedImage(refs=["busybox:1.28.4"], digest="sha256:" + "c" * 64)])
    chart = ChartEntry(name="jupyterhub", version="4.2.0", file="charts/jupyterhub-4.2.0.tgz", sha256=SHA, size=5)
    return Manifest(components={"jupyterhub": ComponentArtifacts(images=[hub], charts=[chart])})


@pytest.mark.parametrize(("ref", "expected"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.28.4", "docker.io/library/busybox:1.28.4"),
    ("calico/cni:v3.28.1", "docker.io/calico/cni:v3.28.1"),
    ("docker.io/coredns/coredns:1.10.1", "docker.io/coredns/coredns:1.10.1"),
    ("quay.io/jupyterhub/k8s-hub:4.2.0", "quay.io/jupyterhub/k8s-hub:4.2.0"),
    ("localhost:5000/x", "localhost:5000/x:latest"),
    ("registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"),
])
def test_normalize_ref_matches_containerd_naming(ref: str, expected: str) -> None:
    """Short Docker names become the fully qualified refs containerd and Kubernetes use."""
    assert normalize_ref(ref) == expected


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    """What save writes, load reads back identically (refs normalised on the way in)."""
    manifest = _manifest()
    path = save_manifest(manifest, tmp_path)
    loaded = load_manifest(path)
    assert loaded == manifest
    assert loaded.find_image("busybox:1.28.4") is not None
    assert loaded.find_image("docker.io/library/busybox:1.28.4")[1].file == "images/hub.tar.zst"
    assert loaded.find_chart("jupyterhub", "v4.2.0") is not None
    assert [kind for _, kind, _ in loaded.files()] == ["image", "chart"]


def test_errors_name_file_line_and_key(tmp_path: Path) -> None:
    """A bad value is reported with the file, its line and the key path."""
    text = dump_manifest(_manifest()).replace(f"sha256: {SHA}", "sha256: nothex", 1)
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    with pytest.raises(BundleError) as caught:
        load_manifest(path)
    line = next(n for n, text_line in enumerate(text.splitlines(), 1) if "nothex" in text_line)
    assert f"{path}:{line}: components.jupyterhub.images[0].sha256" in caught.value.message


def test_unknown_key_and_unsafe_path_are_rejected(tmp_path: Path) -> None:
    """A typo cannot silently drop a checksum, and a file path cannot leave the bundle."""
    text = dump_manifest(_manifest()).replace("size: 10", "sise: 10").replace("images/hub.tar.zst", "../hub.tar")
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    with pytest.raises(BundleError) as caught:
        load_manifest(path)
    assert "unknown key 'components.jupyterhub.images[0].sise'" in caught.value.message
    assert "components.jupyterhub.images[0].file" in caught.value.message


def test_missing_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    """The hint points at `bundle lock`."""
    with pytest.raises(BundleError) as caught:
        load_manifest(tmp_path)
    assert "bundle lock" in caught.value.hint


def test_a_bundle_folder_that_does_not_exist_is_named_as_such(tmp_path: Path) -> None:
    """`verify --bundle /typo`: say the folder is missing, not "run bundle lock"."""
    from installer.bundle.manifest import load_manifest
    from installer.errors import BundleError

    with pytest.raises(BundleError, match=f"bundle folder {tmp_path / 'typo'} does not exist"):
        load_manifest(tmp_path / "typo" / "manifest.yaml")
    (tmp_path / "here").mkdir()
    with pytest.raises(BundleError, match="no manifest") as caught:
        load_manifest(tmp_path / "here")
    assert "bundle lock" in caught.value.hint
