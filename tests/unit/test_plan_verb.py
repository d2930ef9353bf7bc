"""``./install.sh plan``: one file per enabled component, values that pass the chart schema, ordered commands."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from fakehost import gpu_and_infiniband, no_gpu

from installer.cli import main
from tests.unit.test_values_schema import helm_merge

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_containerd_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Leave the image import step out: its check waits 10 s for a MicroK8s containerd that is absent here."""
    monkeypatch.setattr("installer.verbs.plan._can_import", lambda: False)


@pytest.fixture
def gpu_ib_host(tmp_path: Path) -> Path:
    root = tmp_path / "gpu-host"
    gpu_and_infiniband(root).write("/etc/resolv.conf", "nameserver 10.20.0.2\n")
    return root


@pytest.fixture
def cpu_host(tmp_path: Path) -> Path:
    root = tmp_path / "cpu-host"
    no_gpu(root).write("/etc/resolv.conf", "nameserver 10.20.0.2\n")
    return root


@pytest.mark.parametrize(("profile", "files"), [
    ("cpu.yaml", {"jupyterhub-values.yaml"}),
    ("gpu.yaml", {"jupyterhub-values.yaml", "gpu-operator-values.yaml"}),
    ("gpu-rdma.yaml", {"jupyterhub-values.yaml", "gpu-operator-values.yaml", "rdma-shared-dev-plugin.yaml"}),
])
def test_plan_writes_files_that_pass_the_schema(profile: str, files: set[str], gpu_ib_host: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str], z2jh_oracle: Path) -> None:
    """Each shipped profile on a fake GPU + InfiniBand host: the files, 0600 values, a schema-valid hub."""
    out = tmp_path / "out"
    code = main(["plan", "--profile", str(REPO / "profiles" / profile), "--host-root", str(gpu_ib_host),
                 "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert {p.name for p in out.iterdir()} == files
    assert (out / "jupyterhub-values.yaml").stat().st_mode & 0o777 == 0o600
    values = yaml.safe_load((out / "jupyterhub-values.yaml").read_text())
    defaults = yaml.safe_load((z2jh_oracle / "values.yaml").read_text())
    jsonschema.validate(helm_merge(defaults, values), json.loads((z2jh_oracle / "values.schema.json").read_text()))
    if "gpu-operator-values.yaml" in files:
        gpu = yaml.safe_load((out / "gpu-operator-values.yaml").read_text())
        assert gpu["driver"] == {"enabled": False}  # the fake host has driver 550.54.15
    if "rdma-shared-dev-plugin.yaml" in files:
        configmap = next(yaml.safe_load_all((out / "rdma-shared-dev-plugin.yaml").read_text()))
        assert json.loads(configmap["data"]["config.json"])["configList"][0]["selectors"]["ifNames"] == ["ib0"]


def test_plan_prints_the_ordered_commands(gpu_ib_host: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The text lists every step in install order with its commands; nothing is changed."""
    code = main(["plan", "--profile", str(REPO / "profiles" / "gpu-rdma.yaml"), "--host-root", str(gpu_ib_host),
                 "--out", str(tmp_path / "out")])
    text = capsys.readouterr().out
    assert code == 0
    order = ["preflight", "microk8s.snaps", "microk8s.wait-ready", "microk8s.dns", "microk8s.hostpath-storage",
             "gpu-operator.install", "gpu-operator.wait", "rdma.plugin", "rdma.wait", "jupyterhub.install",
             "jupyterhub.wait", "jupyterhub.url"]
    positions = [text.index(f". {step_id}:") for step_id in order]
    assert positions == sorted(positions)
    assert "$ microk8s enable dns:10.20.0.2" in text
    assert "8.8.8.8" not in text
    assert "$ microk8s helm3 upgrade --install gpu-operator" in text
    assert "would wait up to 900 s until a node advertises nvidia.com/gpu" in text


def test_plan_json(cpu_host: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json: one document with the files and each step's status and commands."""
    code = main(["plan", "--profile", str(REPO / "profiles" / "cpu.yaml"), "--host-root", str(cpu_host),
                 "--out", str(tmp_path / "out"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [Path(f).name for f in document["files"]] == ["jupyterhub-values.yaml"]
    steps = {s["id"]: s for s in document["steps"]}
    assert "gpu-operator.install" not in steps
    assert ["microk8s", "enable", "hostpath-storage"] in steps["microk8s.hostpath-storage"]["commands"]
    install = steps["jupyterhub.install"]
    assert install["commands"][0][:5] == ["microk8s", "helm3", "upgrade", "--install", "jupyterhub"]
    assert any(f.endswith("jupyterhub-values.yaml (mode 600)") for f in install["files"])
