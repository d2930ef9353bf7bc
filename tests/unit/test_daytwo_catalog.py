"""Catalog edits of the installed profile (installer/daytwo/catalog.py): validated whole, refused by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.config.profile import Profile
from installer.daytwo import catalog
from installer.errors import UsageError

SOURCE = Path("/var/lib/jupyterhub-offline-installer/profile.yaml")
TORCH = {"name": "torch", "display_name": "PyTorch", "image": "quay.io/lab/torch:1", "default": True}


def test_a_bad_value_is_refused_naming_the_key_and_value_not_a_line_of_generated_text() -> None:
    with pytest.raises(UsageError) as raised:
        catalog.edit_entry(Profile(), "minimal", {"mem_limit": "lots"}, SOURCE)
    message = raised.value.message
    assert "jupyterhub.images[0].mem_limit" in message and "'lots'" in message
    assert str(SOURCE) not in message and "Nothing was changed" in raised.value.hint


def test_the_last_entry_on_the_shelf_cannot_be_taken_off() -> None:
    with pytest.raises(UsageError, match="at least one notebook image must be enabled"):
        catalog.edit_entry(Profile(), "minimal", {"enabled": False}, SOURCE)


def test_add_refuses_a_taken_name_and_a_new_default_takes_the_mark() -> None:
    added = catalog.add_entry(Profile(), TORCH, SOURCE)
    assert [(i.name, i.default) for i in added.jupyterhub.images] == [("minimal", False), ("torch", True)]
    with pytest.raises(UsageError, match="already has an entry named 'torch'"):
        catalog.add_entry(added, TORCH, SOURCE)


def test_edit_changes_only_the_given_fields_and_off_shelf_is_listed() -> None:
    added = catalog.add_entry(Profile(), TORCH, SOURCE)
    edited = catalog.edit_entry(added, "torch", {"enabled": False, "gpus": 2}, SOURCE)
    torch = catalog.find_entry(edited, "torch")
    assert (torch.enabled, torch.gpus, torch.image, torch.display_name) == (False, 2, TORCH["image"], "PyTorch")
    rows = {r["name"]: r["on_shelf"] for r in catalog.catalog_rows(edited)}
    assert rows == {"minimal": True, "torch": False}
    assert [i.name for i in catalog.remove_entry(edited, "torch", SOURCE).jupyterhub.images] == ["minimal"]


def test_an_unknown_entry_is_named_with_those_there_are() -> None:
    with pytest.raises(UsageError) as raised:
        catalog.find_entry(Profile(), "nope")
    assert "'nope'" in raised.value.message and "minimal" in raised.value.hint


def test_status_is_not_healthy_when_helm_does_not_answer(tmp_path: Path) -> None:
    """No answer from Helm is not "no release": the survey names it instead of calling the cluster healthy."""
    import json

    from installer.daytwo.health import survey
    from installer.engine.commands import RecordingRunner
    from installer.engine.events import NullSink
    from installer.install_run import InstallOptions, make_context, make_redactor

    runner = RecordingRunner()
    runner.answer(["snap", "list", "microk8s"], "Name Version Rev\nmicrok8s v1.32.3 7964\n")
    runner.answer(["microk8s", "kubectl", "version"], json.dumps({"serverVersion": {"gitVersion": "v1.32.3"}}))
    runner.answer(["microk8s", "kubectl", "get", "nodes"], json.dumps({"items": []}))
    runner.answer(["microk8s", "kubectl", "get", "pods"], json.dumps({"items": []}))
    runner.answer(["microk8s", "helm3", "list"], "", returncode=1, stderr="Error: Kubernetes cluster unreachable")
    options = InstallOptions(profile=Profile(), state_dir=tmp_path / "state")
    report = survey(make_context(options, NullSink(), runner=runner, redactor=make_redactor(options.profile)), None)
    assert not report["healthy"]
    assert any("helm did not list the releases" in p for p in report["problems"]), report["problems"]


def test_an_image_imported_on_one_node_of_several_is_a_warning_naming_them(tmp_path: Path) -> None:
    """Each MicroK8s node has its own containerd: an image added on this one is missing on the others."""
    import json

    from installer.daytwo.cluster import other_nodes_warning
    from installer.engine.commands import RecordingRunner
    from installer.engine.events import NullSink
    from installer.install_run import InstallOptions, make_context, make_redactor

    def ctx_with(names: list[str]) -> object:
        runner = RecordingRunner()
        runner.answer(["microk8s", "kubectl", "get", "nodes"],
                      json.dumps({"items": [{"metadata": {"name": n}} for n in names]}))
        options = InstallOptions(profile=Profile(), state_dir=tmp_path / "s")
        return make_context(options, NullSink(), runner=runner, redactor=make_redactor(options.profile))

    assert other_nodes_warning(ctx_with(["gpu1"]), "x:1") is None  # type: ignore[arg-type]
    warning = other_nodes_warning(ctx_with(["gpu1", "gpu2"]), "x:1") or ""  # type: ignore[arg-type]
    assert "2 nodes (gpu1, gpu2)" in warning and "x:1" in warning and "install.sh import" in warning
