"""The run result a front end shows (Done screen, exit lines) never holds the profile's password.

Events are masked on their way to the sinks; the result's outcomes and error come
straight from the step's exception, so they must be masked too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from installer import install_run
from installer.config.profile import Profile
from installer.engine.events import CollectingSink
from installer.engine.plan import Plan, Step, StepContext
from installer.errors import StepFailed
from installer.install_run import InstallOptions, run_install

SECRET = "s3cret-Passw0rd"


class _Leaky(Step):
    id = "leaky"
    title = "A step whose error quotes a secret"
    component = "test"

    def is_done(self, ctx: StepContext) -> bool | None:
        return False

    def run(self, ctx: StepContext) -> None:
        raise StepFailed(f"helm said: password {SECRET} rejected", f"retry without {SECRET}")


def test_failed_outcome_and_error_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = Profile.model_validate({"bundle": str(tmp_path), "jupyterhub": {"auth": {
        "type": "dummy", "password": SECRET}}})
    monkeypatch.setattr(install_run, "install_plan", lambda options: Plan([_Leaky()]))
    result = run_install(InstallOptions(profile=profile, dry_run=True, state_dir=tmp_path / "s"), CollectingSink())
    assert not result.ok and result.error is not None
    shown = [result.error.message, result.error.hint, *(o.reason + o.hint for o in result.outcomes)]
    assert not any(SECRET in text for text in shown), shown
