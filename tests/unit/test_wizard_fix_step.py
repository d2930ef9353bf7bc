"""After the install stopped at the bundle check, "Change the answers" goes to the screen whose answer
asked for what the bundle lacks: the operator's answers decide, not the profile the wizard started from."""

from __future__ import annotations

from pathlib import Path

from twin.charts import build_bundle

from installer.config.profile import Profile
from installer.engine.runner import RunResult, StepOutcome
from installer.errors import BundleError, ExitCode
from installer.install_run import InstallOptions
from installer.wizard.backend import WizardSession, fix_step


def test_bundle_check_failure_sends_back_to_the_component_the_answers_turned_on(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    start = Profile(bundle=bundle)  # the default profile: no GPU Operator
    build_bundle(bundle, start)  # a bundle for it: lacks the GPU Operator's images
    session = WizardSession.start(InstallOptions(profile=start, state_dir=tmp_path / "s"))
    session.model.set_component("gpu_operator", True)  # the operator's answer
    error = BundleError("the bundle lacks what the chosen components need")
    outcome = StepOutcome("bundle-check", "Check the offline bundle", "failed", error.message)
    session.result = RunResult("failed", ExitCode.BAD_INPUT, [outcome], error)
    assert fix_step(session, []) == "components"
