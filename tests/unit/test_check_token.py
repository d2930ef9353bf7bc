"""The install gives the check its token (issue 14): root-only, reused, masked, not written in a dry-run."""

from __future__ import annotations

from pathlib import Path

from installer.check.token import read_token, token_path
from installer.components.jupyterhub.steps import check_token_for
from installer.config.profile import Profile
from installer.engine.commands import DryRunRunner, RecordingRunner
from installer.engine.events import CollectingSink
from installer.engine.files import FileWriter
from installer.engine.plan import StepContext


def _ctx(tmp_path: Path, runner: RecordingRunner | DryRunRunner) -> StepContext:
    sink = CollectingSink()
    return StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(),
                       state_dir=tmp_path / "state", host_root=tmp_path / "host")


def test_the_install_makes_the_token_once_root_only_and_masked(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, RecordingRunner())
    token = check_token_for(ctx, "jupyterhub")
    assert read_token(ctx.state_dir) == token
    assert token_path(ctx.state_dir).stat().st_mode & 0o077 == 0
    assert ctx.runner.redact(f"apiToken: {token}") == "apiToken: ***"
    assert check_token_for(_ctx(tmp_path, RecordingRunner()), "jupyterhub") == token  # a re-run keeps it


def test_a_dry_run_writes_no_token(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, DryRunRunner())
    token = check_token_for(ctx, "jupyterhub")
    assert token and not token_path(ctx.state_dir).exists()
    assert ctx.runner.redact(token) == "***"
