"""What the wizard's catalog asks the engine: which bundle images to offer, and which to refuse."""

from __future__ import annotations

from pathlib import Path

from imagegen import make_image_archive

from installer.bundle.manifest import save_manifest
from installer.bundle.scan import lock_bundle
from installer.config.profile import Profile
from installer.install_run import InstallOptions
from installer.wizard.backend import image_problem, offerable_images


def _bundle(root: Path) -> Path:
    make_image_archive(root / "images" / "hub.tar", "quay.io/jupyterhub/k8s-hub:4.2.0", seed=1)
    make_image_archive(root / "images" / "torch.tar", "quay.io/lab/torch:1", seed=2)
    make_image_archive(root / "images" / "calico.tar", "docker.io/calico/node:v3.28.1", seed=3)
    save_manifest(lock_bundle(root, known_refs={"quay.io/jupyterhub/k8s-hub:4.2.0": "jupyterhub"}), root)
    return root


def test_offers_what_no_component_needs_and_the_catalog_lacks(tmp_path: Path) -> None:
    options = InstallOptions(profile=Profile(), bundle_dir=_bundle(tmp_path), state_dir=tmp_path / "state")
    assert offerable_images(options, []) == ["quay.io/lab/torch:1"]  # calico is MicroK8s's, the hub is the chart's
    assert offerable_images(options, ["quay.io/lab/torch:1"]) == []


def test_an_unknown_component_version_does_not_stop_the_offer(tmp_path: Path) -> None:
    """A disabled component with a version the installer has no image list for must not crash the wizard."""
    profile = Profile.model_validate({"gpu_operator": {"enabled": False, "version": "v25.9.0"}})
    options = InstallOptions(profile=profile, bundle_dir=_bundle(tmp_path), state_dir=tmp_path / "state")
    assert "quay.io/lab/torch:1" in offerable_images(options, [])


def test_refuses_a_malformed_ref_or_one_the_bundle_lacks(tmp_path: Path) -> None:
    options = InstallOptions(profile=Profile(), bundle_dir=_bundle(tmp_path), state_dir=tmp_path / "state")
    assert image_problem(options, "quay.io/lab/torch:1") is None
    assert "not a valid image reference" in (image_problem(options, "Foo Bar") or "")
    assert "quay.io/lab/gone:1 is not in the bundle" in (image_problem(options, "quay.io/lab/gone:1") or "")
    no_manifest = InstallOptions(profile=Profile(), bundle_dir=tmp_path / "empty", state_dir=tmp_path / "state")
    assert image_problem(no_manifest, "quay.io/lab/anything:1") is None  # nothing to check against
    assert "not a valid image reference" in (image_problem(no_manifest, "Foo Bar") or "")
