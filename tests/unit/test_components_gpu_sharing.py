"""GPU sharing (issue 15): the values each mode writes, rendered by the real helm, and the refusals.

The HAMi chart is the test stand-in shaped after upstream v2.8.3 (tests/twin/hami_chart.py)
and the GPU Operator's is tests/twin/charts.py's; both are rendered by the real helm from
the test wheel (tests/helmbin.py), so the values go through the charts' own keys.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from fakehost import a100_mig, eight_h100, no_gpu
from helmbin import HelmUnavailable, helm_binary
from twin.charts import gpu_operator_chart
from twin.hami_chart import hami_chart

from installer.bundle.requirements import component_needs
from installer.cli import main
from installer.components.gpu_operator.settings import GpuOperatorSettings
from installer.components.gpu_operator.steps import values_for
from installer.components.gpu_sharing import steps as sharing_steps
from installer.components.gpu_sharing.values import device_plugin_overrides, entry_limits, hami_values
from installer.components.jupyterhub.settings import NotebookImage
from installer.config.profile import Profile, load_profile
from installer.engine.commands import RecordingRunner
from installer.errors import ExitCode, ProfileError, StepFailed
from installer.export.refs import profile_files, profile_images
from installer.preflight.checks import run_checks
from installer.probes import probe_host

REPO = Path(__file__).resolve().parents[2]
HAMI = {"gpu_operator": {"enabled": True, "mig_strategy": "none"}, "gpu_sharing": {"mode": "hami"}}
SLICING = {"gpu_operator": {"enabled": True}, "gpu_sharing": {"mode": "time-slicing", "replicas": 4}}


def _helm() -> Path:
    try:
        return helm_binary()
    except HelmUnavailable as exc:
        pytest.skip(str(exc))


def _render(chart: Path, values: dict[str, Any], tmp_path: Path, kube: str = "v1.32.3") -> list[dict[str, Any]]:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    done = subprocess.run([str(_helm()), "template", "rel" if "gpu" in chart.name else "hami", str(chart),
                           "--namespace", "ns", "--kube-version", kube, "--values", str(values_file)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def _images(documents: list[dict[str, Any]]) -> set[str]:
    found = set()
    for doc in documents:
        spec = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            found.add(container["image"])
    return found


def test_every_image_hami_renders_is_in_the_profiles_bundle_list(tmp_path: Path) -> None:
    profile = Profile.model_validate(HAMI)
    chart = hami_chart(tmp_path / "hami-2.8.3.tgz")
    exported = set(component_needs(profile, "gpu_sharing").images)
    rendered = _images(_render(chart, hami_values(profile), tmp_path))
    assert rendered == exported == {"docker.io/projecthami/hami:v2.8.3", "registry.k8s.io/kube-scheduler:v1.32.0",
                                    "docker.io/liangjw/kube-webhook-certgen:v1.1.1"}
    # the chart's own defaults would pull kube-scheduler from an Aliyun mirror at the cluster's exact version
    assert "registry.cn-hangzhou.aliyuncs.com/google_containers/kube-scheduler:v1.32.3" in _images(
        _render(chart, {}, tmp_path))
    assert component_needs(profile, "gpu_sharing").charts == (("hami", "2.8.3"),)
    listed = {w.ref: w.component for w in profile_images(profile)}  # what `export --profile` pulls
    assert {listed[ref] for ref in rendered} == {"gpu_sharing"}
    assert not {ref for ref, component in listed.items() if component == "gpu_sharing"} - rendered
    assert ("gpu_sharing", "hami", "2.8.3") in profile_files(profile)[0]  # export names the chart it needs


def test_hamis_scheduler_follows_the_microk8s_track(tmp_path: Path) -> None:
    profile = Profile.model_validate({**HAMI, "microk8s": {"channel": "1.30"}})
    rendered = _images(_render(hami_chart(tmp_path / "hami.tgz"), hami_values(profile), tmp_path, "v1.30.5"))
    assert "registry.k8s.io/kube-scheduler:v1.30.0" in rendered
    assert "registry.k8s.io/kube-scheduler:v1.30.0" in component_needs(profile, "gpu_sharing").images


def test_hami_runs_its_plugin_on_the_gpu_nodes_after_the_toolkit(tmp_path: Path) -> None:
    documents = _render(hami_chart(tmp_path / "hami.tgz"), hami_values(Profile.model_validate(HAMI)), tmp_path)
    plugin = next(d for d in documents if d["kind"] == "DaemonSet")["spec"]["template"]["spec"]
    assert plugin["nodeSelector"] == {"feature.node.kubernetes.io/pci-10de.present": "true"}
    assert [c["name"] for c in plugin["initContainers"]] == ["toolkit-validation"]
    device = yaml.safe_load(next(d for d in documents if d["kind"] == "ConfigMap")["data"]["device-config.yaml"])
    assert device["nvidia"]["deviceSplitCount"] == 10
    assert device["nvidia"]["resourceMemoryName"] == "nvidia.com/gpumem"


def test_time_slicing_writes_the_operators_plugin_config(tmp_path: Path) -> None:
    profile = Profile.model_validate(SLICING)
    assert component_needs(profile, "gpu_sharing") == component_needs(Profile(), "gpu_sharing")  # nothing new
    values = values_for(GpuOperatorSettings(enabled=True), "550.54.15", tmp_path,
                        device_plugin=device_plugin_overrides(profile))
    documents = _render(gpu_operator_chart(tmp_path / "gpu-operator-v25.3.4.tgz"), values, tmp_path)
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    assert config_map["metadata"]["name"] == "time-slicing-config"
    plugin = yaml.safe_load(config_map["data"]["any"])
    assert plugin == {"version": "v1", "sharing": {"timeSlicing": {"resources": [
        {"name": "nvidia.com/gpu", "replicas": 4}]}}}
    policy = next(d for d in documents if d["kind"] == "ClusterPolicy")["spec"]["devicePlugin"]
    assert policy["enabled"] is True
    assert (policy["config"]["name"], policy["config"]["default"]) == ("time-slicing-config", "any")


def test_hami_turns_the_operators_device_plugin_off_and_none_leaves_it(tmp_path: Path) -> None:
    on = values_for(GpuOperatorSettings(enabled=True), "550", tmp_path,
                    device_plugin=device_plugin_overrides(Profile.model_validate(HAMI)))
    assert on["devicePlugin"]["enabled"] is False
    plain = values_for(GpuOperatorSettings(enabled=True), "550", tmp_path,
                       device_plugin=device_plugin_overrides(Profile()))
    assert plain["devicePlugin"]["enabled"] is True and "config" not in plain["devicePlugin"]


def test_a_sliced_entry_gets_hamis_resources_or_a_time_shared_gpu() -> None:
    assert entry_limits("hami", gpus=0, gpu_memory="10Gi", gpu_cores=25) == {
        "nvidia.com/gpu": "1", "nvidia.com/gpumem": "10240", "nvidia.com/gpucores": "25"}
    assert entry_limits("hami", gpus=2, gpu_memory=4096, gpu_cores=None) == {
        "nvidia.com/gpu": "2", "nvidia.com/gpumem": "4096"}
    assert entry_limits("time-slicing", gpus=0, gpu_memory="10Gi", gpu_cores=25) == {"nvidia.com/gpu": "1"}
    assert entry_limits("hami", gpus=1, gpu_memory=None, gpu_cores=None) == {"nvidia.com/gpu": "1"}
    assert entry_limits("none", gpus=0, gpu_memory=None, gpu_cores=None) == {}


def test_the_shipped_profiles_plan_with_the_slice_in_the_profile_list(tmp_path: Path) -> None:
    from installer.components.jupyterhub.steps import values_for as hub_values

    hami = load_profile(REPO / "profiles" / "gpu-hami.yaml")
    entries = {e["slug"]: e for e in hub_values(hami, tmp_path)["singleuser"]["profileList"]}
    assert entries["pytorch-slice"]["kubespawner_override"]["extra_resource_limits"] == {
        "nvidia.com/gpu": "1", "nvidia.com/gpumem": "10240", "nvidia.com/gpucores": "25"}
    sliced = load_profile(REPO / "profiles" / "gpu-time-slicing.yaml")
    assert sliced.gpu_sharing.mode == "time-slicing"
    entries = {e["slug"]: e for e in hub_values(sliced, tmp_path)["singleuser"]["profileList"]}
    assert entries["pytorch-gpu"]["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}


def test_a_sliced_size_on_an_image_not_marked_for_slicing_is_refused_naming_the_entry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load((REPO / "profiles" / "gpu-hami.yaml").read_text())
    entry = next(e for e in data["jupyterhub"]["images"] if e["name"] == "pytorch-slice")
    del entry["gpu_slicing"]
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError, match="catalog entry 'pytorch-slice'"):
        load_profile(path)
    assert main(["--profile", str(path), "--dry-run"]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "pytorch-slice" in err and "gpu_slicing" in err
    with pytest.raises(ValueError, match="not marked as supporting slicing"):
        NotebookImage(name="x", display_name="X", image="quay.io/a/b:1", gpu_cores=50)
    assert NotebookImage(name="x", display_name="X", image="quay.io/a/b:1", gpu_cores=50, gpu_slicing=True)


def _sharing_check(root: Path, profile: dict[str, Any]) -> Any:
    facts = probe_host(RecordingRunner(strict=True), root)
    return {r.id: r for r in run_checks(facts, Profile.model_validate(profile))}["gpu-sharing"]


def test_preflight_hami_needs_gpus_the_toolkit_and_no_mig(tmp_path: Path) -> None:
    eight_h100(tmp_path / "h100")
    assert _sharing_check(tmp_path / "h100", HAMI).status == "pass"
    toolkit_off = {**HAMI, "gpu_operator": {"enabled": True, "toolkit": False}}
    assert "gpu_operator.toolkit" in _sharing_check(tmp_path / "h100", toolkit_off).hint
    a100_mig(tmp_path / "mig")
    mig = _sharing_check(tmp_path / "mig", HAMI)
    assert mig.status == "fail" and "MIG" in mig.hint
    no_gpu(tmp_path / "cpu")
    assert _sharing_check(tmp_path / "cpu", HAMI).status == "fail"
    assert _sharing_check(tmp_path / "h100", {"gpu_sharing": {"mode": "hami"}}).status == "fail"  # operator off
    assert _sharing_check(tmp_path / "cpu", {}).status == "pass"  # mode none


def test_preflight_warns_about_many_time_slicing_replicas(tmp_path: Path) -> None:
    eight_h100(tmp_path)
    assert _sharing_check(tmp_path, SLICING).status == "pass"
    many = _sharing_check(tmp_path, {**SLICING, "gpu_sharing": {"mode": "time-slicing", "replicas": 32}})
    assert many.status == "warn" and "32 servers" in many.hint


def test_hami_refuses_a_scheduler_of_another_kubernetes_minor(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = Profile.model_validate(HAMI)
    step = sharing_steps.HamiStep(Path("/nonexistent"), "2.8.3")
    ctx: Any = SimpleNamespace(dry_run=False, profile=profile)
    monkeypatch.setattr(sharing_steps, "kube_version", lambda ctx: "v1.32.7")
    step.refuse_scheduler_skew(ctx, hami_values(profile))  # same minor: fine
    monkeypatch.setattr(sharing_steps, "kube_version", lambda ctx: "v1.33.1")
    with pytest.raises(StepFailed, match=r"kube-scheduler:v1\.32\.0 does not match the cluster's Kubernetes v1\.33\.1"):
        step.refuse_scheduler_skew(ctx, hami_values(profile))
