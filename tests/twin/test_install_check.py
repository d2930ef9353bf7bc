"""The acceptance check as the last step of a real install against the twin (issue 14).

The twin's ``kubectl port-forward service/proxy-public`` serves the hub's REST calls from
the deployed values, and its pods are scheduled by its own rules, so a catalog entry the
node cannot serve fails the check the way it would fail a user: named, with the hub's
own message, exit 1, and nothing of the test user left behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import eight_h100
from twin.charts import build_bundle
from twin.fixture import Twin, make_twin, use_twin
from twin.test_install_e2e import install, write_profile

from installer.check.step import AcceptanceCheckStep
from installer.config.profile import load_profile
from installer.engine.commands import RealRunner
from installer.engine.events import CollectingSink
from installer.engine.files import FileWriter
from installer.engine.journal import Journal
from installer.engine.plan import Plan, StepContext
from installer.engine.runner import run_plan
from installer.headless.summary import summary_lines

pytestmark = [pytest.mark.containerd,
              pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")]


def _gpu_site(tmp_path: Path, containerd: Any, monkeypatch: pytest.MonkeyPatch, *, gpus: int) -> dict[str, Any]:
    """The shipped GPU profile with one more entry asking ``gpus`` GPUs of the 8-GPU host."""
    twin = make_twin(tmp_path, containerd, eight_h100)
    use_twin(monkeypatch, twin)
    bundle = tmp_path / "offline-images"
    path = write_profile("gpu", tmp_path / "gpu.yaml", bundle)
    data = yaml.safe_load(path.read_text())
    data["jupyterhub"]["images"].append({"name": "many-gpus", "display_name": "Many GPUs", "gpus": gpus,
                                         "image": data["jupyterhub"]["images"][1]["image"]})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    profile = load_profile(path)
    build_bundle(bundle, profile)
    return {"twin": twin, "profile": profile, "bundle": bundle, "state": tmp_path / "state"}


def _leftovers(twin: Twin) -> dict[str, list[str]]:
    """The test user's pods, volumes and hub account, as the twin holds them."""
    state = twin.state()
    objects = state["objects"].values()
    return {"pods": [o["metadata"]["name"] for o in objects if o["kind"] == "Pod"],
            "pvcs": [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"
                     and o["metadata"]["name"].startswith("claim-")],
            "users": list((state.get("hub") or {}).get("users") or {})}


def test_an_entry_asking_more_gpus_than_the_node_has_fails_the_install_naming_it(
        tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _gpu_site(tmp_path, clean_containerd, monkeypatch, gpus=16)
    result, events = install(site)
    assert result.exit_code == 1, (result.error, events.steps())
    assert [s for s, status in events.steps().items() if status == "failed"] == ["check"]
    assert result.error is not None and "many-gpus" in result.error.message
    document = result.results.to_dict()["check"]  # the plan_finished JSON line carries it
    assert document["failed"] == ["many-gpus"]
    by_entry = {e["entry"]: e for e in document["entries"]}
    assert by_entry["minimal"]["ok"] and by_entry["pytorch-gpu"]["ok"]
    assert "gpus" in [p["name"] for p in by_entry["pytorch-gpu"]["probes"]]
    assert "Insufficient nvidia.com/gpu" in " ".join(by_entry["many-gpus"]["messages"])
    lines = summary_lines(result, site["profile"])
    assert lines[0].startswith("The install failed at step check (exit 1)")
    assert "Check: 2 of 3 notebook image(s) passed" in lines
    assert any(line.strip().startswith("many-gpus") and "FAILED" in line for line in lines)
    assert _leftovers(site["twin"]) == {"pods": [], "pvcs": [], "users": []}
    # the hub is installed all the same: day two (images, upgrade, uninstall) starts from its record
    from installer.lifecycle.installed import load_installed

    installed = load_installed(site["state"])
    assert installed is not None and [i.name for i in installed.profile.jupyterhub.images][-1] == "many-gpus"


def test_a_passing_check_leaves_nothing_and_no_check_leaves_it_out(
        tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _gpu_site(tmp_path, clean_containerd, monkeypatch, gpus=2)
    result, events = install(site)
    assert result.ok, (result.error, result.results.check)
    assert events.steps()["check"] == "ok"
    assert result.results.check is not None and result.results.check["ok"]
    assert "Check: 3 of 3 notebook image(s) passed" in summary_lines(result, site["profile"])
    assert _leftovers(site["twin"]) == {"pods": [], "pvcs": [], "users": []}
    again, events = install(site, check=False)
    assert again.ok and "check" not in events.steps() and again.results.check is None


def test_volumes_the_hub_keeps_are_deleted_by_the_check(tmp_path: Path, clean_containerd: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``KubeSpawner.delete_pvc`` off in the deployed values: the hub keeps each named server's PVC when the
    server is removed; the check deletes them itself (by KubeSpawner's username label), on a re-run too."""
    site = _gpu_site(tmp_path, clean_containerd, monkeypatch, gpus=2)
    first, _ = install(site, check=False)
    assert first.ok, first.error
    with site["twin"].store.edit() as state:
        values = state["releases"]["jupyterhub/jupyterhub"][-1]["values"]
        values["hub"].setdefault("config", {})["KubeSpawner"] = {"delete_pvc": False}
    sink = CollectingSink()  # the check step alone: a whole re-run would upgrade the release back
    ctx = StepContext(runner=RealRunner(sink), files=FileWriter(sink), sink=sink, profile=site["profile"],
                      state_dir=site["state"])
    result = run_plan(Plan([AcceptanceCheckStep(site["profile"].jupyterhub)]), ctx, Journal(None))
    assert result.ok, (result.error, result.results.check)
    assert _leftovers(site["twin"]) == {"pods": [], "pvcs": [], "users": []}


class _CtrlCDuringSecondSpawn(CollectingSink):
    """Ctrl-C (KeyboardInterrupt, as the CLI's handlers raise it) once the second entry's spawn is under way."""

    def emit(self, event: Any) -> None:
        super().emit(event)
        if type(event).__name__ == "StepProgress" and getattr(event, "item", "") == "pytorch-gpu":
            raise KeyboardInterrupt


def test_ctrl_c_during_a_spawn_leaves_no_server_user_or_volume(tmp_path: Path, clean_containerd: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    site = _gpu_site(tmp_path, clean_containerd, monkeypatch, gpus=2)
    first, _ = install(site, check=False)
    assert first.ok, first.error
    with site["twin"].store.edit() as state:  # the hub keeps volumes: only the check's own clean-up removes them
        values = state["releases"]["jupyterhub/jupyterhub"][-1]["values"]
        values["hub"].setdefault("config", {})["KubeSpawner"] = {"delete_pvc": False}
    sink = _CtrlCDuringSecondSpawn()
    ctx = StepContext(runner=RealRunner(sink), files=FileWriter(sink), sink=sink, profile=site["profile"],
                      state_dir=site["state"])
    result = run_plan(Plan([AcceptanceCheckStep(site["profile"].jupyterhub)]), ctx, Journal(None))
    assert result.status == "interrupted" and int(result.exit_code) == 130
    assert _leftovers(site["twin"]) == {"pods": [], "pvcs": [], "users": []}
