"""GPU Operator values: host driver or driver container, MicroK8s toolkit settings, images pinned to the bundle."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from fakehost import eight_h100

from installer.bundle.manifest import Manifest, save_manifest
from installer.components.gpu_operator import values as gpu_values
from installer.components.gpu_operator.settings import GpuOperatorSettings
from installer.components.gpu_operator.steps import GpuOperatorStep, bundle_images, values_for
from installer.components.gpu_operator.values import KNOWN_IMAGES, gpu_operator_values, split_ref
from installer.config.profile import Profile
from installer.engine.commands import RealRunner, RecordingRunner
from installer.engine.events import CollectingSink
from installer.engine.files import FileWriter
from installer.engine.plan import StepContext
from installer.errors import BundleError, StepFailed
from installer.probes import probe_host


def image_blocks(values: object, path: str = "") -> list[tuple[str, dict]]:
    """Every block with a ``repository`` (an operand image)."""
    found: list[tuple[str, dict]] = []
    if isinstance(values, dict):
        if "repository" in values:
            found.append((path, values))
        for key, value in values.items():
            found += image_blocks(value, f"{path}.{key}" if path else key)
    return found


def write_manifest(bundle: Path, refs: list[str]) -> None:
    """A manifest listing ``refs`` under gpu_operator (the files are not read by these tests)."""
    images = [{"refs": [ref], "file": f"images/{i}.tar", "sha256": hashlib.sha256(ref.encode()).hexdigest(),
               "size": 1, "digest": "sha256:" + hashlib.sha256(ref.encode()).hexdigest()} for i, ref in enumerate(refs)]
    save_manifest(Manifest.model_validate({"components": {"gpu_operator": {"images": images}}}),
                  bundle / "manifest.yaml")


def test_host_driver_turns_the_driver_container_off() -> None:
    """With a host driver: driver.enabled false, the MicroK8s containerd settings, NFD on, CDI off."""
    values = gpu_operator_values(GpuOperatorSettings(enabled=True), host_driver="550.54.15",
                                 images=KNOWN_IMAGES["v25.3.4"])
    assert values["driver"] == {"enabled": False}
    env = {e["name"]: e["value"] for e in values["toolkit"]["env"]}
    assert env == {"CONTAINERD_CONFIG": "/var/snap/microk8s/current/args/containerd-template.toml",
                   "CONTAINERD_SOCKET": "/var/snap/microk8s/common/run/containerd.sock",
                   "RUNTIME_CONFIG_SOURCE": "file=/var/snap/microk8s/current/args/containerd.toml",
                   "RUNTIME_EXECUTABLE_PATH": "/bin/false",
                   "CONTAINERD_RUNTIME_CLASS": "nvidia", "CONTAINERD_SET_AS_DEFAULT": "1"}
    assert values["nfd"] == {"enabled": True}
    assert values["cdi"] == {"enabled": False}
    assert "defaultRuntime" not in values["operator"]  # not a v25 chart value
    assert values["mig"] == {"strategy": "single"}


def test_every_image_is_pinned_and_if_not_present() -> None:
    """Operator, validator, toolkit, device plugin, NFD...: repository/image/version from the list, IfNotPresent."""
    values = gpu_operator_values(GpuOperatorSettings(enabled=True), host_driver=None, images=KNOWN_IMAGES["v25.3.4"])
    blocks = dict(image_blocks(values))
    assert {"operator", "validator", "toolkit", "devicePlugin", "driver", "driver.manager",
            "node-feature-discovery.image", "operator.initContainer"} <= set(blocks)
    for path, block in blocks.items():
        policy = block.get("imagePullPolicy", block.get("pullPolicy"))
        assert policy == "IfNotPresent", path
        assert block.get("version", block.get("tag")), path
    assert blocks["toolkit"] == {**blocks["toolkit"], "repository": "nvcr.io/nvidia/k8s", "image": "container-toolkit",
                                 "version": "v1.17.8-ubuntu20.04"}
    assert blocks["node-feature-discovery.image"] == {"repository": "registry.k8s.io/nfd/node-feature-discovery",
                                                      "tag": "v0.17.3", "pullPolicy": "IfNotPresent"}
    # the operator appends the OS to the driver tag itself
    assert blocks["driver"]["version"] == "580.82.07"


def test_operator_driver_and_no_toolkit() -> None:
    """driver: operator forces the container even with a host driver; toolkit: false leaves containerd alone."""
    settings = GpuOperatorSettings(enabled=True, driver="operator", toolkit=False, mig_strategy="none")
    values = gpu_operator_values(settings, host_driver="550.54.15", images=KNOWN_IMAGES["v25.3.4"])
    assert values["driver"]["enabled"] is True
    assert values["toolkit"] == {"enabled": False}
    assert values["migManager"]["enabled"] is False


def test_bundle_pins_another_tag_and_drops_absent_operands(tmp_path: Path) -> None:
    """The bundle's own tag of a repository wins; an operand absent from the bundle is switched off."""
    known = dict(KNOWN_IMAGES["v25.3.4"])
    held = [ref for key, ref in known.items() if key not in ("dcgmExporter", "migManager", "toolkit")]
    held.append("nvcr.io/nvidia/k8s/container-toolkit:v1.17.9-ubuntu22.04")
    write_manifest(tmp_path, held)

    images = bundle_images("v25.3.4", tmp_path)
    assert images["toolkit"] == "nvcr.io/nvidia/k8s/container-toolkit:v1.17.9-ubuntu22.04"
    assert "dcgmExporter" not in images
    values = values_for(GpuOperatorSettings(enabled=True), "550.54.15", tmp_path)
    assert values["toolkit"]["version"] == "v1.17.9-ubuntu22.04"
    assert values["dcgmExporter"] == {"enabled": False}
    assert values["migManager"] == {"enabled": False}


def test_missing_driver_image_without_host_driver_names_what_to_do(tmp_path: Path) -> None:
    """No host driver and no driver image in the bundle: a bundle error that says to install the driver."""
    write_manifest(tmp_path, [r for k, r in KNOWN_IMAGES["v25.3.4"].items() if k != "driver"])
    with pytest.raises(BundleError) as caught:
        values_for(GpuOperatorSettings(enabled=True), None, tmp_path)
    assert "driver" in caught.value.message
    assert "nvidia-smi" in caught.value.hint


def test_unknown_chart_version(tmp_path: Path) -> None:
    """A version without an image list is refused, naming the supported ones."""
    with pytest.raises(BundleError) as caught:
        values_for(GpuOperatorSettings(enabled=True, version="v1.0.0"), "550", tmp_path)
    assert "v25.3.4" in caught.value.hint


def test_values_are_plain_yaml_types() -> None:
    """Dumped and re-read, the values are unchanged (env values are strings, no Python objects)."""
    values = gpu_operator_values(GpuOperatorSettings(enabled=True), host_driver="550", images=KNOWN_IMAGES["v25.10.1"])
    assert yaml.safe_load(yaml.safe_dump(values)) == values
    assert all(isinstance(e["value"], str) for e in values["toolkit"]["env"])


def test_split_ref() -> None:
    """Repository, image and version, the GPU Operator's image triple."""
    assert split_ref("nvcr.io/nvidia/gpu-operator:v25.3.4") == ("nvcr.io/nvidia", "gpu-operator", "v25.3.4")


@pytest.mark.parametrize("version", sorted(KNOWN_IMAGES))
def test_the_bundle_carries_every_pinned_operand_and_the_driver_only_on_demand(version: str) -> None:
    """Export carries each operand image the values pin once; the driver images only with ``driver: operator``."""
    from installer.bundle.imageref import normalize_ref
    from installer.components.gpu_operator import artifacts
    from installer.config.profile import Profile

    host = Profile.model_validate({"gpu_operator": {"enabled": True, "version": version}})
    carried = artifacts.required_images(host)
    table = KNOWN_IMAGES[version]
    assert len(carried) == len(set(carried))
    assert {normalize_ref(r) for r in carried} == {
        normalize_ref(r) for k, r in table.items() if k not in ("driver", "driverManager", "migManager")}
    operator = Profile.model_validate({"gpu_operator": {"enabled": True, "version": version, "driver": "operator"}})
    extra = set(artifacts.required_images(operator, host_os="ubuntu24.04")) - set(carried)
    assert extra == {table["driverManager"], f"{table['driver']}-ubuntu24.04"}


def toolkit_1_17_8_config_dump(env: dict[str, str], host_root: str) -> list[str]:
    """The command toolkit v1.17.8 runs for the config it edits, before it reads ``CONTAINERD_CONFIG``.

    nvidia-container-toolkit@v1.17.8 ``tools/container/runtime/containerd/containerd.go`` getRuntimeConfig ->
    ``pkg/config/engine/containerd/containerd.go`` CommandLineSource: ``RUNTIME_EXECUTABLE_PATH`` or ``containerd``,
    with ``config dump``, under ``chroot <host root>`` unless the host root is ``/``. ``LoadFirst``
    (``pkg/config/toml/list.go``) takes its output when it exits 0, else the file.
    """
    argv = [env.get("RUNTIME_EXECUTABLE_PATH") or "containerd", "config", "dump"]
    return argv if host_root in ("", "/") else ["chroot", host_root, *argv]


@pytest.mark.skipif(shutil.which("containerd") is None, reason="needs a containerd program on the PATH")
def test_a_host_containerd_is_never_asked_for_the_config_the_toolkit_writes() -> None:
    """gpu-operator#1367 on this very machine, which has a containerd on its PATH like a Docker host.

    Run as the v25.3.4 toolkit would run it (host root ``/`` here, ``/host`` in its pod), the command source with
    only ``RUNTIME_CONFIG_SOURCE`` (which v1.17.8 does not read) succeeds and hands over the host containerd's
    config; with the values it fails, so the toolkit reads MicroK8s's template instead.
    """
    values = gpu_operator_values(GpuOperatorSettings(enabled=True), host_driver="580.82.07",
                                 images=KNOWN_IMAGES["v25.3.4"])
    env = {e["name"]: e["value"] for e in values["toolkit"]["env"]}
    runner = RealRunner()
    unguarded = {k: v for k, v in env.items() if k != "RUNTIME_EXECUTABLE_PATH"}
    hazard = runner.run(toolkit_1_17_8_config_dump(unguarded, "/"), check=False, mutates=False, timeout=60)
    assert hazard.ok and "imports" in hazard.stdout  # the host containerd's config would be written
    guarded = runner.run(toolkit_1_17_8_config_dump(env, "/"), check=False, mutates=False, timeout=60)
    assert not guarded.ok and guarded.stdout == ""


def test_only_toolkits_with_runtime_executable_path_count_as_guarded() -> None:
    """v1.17.6 added RUNTIME_EXECUTABLE_PATH; v1.17.0-v1.17.5 always ask ``containerd`` (an older bundle tag)."""
    toolkit_guards_host_containerd = gpu_values.toolkit_guards_host_containerd
    assert toolkit_guards_host_containerd(KNOWN_IMAGES["v25.3.4"]["toolkit"])
    assert toolkit_guards_host_containerd("nvcr.io/nvidia/k8s/container-toolkit:v1.17.8-ubuntu20.04")
    assert toolkit_guards_host_containerd("nvcr.io/nvidia/k8s/container-toolkit:v1.18.1")
    assert not toolkit_guards_host_containerd("nvcr.io/nvidia/k8s/container-toolkit:v1.17.5-ubuntu20.04")
    assert not toolkit_guards_host_containerd("nvcr.io/nvidia/k8s/container-toolkit:latest")


@pytest.mark.parametrize("strategy", ["single", "mixed", "none"])
def test_mig_manager_never_runs_so_a_mig_host_keeps_its_layout(strategy: str) -> None:
    """With mig-manager on, v25.3.4 labels an unlabelled MIG node ``mig.config=all-disabled`` and MIG is wiped.

    ``migManager.config.default: ""`` would not stop it on v25.3.4 (rendered unquoted, the CRD default returns), so
    mig-manager stays off whatever the strategy, and its image is not carried in the bundle.
    """
    from installer.components.gpu_operator import artifacts
    from installer.config.profile import Profile

    for version, images in KNOWN_IMAGES.items():
        values = gpu_operator_values(GpuOperatorSettings(enabled=True, version=version, mig_strategy=strategy),
                                     host_driver="580.82.07", images=images)
        assert values["migManager"] == {"enabled": False}
        assert values["mig"] == {"strategy": strategy}
        profile = Profile.model_validate({"gpu_operator": {"enabled": True, "version": version,
                                                           "mig_strategy": strategy}})
        assert images["migManager"] not in artifacts.required_images(profile)


def _install(tmp_path: Path, deployed_chart: str | None, version: str = "v25.10.1") -> list[tuple[str, ...]]:
    """Run the install step against a release of ``deployed_chart`` (None: no release); the helm upgrade calls."""
    bundle = tmp_path / "bundle"
    (bundle / "charts").mkdir(parents=True)
    (bundle / "charts" / f"gpu-operator-{version}.tgz").write_bytes(b"")
    runner = RecordingRunner()
    releases = [] if deployed_chart is None else [{"name": "gpu-operator", "revision": "1", "status": "deployed",
                                                   "chart": deployed_chart}]
    runner.answer(["microk8s", "helm3", "list"], json.dumps(releases))
    sink = CollectingSink()
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path / "s",
                      host_root=tmp_path / "host")
    ctx.facts = probe_host(RecordingRunner(), eight_h100(tmp_path / "host").root)
    GpuOperatorStep(bundle, GpuOperatorSettings(enabled=True, version=version)).run(ctx)
    return runner.ran("microk8s", "helm3", "upgrade")


def test_upgrading_to_another_chart_version_disables_openapi_validation(tmp_path: Path) -> None:
    """The chart's CRD upgrade needs --disable-openapi-validation (values.yaml, operator.upgradeCRD), only then."""
    (upgrade,) = _install(tmp_path / "a", "gpu-operator-v25.3.4")
    assert upgrade[-1] == "--disable-openapi-validation"
    for name, deployed in (("b", None), ("c", "gpu-operator-v25.10.1")):  # fresh install, re-run of the same chart
        (install,) = _install(tmp_path / name, deployed)
        assert "--disable-openapi-validation" not in install
        assert install[:4] == ("microk8s", "helm3", "upgrade", "--install")


@pytest.mark.parametrize("version", sorted(KNOWN_IMAGES))
def test_an_export_for_an_unknown_host_carries_the_driver_of_each_supported_ubuntu(version: str) -> None:
    """The operator appends the node's OS (``-ubuntu24.04``) to the driver tag: 22.04 alone fails a 24.04 host."""
    from installer.components.gpu_operator import artifacts

    profile = Profile.model_validate({"gpu_operator": {"enabled": True, "version": version, "driver": "operator"}})
    driver = KNOWN_IMAGES[version]["driver"]
    refs = artifacts.required_images(profile)
    assert {f"{driver}-ubuntu22.04", f"{driver}-ubuntu24.04"} <= set(refs)
    assert f"{driver}-ubuntu22.04" not in artifacts.required_images(profile, host_os="ubuntu24.04")


def test_the_driver_image_must_be_the_hosts_os(tmp_path: Path) -> None:
    """A bundle with only the 22.04 driver image: a 24.04 host without a driver is refused, naming the image."""
    table = KNOWN_IMAGES["v25.3.4"]
    write_manifest(tmp_path, [r for k, r in table.items() if k != "driver"] + [f"{table['driver']}-ubuntu22.04"])
    settings = GpuOperatorSettings(enabled=True)
    values = values_for(settings, None, tmp_path, "ubuntu22.04")
    assert values["driver"]["enabled"] is True and values["driver"]["version"] == "580.82.07"
    with pytest.raises(BundleError) as caught:
        values_for(settings, None, tmp_path, "ubuntu24.04")
    assert "driver" in caught.value.message
    assert "--image nvcr.io/nvidia/driver:580.82.07-ubuntu24.04" in caught.value.hint
    assert values_for(settings, "580.82.07", tmp_path, "ubuntu24.04")["driver"] == {"enabled": False}  # host driver


def test_the_install_step_asks_for_the_driver_of_the_hosts_os(tmp_path: Path) -> None:
    """The step reads the OS from the probed host (os-release ID + VERSION_ID, as NFD labels it)."""
    from fakehost import gpus_without_driver

    table = KNOWN_IMAGES["v25.3.4"]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write_manifest(bundle, [r for k, r in table.items() if k != "driver"] + [f"{table['driver']}-ubuntu22.04"])
    host = gpus_without_driver(tmp_path / "host")
    sink = CollectingSink()
    ctx = StepContext(runner=RecordingRunner(), files=FileWriter(sink), sink=sink, profile=Profile(),
                      state_dir=tmp_path / "s", host_root=host.root)
    step = GpuOperatorStep(bundle, GpuOperatorSettings(enabled=True))
    ctx.facts = probe_host(RecordingRunner(), host.root)
    assert step.values(ctx)["driver"]["enabled"] is True  # Ubuntu 22.04: the bundle's image fits
    host.write("/etc/os-release", 'ID=ubuntu\nVERSION_ID="24.04"\n')
    ctx.facts = probe_host(RecordingRunner(), host.root)
    with pytest.raises(BundleError) as caught:
        step.values(ctx)
    assert "580.82.07-ubuntu24.04" in caught.value.hint


def test_a_bundle_toolkit_older_than_v1_17_6_is_refused_beside_a_host_containerd(tmp_path: Path) -> None:
    """The bundle pins another toolkit tag (same repository): v1.17.5 cannot be told to leave the host one alone."""
    table = KNOWN_IMAGES["v25.3.4"]
    bundle = tmp_path / "bundle"
    (bundle / "charts").mkdir(parents=True)
    (bundle / "charts" / "gpu-operator-v25.3.4.tgz").write_bytes(b"")
    write_manifest(bundle, [r for k, r in table.items() if k != "toolkit"]
                   + ["nvcr.io/nvidia/k8s/container-toolkit:v1.17.5-ubuntu20.04"])
    host = eight_h100(tmp_path / "host").host_containerd()
    runner = RecordingRunner()
    sink = CollectingSink()
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path / "s",
                      host_root=host.root)
    ctx.facts = probe_host(RecordingRunner(), host.root)
    with pytest.raises(StepFailed) as caught:
        GpuOperatorStep(bundle, GpuOperatorSettings(enabled=True)).run(ctx)
    assert "v1.17.5" in caught.value.message and "/usr/bin/containerd" in caught.value.message
    assert runner.ran("microk8s", "helm3", "upgrade") == []  # nothing installed
