"""The shipped GPU sharing profiles, installed for real against the MicroK8s twin.

profiles/gpu-time-slicing.yaml and profiles/gpu-hami.yaml on an eight-H100 host: the bundle
holds what the profile exports (the HAMi chart is a stand-in shaped after upstream's,
tests/twin/hami_chart.py), the real helm renders each release, every image must be in the
real containerd, and the node ends up advertising the shared GPUs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import eight_h100
from twin.charts import build_bundle
from twin.test_install_e2e import assert_hub_up, install, write_profile

from installer.bundle.requirements import component_needs
from installer.config.profile import load_profile

pytestmark = [pytest.mark.containerd,
              pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")]


def _site(tmp_path: Path, containerd: Any, monkeypatch: pytest.MonkeyPatch, name: str,
          leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    from twin.fixture import make_twin, use_twin

    twin = make_twin(tmp_path, containerd, eight_h100)
    use_twin(monkeypatch, twin)
    bundle = tmp_path / "offline-images"
    profile = load_profile(write_profile(name, tmp_path / f"{name}.yaml", bundle))
    build_bundle(bundle, profile, leave_out=leave_out)
    return {"twin": twin, "profile": profile, "bundle": bundle, "state": tmp_path / "state"}


def _node(site: dict[str, Any]) -> dict[str, Any]:
    done = site["twin"].run("microk8s", "kubectl", "get", "nodes", "-o", "json")
    node: dict[str, Any] = json.loads(done.stdout)["items"][0]
    return node


def _objects(site: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in site["twin"].state()["objects"].values() if o["kind"] == kind}


def test_time_slicing_profile_installs_and_the_node_advertises_each_gpu_four_times(
        tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _site(tmp_path, clean_containerd, monkeypatch, "gpu-time-slicing")
    assert component_needs(site["profile"], "gpu_sharing").images == ()  # no new images
    result, events = install(site)
    assert result.ok, (result.error, events.steps())
    assert "gpu-sharing.hami" not in events.steps()
    assert _node(site)["status"]["allocatable"]["nvidia.com/gpu"] == "32"  # 8 GPUs x 4 replicas
    plugin_config = yaml.safe_load(_objects(site, "ConfigMap")["time-slicing-config"]["data"]["any"])
    assert plugin_config["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]
    assert_hub_up(site["twin"])


def test_hami_profile_installs_hami_before_the_operator_without_its_device_plugin(
        tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _site(tmp_path, clean_containerd, monkeypatch, "gpu-hami")
    result, events = install(site)
    assert result.ok, (result.error, events.steps())
    order = list(events.steps())
    assert order.index("gpu-sharing.hami") < order.index("gpu-operator.install") < order.index("gpu-operator.wait")
    policy = next(iter(_objects(site, "ClusterPolicy").values()))
    assert policy["spec"]["devicePlugin"]["enabled"] is False
    assert _node(site)["status"]["allocatable"]["nvidia.com/gpu"] == "80"  # 8 GPUs x hami_split_count 10
    scheduler = _objects(site, "Deployment")["hami-scheduler"]["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in scheduler] == ["registry.k8s.io/kube-scheduler:v1.32.0",
                                               "docker.io/projecthami/hami:v2.8.3"]
    assert_hub_up(site["twin"])
    again, events = install(site)
    assert again.ok, again.error
    assert events.steps()["gpu-sharing.hami"] == "skipped"


def test_hami_without_its_scheduler_image_stops_naming_it(
        tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _site(tmp_path, clean_containerd, monkeypatch, "gpu-hami",
                 leave_out=("registry.k8s.io/kube-scheduler:v1.32.0",))
    result, _ = install(site)
    assert not result.ok
    assert result.error is not None and "kube-scheduler:v1.32.0" in result.error.message, result.error
    assert "hami" not in {r.split("/")[-1] for r in site["twin"].state().get("releases", {})}
