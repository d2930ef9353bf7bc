"""Which artifacts the chosen components need, and reporting what the bundle lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagegen import make_image_archive

from installer.bundle.contents import load_bundle
from installer.bundle.manifest import save_manifest
from installer.bundle.requirements import (
    chosen_components,
    component_needs,
    missing_artifacts,
    require_artifacts,
)
from installer.bundle.scan import lock_bundle
from installer.components.gpu_operator import artifacts as gpu
from installer.components.jupyterhub import artifacts as hub
from installer.components.microk8s import artifacts as mk8s
from installer.components.rdma import artifacts as rdma
from installer.config.profile import Profile
from installer.errors import BundleError


def _profile(**sections: object) -> Profile:
    return Profile.model_validate(sections)


def test_microk8s_images_follow_the_channel() -> None:
    """1.32 uses calico v3.28.1 and pause 3.10; 1.31 calico v3.25.1 and pause 3.7."""
    assert "docker.io/calico/node:v3.28.1" in mk8s.required_images(_profile(microk8s={"channel": "1.32"}))
    old = mk8s.required_images(_profile(microk8s={"channel": "1.31"}))
    assert "registry.k8s.io/pause:3.7" in old and "docker.io/library/busybox:1.28.4" in old
    assert mk8s.required_snaps(_profile()) == ["snapd", "core20", "microk8s"]
    assert mk8s.required_snaps(_profile(microk8s={"install_snaps": False})) == []


def test_jupyterhub_core_images_match_the_chart_oracle(shared_dir: Path) -> None:
    """The [core] images of z2jh 4.2.0's IMAGES.txt, minus the sample user image when unused."""
    text = (shared_dir / "oracles" / "z2jh-4.2.0" / "IMAGES.txt").read_text()
    core = text.split("# [core]")[1].split("# [defaults]")[0]
    oracle = {line.split()[0] for line in core.splitlines()[1:] if line.strip() and not line.startswith("#")}
    images = [{"name": "scipy", "display_name": "SciPy", "image": "quay.io/jupyter/scipy-notebook:2024-12-09"}]
    refs = set(hub.required_images(_profile(jupyterhub={"images": images})))
    assert oracle - refs == {"quay.io/jupyterhub/k8s-singleuser-sample:4.2.0"}
    assert "quay.io/jupyter/scipy-notebook:2024-12-09" in refs
    assert not any("image-awaiter" in r or "kube-scheduler" in r for r in refs)


def test_only_enabled_notebook_images_are_needed() -> None:
    """A disabled catalog entry needs no image in the bundle."""
    images = [{"name": "a", "display_name": "A", "image": "a/a:1"},
              {"name": "b", "display_name": "B", "image": "b/b:1", "enabled": False}]
    refs = hub.required_images(_profile(jupyterhub={"images": images}))
    assert "docker.io/a/a:1" in refs and "docker.io/b/b:1" not in refs


def test_gpu_operator_and_rdma_images() -> None:
    """Driver images only when the operator installs the driver; the RDMA tag is the pinned one."""
    host = gpu.required_images(_profile(gpu_operator={"enabled": True, "driver": "host"}))
    assert "nvcr.io/nvidia/gpu-operator:v25.3.4" in host
    assert not any("nvidia/driver:" in r for r in host)
    operator = gpu.required_images(_profile(gpu_operator={"enabled": True, "driver": "operator"}))
    assert "nvcr.io/nvidia/driver:580.82.07-ubuntu22.04" in operator
    assert rdma.required_images(_profile(rdma={"image_tag": "v1.5.3"})) == [
        "ghcr.io/mellanox/k8s-rdma-shared-dev-plugin:v1.5.3"]
    assert gpu.required_charts(_profile()) == [("gpu-operator", "v25.3.4")]


def test_chosen_components_follow_the_profile() -> None:
    """GPU Operator and RDMA only when enabled."""
    assert chosen_components(_profile()) == ["microk8s", "jupyterhub"]
    assert chosen_components(_profile(gpu_operator={"enabled": True}, rdma={"enabled": True})) == [
        "microk8s", "jupyterhub", "gpu_operator", "rdma"]


def test_missing_artifacts_are_reported_before_install(tmp_path: Path) -> None:
    """Each missing image, chart and snap is named with its component; a present one is not."""
    profile = _profile(rdma={"enabled": True}, microk8s={"install_snaps": False})
    make_image_archive(tmp_path / "images" / "rdma.tar", rdma.required_images(profile)[0])
    save_manifest(lock_bundle(tmp_path), tmp_path)
    bundle = load_bundle(tmp_path)
    missing = missing_artifacts(profile, bundle)
    names = {(m.component, m.kind, m.name) for m in missing}
    assert ("jupyterhub", "chart", "jupyterhub 4.2.0") in names
    assert ("microk8s", "image", "registry.k8s.io/pause:3.10") in names
    assert not any(m.component == "rdma" for m in missing)
    assert len([m for m in missing if m.kind == "image"]) == (
        len(component_needs(profile, "microk8s").images) + len(component_needs(profile, "jupyterhub").images))
    (tmp_path / "images" / "rdma.tar").unlink()
    with pytest.raises(BundleError) as caught:
        require_artifacts(profile, load_bundle(tmp_path), ["rdma"])
    assert "rdma: file images/rdma.tar is not in the bundle" in caught.value.message
