"""One registry: a component is one package plus one line, and what it suggests reaches the profile."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakehost import a100_mig

from installer.components import registry
from installer.config.profile import Profile
from installer.engine.commands import RecordingRunner
from installer.engine.events import CollectingSink
from installer.install_run import InstallOptions
from installer.preflight import report as preflight
from installer.preflight.suggestions import suggest
from installer.probes import probe_host
from installer.wizard import backend
from installer.wizard.model import WizardModel

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def with_dummy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the installer makes of the dummy component (tests/unit/dummy_component), in a fresh interpreter."""
    work = tmp_path_factory.mktemp("dummy")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    done = subprocess.run([sys.executable, "-m", "tests.unit.dummy_component.with_dummy", str(work)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_the_dummy_has_a_profile_section(with_dummy: dict[str, Any]) -> None:
    schema = with_dummy["schema"]
    assert "dummy" in schema["properties"]
    assert schema["dummy"] == {"$ref": "#/$defs/DummySettings", "description": "The dummy agent (optional)."}
    assert schema["saved"].endswith("dummy:\n  enabled: true\n  replicas: 2\n")


def test_the_dummy_is_in_the_plan_and_its_file_in_plan_out(with_dummy: dict[str, Any]) -> None:
    plan = with_dummy["plan"]
    assert plan["code"] == 0
    ids = [step_id for step_id, _ in plan["steps"]]
    # its cluster-phase step runs after the Kubernetes base and before the hub (the apps phase)
    assert ids.index("microk8s.hostpath-storage") < ids.index("dummy.apply") < ids.index("jupyterhub.install")
    assert dict(plan["steps"])["dummy.apply"] == [["microk8s", "kubectl", "scale", "deployment/dummy",
                                                   "--replicas=4"]]
    assert plan["files"] == ["dummy.yaml", "jupyterhub-values.yaml"]
    assert plan["dummy.yaml"] == "replicas: 4\n"


def test_the_bundle_check_lock_and_verify_know_the_dummy(with_dummy: dict[str, Any]) -> None:
    verify = with_dummy["verify"]
    assert verify["missing_before"] == ["dummy: image registry.example/dummy/agent:1.0 is not in the bundle"]
    assert verify["lock_code"] == 0 and verify["code"] == 0
    assert ["dummy", "images/dummy.tar", "ok"] in verify["checks"]


def test_the_components_screen_shows_the_dummy_with_its_suggestion(with_dummy: dict[str, Any]) -> None:
    wizard = with_dummy["wizard"]
    assert wizard["screen"] == "ComponentsScreen"
    assert wizard["switches"] == ["switch-gpu_operator", "switch-rdma", "switch-dummy"]
    assert wizard["dummy_on"] is True
    assert "Dummy agent Recommended: every host can run it" in wizard["text"]
    assert wizard["suggested"] == {"enabled": True, "replicas": 3}  # the suggestion's settings, not just "on"
    assert wizard["after_click"] is False


def test_the_type_checkers_profile_lists_the_registry() -> None:
    """``Profile``'s typed view (for mypy only) names the built-in sections the registry builds, in order."""
    tree = ast.parse((REPO / "installer" / "config" / "profile.py").read_text())
    typed = next(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef) and node.name == "Profile")
    names = [item.target.id for item in typed.body if isinstance(item, ast.AnnAssign)
             and isinstance(item.target, ast.Name)]
    assert names == [c.key for c in registry.components()]
    assert [n for n in Profile.model_fields if n not in ("bundle", "preflight", "source")] == names


def test_the_hardware_suggestion_reaches_the_wizard_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A MIG GPU with a host driver: the wizard's profile uses the host driver, not just ``enabled``."""
    a100_mig(tmp_path / "host")
    facts = probe_host(RecordingRunner(strict=True), tmp_path / "host")
    suggestions = tuple(suggest(facts))
    monkeypatch.setattr(preflight, "run_preflight", lambda *args, **kwargs: preflight.PreflightReport(
        facts, (), suggestions))  # the suggestions are computed; only this machine is not probed
    options = InstallOptions(profile=Profile(), state_dir=tmp_path / "state", bundle_dir=tmp_path / "bundle")
    _, _, choices = backend._preflight_engine(options, CollectingSink())
    model = WizardModel.from_profile(Profile())
    model.apply_recommendations(choices)
    profile = model.to_profile()
    assert profile.gpu_operator.enabled
    assert profile.gpu_operator.driver == "host"
    assert Profile().gpu_operator.driver == "auto"
