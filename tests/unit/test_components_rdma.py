"""RDMA shared device plugin: selectors from the detected ports, pinned image, idempotent apply."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from fakehost import roce_port, two_ib_ports

from installer.components.rdma.manifests import HASH_ANNOTATION, KUBELET_ROOT, manifest_hash, rdma_manifests, selectors
from installer.components.rdma.settings import RdmaSettings
from installer.components.rdma.steps import RdmaPluginStep
from installer.config.profile import Profile
from installer.engine.commands import RecordingRunner
from installer.engine.events import CollectingSink
from installer.engine.files import FileWriter
from installer.engine.plan import StepContext
from installer.probes import probe_host
from installer.probes.model import IbPort


def ports_of(root: Path) -> tuple[IbPort, ...]:
    return probe_host(RecordingRunner(), root).infiniband


def test_selectors_follow_the_active_ports(tmp_path: Path) -> None:
    """Only the ACTIVE/LinkUp port's interface is selected (ib1 is down); link type from link_layer."""
    ports = ports_of(two_ib_ports(tmp_path).root)
    assert selectors(RdmaSettings(enabled=True), ports) == {"vendors": ["15b3"], "ifNames": ["ib0"],
                                                            "linkTypes": ["infiniband"]}


def test_roce_port_is_ether(tmp_path: Path) -> None:
    """A RoCE port (Ethernet link layer) selects linkTypes ether and its netdev."""
    ports = ports_of(roce_port(tmp_path).root)
    assert selectors(RdmaSettings(enabled=True), ports) == {"vendors": ["15b3"], "ifNames": ["ens1f0np0"],
                                                            "linkTypes": ["ether"]}


def test_profile_overrides_and_empty_selectors_are_left_out() -> None:
    """The profile's lists win; an empty list would match nothing, so it is not written."""
    settings = RdmaSettings(enabled=True, interfaces=["ib3"], vendors=[], link_types=["infiniband"])
    assert selectors(settings, ()) == {"ifNames": ["ib3"], "linkTypes": ["infiniband"]}


def test_manifests(tmp_path: Path) -> None:
    """ConfigMap rdma-devices with config.json; DaemonSet with the pinned tag, MicroK8s kubelet paths, hash."""
    ports = ports_of(two_ib_ports(tmp_path).root)
    settings = RdmaSettings(enabled=True, resource_name="ib_shared", hca_max=64)
    configmap, daemonset = yaml.safe_load_all(rdma_manifests(settings, ports))
    assert configmap["metadata"] == {"name": "rdma-devices", "namespace": "kube-system"}
    config = json.loads(configmap["data"]["config.json"])
    assert config["configList"] == [{"resourceName": "ib_shared", "rdmaHcaMax": 64,
                                     "selectors": {"vendors": ["15b3"], "ifNames": ["ib0"],
                                                   "linkTypes": ["infiniband"]}}]
    spec = daemonset["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["image"] == "ghcr.io/mellanox/k8s-rdma-shared-dev-plugin:v1.5.3"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["securityContext"] == {"privileged": True}
    assert spec["hostNetwork"] is True
    host_paths = {v["name"]: v.get("hostPath", {}).get("path") for v in spec["volumes"]}
    assert host_paths["device-plugin"] == f"{KUBELET_ROOT}/device-plugins"
    digest = manifest_hash(settings, ports)
    assert daemonset["metadata"]["annotations"][HASH_ANNOTATION] == digest
    assert daemonset["spec"]["template"]["metadata"]["annotations"][HASH_ANNOTATION] == digest
    other = RdmaSettings(enabled=True, resource_name="ib_shared", hca_max=65)
    assert manifest_hash(other, ports) != digest


def _ctx(tmp_path: Path, runner: RecordingRunner) -> StepContext:
    sink = CollectingSink()
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path / "s",
                      host_root=tmp_path / "host")
    ctx.shared["facts"] = probe_host(RecordingRunner(), two_ib_ports(tmp_path / "host").root)
    return ctx


def test_plugin_step_applies_then_is_done(tmp_path: Path) -> None:
    """Not there: apply the written file. Annotated with the same hash: done. Another hash: not done."""
    settings = RdmaSettings(enabled=True)
    runner = RecordingRunner()
    runner.answer(["microk8s", "kubectl", "-n", "kube-system", "get", "daemonset"], returncode=1,
                  stderr='Error from server (NotFound): daemonsets.apps "rdma-shared-dp-ds" not found')
    ctx = _ctx(tmp_path, runner)
    step = RdmaPluginStep(tmp_path / "bundle", settings)
    assert step.is_done(ctx) is False
    step.run(ctx)
    path = tmp_path / "s" / "rdma-shared-dev-plugin.yaml"
    assert runner.ran("microk8s", "kubectl", "apply") == [("microk8s", "kubectl", "apply", "-f", str(path))]

    daemonset = list(yaml.safe_load_all(path.read_text()))[1]
    runner.answer(["microk8s", "kubectl", "-n", "kube-system", "get", "daemonset"], json.dumps(daemonset))
    assert step.is_done(ctx) is True
    daemonset["metadata"]["annotations"][HASH_ANNOTATION] = "0" * 16
    runner.answer(["microk8s", "kubectl", "-n", "kube-system", "get", "daemonset"], json.dumps(daemonset))
    assert step.is_done(ctx) is False
