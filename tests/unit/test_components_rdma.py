"""RDMA shared device plugin: selectors from the detected ports, pinned image, idempotent apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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
    ctx.facts = probe_host(RecordingRunner(), two_ib_ports(tmp_path / "host").root)
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


def ib_without_netdev(root: Path) -> Path:
    """An ACTIVE InfiniBand port whose IPoIB netdev is absent (ib_ipoib not loaded)."""
    from fakehost import IB_ACTIVE_NDR, base_host

    return base_host(root).ib_device("mlx5_0", "0000:1a:00.0", [IB_ACTIVE_NDR]).root


def test_port_without_netdev_is_not_filtered_out(tmp_path: Path) -> None:
    """The plugin gives a device without a netdev an empty linkType and ifName (pci_net_device.go, v1.5.3):
    neither selector may be derived, or the capacity is 0."""
    ports = ports_of(ib_without_netdev(tmp_path))
    assert [p.active for p in ports] == [True]
    assert selectors(RdmaSettings(enabled=True), ports) == {"vendors": ["15b3"]}


def test_one_port_without_netdev_among_others_drops_the_derived_selectors(tmp_path: Path) -> None:
    """ib0 has a netdev and mlx5_2 none: ifNames=[ib0] or linkTypes would drop mlx5_2."""
    from fakehost import IB_ACTIVE_NDR

    host = two_ib_ports(tmp_path)
    host.ib_device("mlx5_2", "0000:1b:00.0", [IB_ACTIVE_NDR])
    assert selectors(RdmaSettings(enabled=True), ports_of(host.root)) == {"vendors": ["15b3"]}
    from installer.components.rdma.component import rdma_selectors

    found = rdma_selectors(ports_of(host.root))
    assert "ifNames" not in found and "linkTypes" not in found


def test_wait_reads_the_normalised_quantity(tmp_path: Path) -> None:
    """rdma.hca_max 1000 comes back from the API as "1k": the node advertises 1000, not 0."""
    from installer.components.rdma.steps import RdmaWaitStep

    runner = RecordingRunner()
    runner.answer(["microk8s", "kubectl", "get", "nodes"], json.dumps(
        {"items": [{"status": {"allocatable": {"rdma/hca_shared_devices_a": "1k", "cpu": "64"}}}]}))
    ctx = _ctx(tmp_path, runner)
    assert RdmaWaitStep(RdmaSettings(enabled=True)).is_done(ctx) is True


def test_quantities_follow_the_apimachinery_grammar() -> None:
    from decimal import Decimal

    from installer.components.kube import parse_quantity, quantity_count

    cases = {"8": 8, "1k": 1000, "1M": 10**6, "1Ki": 1024, "2Mi": 2 << 20, "1.5Gi": 3 << 29, "500m": 0,
             "1500m": 1, "12e3": 12000, "1E3": 1000, "1E": 10**18, ".5k": 500, "2.": 2, "+3": 3, "-1": 0,
             "1K": 0, "abc": 0, "": 0, "1e": 0}
    assert {text: quantity_count(text) for text in cases} == cases
    assert parse_quantity("250m") == Decimal("0.25")
    assert parse_quantity("100n") == Decimal("1e-7")
    assert quantity_count(7) == 7


CONTAINERD_ENV_TEXT = ("# args sourced before containerd starts (test copy)\nPATH=$PATH:$KATA_PATH\n"
                       "ulimit -n 65536 || true\nulimit -l 16384 || true\n")


def _memlock_host(tmp_path: Path, runner: RecordingRunner, env: str | None, limit: str) -> StepContext:
    """MicroK8s's containerd-env (mode 0644) and its running containerd (pid 4242) with ``limit``."""
    ctx = _ctx(tmp_path, runner)
    if env is not None:
        path = ctx.host_root / "var/snap/microk8s/current/args/containerd-env"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env)
        path.chmod(0o644)
    set_running_limit(ctx, limit)
    runner.answer(["systemctl", "show", "--property", "MainPID"], "4242\n")
    return ctx


def set_running_limit(ctx: StepContext, limit: str) -> None:
    proc = ctx.host_root / "proc/4242/limits"
    proc.parent.mkdir(parents=True, exist_ok=True)
    proc.write_text("Limit                     Soft Limit           Hard Limit           Units     \n"
                    "Max open files            65536                65536                files     \n"
                    f"Max locked memory         {limit:<20} {limit:<20} bytes     \n")


def test_memlock_raised_in_containerd_env_and_containerd_restarted(tmp_path: Path) -> None:
    """ulimit -l 16384 (upstream's default) becomes unlimited; the rest of the file and its mode are kept."""
    from installer.components.rdma.steps import ContainerdMemlockStep

    runner = RecordingRunner()
    ctx = _memlock_host(tmp_path, runner, CONTAINERD_ENV_TEXT, "16777216")
    step = ContainerdMemlockStep()
    assert step.is_done(ctx) is False
    step.run(ctx)
    path = ctx.host_root / "var/snap/microk8s/current/args/containerd-env"
    text = path.read_text()
    assert "ulimit -l unlimited || true" in text and "16384" not in text
    assert "ulimit -n 65536 || true" in text and "PATH=$PATH:$KATA_PATH" in text
    assert path.stat().st_mode & 0o777 == 0o644
    assert runner.ran("snap", "restart") == [("snap", "restart", "microk8s.daemon-containerd")]
    set_running_limit(ctx, "unlimited")  # what the restarted containerd has
    assert step.is_done(ctx) is True


def test_memlock_file_set_but_containerd_not_restarted_yet(tmp_path: Path) -> None:
    """A run killed between the edit and the restart: not done; the re-run restarts without rewriting."""
    from installer.components.rdma.steps import ContainerdMemlockStep, with_unlimited_memlock

    runner = RecordingRunner()
    ctx = _memlock_host(tmp_path, runner, with_unlimited_memlock(CONTAINERD_ENV_TEXT), "16777216")
    step = ContainerdMemlockStep()
    assert step.is_done(ctx) is False
    step.run(ctx)
    assert ctx.files.written == {}
    assert runner.ran("snap", "restart") == [("snap", "restart", "microk8s.daemon-containerd")]


def test_memlock_line_added_when_absent_and_missing_file_fails(tmp_path: Path) -> None:
    from installer.components.rdma.steps import ContainerdMemlockStep, memlock_setting, with_unlimited_memlock
    from installer.errors import StepFailed

    assert memlock_setting(with_unlimited_memlock("ulimit -n 65536 || true\n")) == "unlimited"
    assert memlock_setting("#ulimit -l 1\n") is None
    runner = RecordingRunner()
    ctx = _memlock_host(tmp_path, runner, None, "unlimited")
    with pytest.raises(StepFailed, match="containerd-env"):
        ContainerdMemlockStep().run(ctx)
    assert not runner.ran("snap", "restart")


def test_rdma_plan_raises_memlock_before_the_plugin() -> None:
    from installer.components.plan import PlanOptions, build_plan

    profile = Profile.model_validate({"rdma": {"enabled": True}})
    ids = [s.id for s in build_plan(profile, PlanOptions(preflight=False, import_images=False)).steps]
    assert ids.index("rdma.memlock") < ids.index("rdma.plugin")
    assert "rdma.memlock" not in [s.id for s in build_plan(Profile(), PlanOptions(preflight=False,
                                                                                  import_images=False)).steps]


def test_memlock_still_limited_after_the_restart_is_said(tmp_path: Path) -> None:
    """A unit limit that ulimit cannot lift: the step says so instead of pretending."""
    from installer.components.rdma.steps import ContainerdMemlockStep
    from installer.engine.events import LogLine

    runner = RecordingRunner()
    ctx = _memlock_host(tmp_path, runner, CONTAINERD_ENV_TEXT, "16777216")
    ContainerdMemlockStep().run(ctx)
    assert any("16777216" in e.message and e.level == "warning" for e in ctx.sink.of(LogLine))
