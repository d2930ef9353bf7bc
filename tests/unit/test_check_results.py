"""The acceptance check's place in the plan and its table in every front end (issue 14)."""

from __future__ import annotations

from pathlib import Path

from installer.check.report import report_dict
from installer.check.run import CheckReport, EntryResult, ProbeResult
from installer.components.plan import PlanOptions, build_plan
from installer.config.profile import Profile
from installer.engine.runner import RunResult, StepOutcome
from installer.errors import ExitCode, StepFailed
from installer.headless.summary import summary_lines
from installer.install_run import InstallOptions
from installer.wizard.backend import WizardSession, done_report, review_lines


def _failed_check() -> RunResult:
    report = CheckReport([EntryResult("minimal", True, 3.0, probes=(ProbeResult("uid", True, "id -u: 1000"),)),
                          EntryResult("pytorch", True, 9.0, probes=(
                              ProbeResult("gpus", False, "nvidia-smi -L lists 1 GPU(s), 2 asked", "check the node"),))])
    result = RunResult("failed", ExitCode.STEP_FAILED,
                       [StepOutcome("check", "Check", "failed", "the acceptance check failed: pytorch")],
                       StepFailed("the acceptance check failed: pytorch"))
    result.results.check = report_dict(report, "http://127.0.0.1:1/")
    return result


def test_the_check_is_the_last_step_unless_turned_off() -> None:
    quick = {"preflight": False, "import_images": False}
    assert [s.id for s in build_plan(Profile(), PlanOptions(**quick)).steps][-1] == "check"
    assert "check" not in [s.id for s in build_plan(Profile(), PlanOptions(check=False, **quick)).steps]
    assert not InstallOptions(profile=Profile(), check=False).plan_options().check


def test_a_failed_check_ends_the_headless_summary_with_its_table() -> None:
    lines = summary_lines(_failed_check(), Profile())
    assert lines[0] == "The install failed at step check (exit 1): the acceptance check failed: pytorch"
    assert lines[1] == "Check: 1 of 2 notebook image(s) passed"
    assert any(line.split()[:2] == ["pytorch", "FAILED"] for line in lines)
    assert any("FAIL  gpus: nvidia-smi -L lists 1 GPU(s), 2 asked" in line for line in lines)
    assert any("hint: check the node" in line for line in lines)


def test_the_done_screen_and_review_show_the_check(tmp_path: Path) -> None:
    options = InstallOptions(profile=Profile(), bundle_dir=tmp_path, state_dir=tmp_path / "s")
    session = WizardSession.start(options, log_file=tmp_path / "install.log")
    assert any(line.startswith("Check       at the end:") for line in review_lines(session))
    session.result = _failed_check()
    report = done_report(session)
    assert report.check[0] == "Check: 1 of 2 notebook image(s) passed"
    assert any("FAIL  gpus" in line for line in report.check)
    off = WizardSession.start(InstallOptions(profile=Profile(), bundle_dir=tmp_path, state_dir=tmp_path / "s",
                                             check=False), log_file=tmp_path / "install.log")
    assert any(line.startswith("Check       off (--no-check)") for line in review_lines(off))
