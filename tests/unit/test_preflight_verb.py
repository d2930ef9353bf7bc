"""``./install.sh preflight``: the JSON document, the text table, exit codes, option placement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakehost import gpu_and_infiniband, no_gpu

from installer.cli import main
from installer.errors import ExitCode
from installer.preflight.checks import CHECK_IDS

PASSING_PROFILE = "preflight:\n  disk_headroom_gib: 0\ngpu_operator:\n  enabled: true\nrdma:\n  enabled: true\n"


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out
    return json.loads(out)  # exactly one document, nothing else on stdout


@pytest.fixture
def gpu_tree(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    gpu_and_infiniband(root).microk8s("v1.32.3")
    return root


@pytest.fixture
def passing_profile(tmp_path: Path) -> Path:
    path = tmp_path / "gpu.yaml"
    path.write_text(PASSING_PROFILE)
    return path


def test_json_reports_the_fake_gpu_and_infiniband_host_exactly(
        gpu_tree: Path, passing_profile: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["preflight", "--host-root", str(gpu_tree), "--profile", str(passing_profile), "--json",
                 "--skip-check", "root"])
    doc = _json(capsys)
    assert code == ExitCode.OK, [c for c in doc["checks"] if c["status"] == "fail"]
    hardware = doc["hardware"]
    assert hardware["host_driver"] == "550.54.15"
    assert len(hardware["gpus"]) == 8
    assert hardware["gpus"][0] == {
        "pci_address": "0000:1b:00.0", "name": "NVIDIA H100 80GB HBM3", "memory_mib": 81559,
        "driver_version": "550.54.15", "mig": "Disabled", "uuid": "GPU-8c35f4c9-4dff-c9a2-866f-afb5d82e1dd7",
        "source": "nvidia-smi", "pci_device_id": "2330"}
    ports = [{k: p[k] for k in ("device", "port", "state", "rate_gbps", "link_layer", "netdevs")}
             for p in hardware["infiniband"]]
    assert ports == [
        {"device": "mlx5_0", "port": 1, "state": "ACTIVE", "rate_gbps": 400.0, "link_layer": "InfiniBand",
         "netdevs": ["ib0"]},
        {"device": "mlx5_1", "port": 1, "state": "DOWN", "rate_gbps": 10.0, "link_layer": "InfiniBand",
         "netdevs": ["ib1"]},
    ]
    assert [c["id"] for c in doc["checks"]] == list(CHECK_IDS)
    assert all({"id", "status", "found", "required", "hint"} <= set(c) for c in doc["checks"])
    assert doc["skipped"] == ["root"]
    rdma = next(s for s in doc["suggestions"] if s["component"] == "rdma")
    assert rdma["selectors"]["ifNames"] == ["ib0"]


def test_text_table_on_the_gpu_tree(gpu_tree: Path, passing_profile: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["preflight", "--host-root", str(gpu_tree), "--profile", str(passing_profile),
                 "--skip-check", "root"])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "GPUs    8 NVIDIA (host driver 550.54.15)" in out
    assert "0000:df:00.0  NVIDIA H100 80GB HBM3  81559 MiB  MIG off  [nvidia-smi]" in out
    assert "mlx5_0/1 ACTIVE 400 Gb/s InfiniBand (ib0)" in out
    assert "mlx5_1/1 DOWN/Polling 10 Gb/s InfiniBand (ib1)" in out
    assert "RDMA selectors: vendors=15b3, deviceIDs=1021, drivers=mlx5_core, ifNames=ib0, linkTypes=infiniband" in out
    assert "Result: 0 failed" in out and "the install can run" in out


def test_failures_come_first_with_needs_and_hint_and_exit_3(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    no_gpu(tmp_path / "host")
    profile = tmp_path / "p.yaml"
    profile.write_text("gpu_operator:\n  enabled: true\npreflight:\n  disk_headroom_gib: 0\n")
    code = main(["preflight", "--host-root", str(tmp_path / "host"), "--profile", str(profile),
                 "--bundle", str(tmp_path / "no-bundle")])
    out = capsys.readouterr().out
    assert code == ExitCode.PREFLIGHT_FAILED
    table = out[out.index("CHECK"):].splitlines()[1:]
    statuses = [line.split()[0] for line in table if line[:1].strip()]
    assert statuses.index("FAIL") == 0 and "ok" in statuses
    assert "FAIL" not in statuses[statuses.index("ok"):]
    assert "FAIL  gpu               no NVIDIA GPU" in out
    assert "needs: an NVIDIA GPU (gpu_operator.enabled is true)" in out
    assert "FAIL  microk8s" in out and "hint:  Put the snapd, core20 and microk8s snaps" in out
    assert "an install would stop here (exit 3)" in out


def test_options_given_before_the_verb_still_count(gpu_tree: Path, passing_profile: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--host-root", str(gpu_tree), "--skip-check", "root", "--profile", str(passing_profile),
                 "preflight", "--json"])
    doc = _json(capsys)
    assert code == ExitCode.OK
    assert len(doc["hardware"]["gpus"]) == 8 and doc["skipped"] == ["root"]


def test_unknown_check_id_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["preflight", "--host-root", str(tmp_path), "--skip-check", "disk"])
    captured = capsys.readouterr()
    assert code == ExitCode.BAD_INPUT
    assert "unknown check id 'disk'" in captured.err and captured.out == ""


def test_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    """On the real host: one JSON document, every check, and MicroK8s judged by what is really there."""
    code = main(["preflight", "--json"])
    doc = _json(capsys)
    assert code in (ExitCode.OK, ExitCode.PREFLIGHT_FAILED)
    assert [c["id"] for c in doc["checks"]] == list(CHECK_IDS)
    microk8s = next(c for c in doc["checks"] if c["id"] == "microk8s")
    installed = Path("/snap/microk8s/current").exists() or Path("/var/snap/microk8s/current").exists()
    if installed:
        assert microk8s["status"] in ("pass", "warn") and microk8s["found"].startswith("installed")
    else:
        assert microk8s["status"] in ("fail", "warn") and microk8s["found"].startswith("not installed")
        assert microk8s["hint"]
    assert code == (ExitCode.OK if doc["ok"] else ExitCode.PREFLIGHT_FAILED)
