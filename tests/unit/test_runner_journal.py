"""The plan runner, the journal and the lock: skip what is done, stop at a failure, resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from installer.config.profile import Profile
from installer.engine.commands import RecordingRunner
from installer.engine.events import CollectingSink, PlanFinished, StepFinished
from installer.engine.files import FileWriter
from installer.engine.journal import Journal
from installer.engine.lock import InstallLock
from installer.engine.plan import Plan, Step, StepContext
from installer.engine.runner import run_plan
from installer.errors import ExitCode, LockHeld, StepFailed

REPO = Path(__file__).resolve().parents[2]


class Touch(Step):
    """Writes a marker file; the host (the marker) says whether it is done."""

    def __init__(self, name: str, folder: Path, *, fail: bool = False, checkable: bool = True) -> None:
        self.id, self.title, self.folder, self.fail, self.checkable = name, f"touch {name}", folder, fail, checkable
        self.runs = 0

    def is_done(self, ctx: StepContext) -> bool | None:
        return (self.folder / self.id).exists() if self.checkable else None

    def run(self, ctx: StepContext) -> None:
        self.runs += 1
        if self.fail:
            msg = f"{self.id} broke"
            raise StepFailed(msg, "fix it")
        (self.folder / self.id).write_text("done")


def _ctx(tmp_path: Path, sink: CollectingSink) -> StepContext:
    return StepContext(runner=RecordingRunner(), files=FileWriter(sink), sink=sink, profile=Profile(),
                       state_dir=tmp_path / "state")


def test_runs_in_order_then_skips_on_rerun(tmp_path: Path) -> None:
    steps = [Touch("a", tmp_path), Touch("b", tmp_path)]
    sink = CollectingSink()
    result = run_plan(Plan(steps), _ctx(tmp_path, sink), Journal(tmp_path / "j.json"))
    assert result.ok and result.exit_code == ExitCode.OK
    assert [e.status for e in sink.of(StepFinished)] == ["ok", "ok"]
    sink2 = CollectingSink()
    run_plan(Plan(steps), _ctx(tmp_path, sink2), Journal(tmp_path / "j.json"))
    assert [e.status for e in sink2.of(StepFinished)] == ["skipped", "skipped"]
    assert [s.runs for s in steps] == [1, 1]


def test_failure_stops_the_plan_with_reason_and_hint(tmp_path: Path) -> None:
    steps = [Touch("a", tmp_path), Touch("b", tmp_path, fail=True), Touch("c", tmp_path)]
    sink = CollectingSink()
    result = run_plan(Plan(steps), _ctx(tmp_path, sink), Journal(tmp_path / "j.json"))
    assert result.exit_code == ExitCode.STEP_FAILED
    assert [o.status for o in result.outcomes] == ["ok", "failed", "not_run"]
    failed = sink.of(StepFinished)[-1]
    assert (failed.reason, failed.hint) == ("b broke", "fix it")
    assert sink.of(PlanFinished)[0].status == "failed"


def test_host_truth_beats_the_journal(tmp_path: Path) -> None:
    step = Touch("a", tmp_path)
    journal = Journal(tmp_path / "j.json")
    run_plan(Plan([step]), _ctx(tmp_path, CollectingSink()), journal)
    (tmp_path / "a").unlink()  # someone undid the work on the host
    run_plan(Plan([step]), _ctx(tmp_path, CollectingSink()), Journal(tmp_path / "j.json"))
    assert step.runs == 2


def test_journal_answers_for_uncheckable_steps(tmp_path: Path) -> None:
    step = Touch("a", tmp_path, checkable=False)
    run_plan(Plan([step]), _ctx(tmp_path, CollectingSink()), Journal(tmp_path / "j.json"))
    sink = CollectingSink()
    run_plan(Plan([step]), _ctx(tmp_path, sink), Journal(tmp_path / "j.json"))
    assert step.runs == 1
    assert "journal" in sink.of(StepFinished)[0].reason


def test_unreadable_journal_costs_only_time(tmp_path: Path) -> None:
    (tmp_path / "j.json").write_text("{torn")
    assert Journal(tmp_path / "j.json").entries == {}


def test_cancel_between_steps_is_exit_130(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, CollectingSink())
    ctx.cancel.set()
    result = run_plan(Plan([Touch("a", tmp_path)]), ctx, Journal(tmp_path / "j.json"))
    assert result.exit_code == ExitCode.INTERRUPTED
    assert not (tmp_path / "a").exists()


def test_unexpected_exception_is_a_clear_failure(tmp_path: Path) -> None:
    class Buggy(Step):
        id, title = "buggy", "buggy"

        def run(self, ctx: StepContext) -> None:
            raise ZeroDivisionError

    result = run_plan(Plan([Buggy()]), _ctx(tmp_path, CollectingSink()), Journal(None))
    assert result.exit_code == ExitCode.STEP_FAILED
    assert "unexpected error in step buggy" in result.outcomes[0].reason


def test_lock_says_who_holds_it(tmp_path: Path) -> None:
    with (InstallLock(tmp_path / "lock"), pytest.raises(LockHeld, match=f"pid {os.getpid()}"),
          InstallLock(tmp_path / "lock")):
        pass
    with InstallLock(tmp_path / "lock"):  # released: can be taken again
        pass


SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from unit.test_runner_journal import Touch, _ctx
    from installer.engine.events import CollectingSink
    from installer.engine.journal import Journal
    from installer.engine.plan import Plan, Step
    from installer.engine.runner import run_plan

    class Slow(Touch):
        def run(self, ctx):
            self.runs += 1
            (self.folder / "slow-started").write_text("x")
            time.sleep(float(sys.argv[1]))
            (self.folder / self.id).write_text("done")

    folder = Path({folder!r})
    steps = [Touch("one", folder, checkable=False), Touch("two", folder, checkable=False),
             Slow("three", folder, checkable=False)]
    sink = CollectingSink()
    result = run_plan(Plan(steps), _ctx(folder, sink), Journal(folder / "journal.json"))
    print([e.status for e in sink.events if type(e).__name__ == "StepFinished"])
""")


def test_killed_run_resumes_skipping_finished_steps(tmp_path: Path) -> None:
    script = tmp_path / "plan.py"
    script.write_text(SCRIPT.format(tests=str(REPO / "tests"), folder=str(tmp_path)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), "60"], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (tmp_path / "slow-started").exists():
        assert proc.poll() is None, "the plan ended before it could be killed"
        assert time.monotonic() < deadline, "the slow step never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert set(journal["steps"]) == {"one", "two"}
    rerun = subprocess.run([sys.executable, str(script), "0"], env=env, capture_output=True, text=True, check=True)
    assert rerun.stdout.strip() == "['skipped', 'skipped', 'ok']"


def test_lock_blocks_a_second_process(tmp_path: Path) -> None:
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with InstallLock(tmp_path / "lock"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    other = subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; from installer.engine.lock import InstallLock\n"
         "from installer.errors import LockHeld\ntry:\n  InstallLock(Path(sys.argv[1])).__enter__()\n"
         "except LockHeld as e:\n  print(e); sys.exit(4)", str(tmp_path / "lock")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    release.set()
    thread.join()
    assert other.returncode == 4
    assert "another installer is running" in other.stdout


def test_dry_run_shows_every_step_and_names_those_that_would_fail(tmp_path: Path) -> None:
    from installer.engine.commands import DryRunRunner

    sink = CollectingSink()
    ctx = _ctx(tmp_path, sink)
    ctx.runner = DryRunRunner(sink)
    steps = [Touch("a", tmp_path, fail=True), Touch("b", tmp_path)]
    result = run_plan(Plan(steps), ctx, Journal(None))
    assert [o.status for o in result.outcomes] == ["failed", "ok"]
    assert result.exit_code == ExitCode.STEP_FAILED  # what the real run would end with
    assert "a real run would stop at: a" in sink.of(PlanFinished)[0].summary


def test_a_cancelled_dry_run_stays_interrupted_after_a_would_fail_step(tmp_path: Path) -> None:
    """A dry-run's first would-fail sets its exit code, but a Ctrl+C later still ends it as interrupted (130)."""
    from installer.engine.commands import DryRunRunner
    from installer.errors import Interrupted, PreflightFailed

    class Fails(Step):
        id, title = "preflight", "preflight"

        def is_done(self, ctx: StepContext) -> bool | None:
            return False

        def run(self, ctx: StepContext) -> None:
            raise PreflightFailed("too little memory", "add memory")

    class Cancelled(Step):
        id, title = "import", "import"

        def is_done(self, ctx: StepContext) -> bool | None:
            return False

        def run(self, ctx: StepContext) -> None:
            raise Interrupted("cancelled", "run again")

    sink = CollectingSink()
    ctx = StepContext(runner=DryRunRunner(sink), files=FileWriter(sink), sink=sink, profile=Profile(),
                      state_dir=tmp_path / "state")
    result = run_plan(Plan([Fails(), Cancelled()]), ctx, Journal(None))
    assert (result.status, result.exit_code) == ("interrupted", ExitCode.INTERRUPTED)
    assert sink.of(PlanFinished)[0].exit_code == ExitCode.INTERRUPTED
