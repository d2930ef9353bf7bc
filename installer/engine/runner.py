"""Runs a plan: each step in order, skipping what is already done, stopping at a failure.

The runner owns the step lifecycle events and the journal; steps only do work.
A failed step stops the plan (later steps build on it), except in a dry-run, which
goes on so the operator reads the whole plan and every step that would fail, and
ends with the exit code the real run would end with.
Cancellation is checked between steps and inside long steps via ``ctx.check_cancelled()``.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Final, Literal

from installer.engine.events import (
    EventSink,
    LogLine,
    PlanFinished,
    PlanStarted,
    StepFinished,
    StepStarted,
    StepStatus,
)
from installer.engine.journal import Journal
from installer.engine.plan import Plan, RunResults, Step, StepContext
from installer.errors import ExitCode, InstallerError, Interrupted

_LOGGER: Final = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepOutcome:
    """How one step ended."""

    step_id: str
    title: str
    status: StepStatus | Literal["not_run"]
    reason: str = ""
    hint: str = ""


@dataclass
class RunResult:
    """How the plan ended, with one outcome per step."""

    status: Literal["ok", "failed", "interrupted"]
    exit_code: ExitCode
    outcomes: list[StepOutcome] = field(default_factory=list)
    error: InstallerError | None = None
    results: RunResults = field(default_factory=RunResults)
    """What the steps found out (the hub's URL, the images imported): the front ends show these."""

    @property
    def ok(self) -> bool:
        """True when every step is ok or skipped."""
        return self.status == "ok"


class StepWalk:
    """The numbering and the start/finish events of an ordered walk through steps (or an export's phases).

    :func:`run_plan` walks a plan with it, ``plan`` reads the same walk, and the
    exporter announces its phases through it, so every front end sees one lifecycle.
    """

    def __init__(self, sink: EventSink, outline: tuple[tuple[str, str], ...]) -> None:
        self.sink = sink
        self.outline = outline
        """``(id, title)`` of each step, in order."""
        self._started: dict[str, float] = {}

    def start(self, step_id: str) -> None:
        """Announce ``step_id`` with its place in the walk."""
        index = next(i for i, (sid, _) in enumerate(self.outline, start=1) if sid == step_id)
        self._started[step_id] = time.monotonic()
        self.sink.emit(StepStarted(step_id=step_id, title=self.outline[index - 1][1], index=index,
                                   total=len(self.outline)))

    def finish(self, step_id: str, status: StepStatus, reason: str = "", hint: str = "") -> None:
        """Say how ``step_id`` ended and how long it took."""
        duration = time.monotonic() - self._started.pop(step_id, time.monotonic())
        self.sink.emit(StepFinished(step_id=step_id, status=status, reason=reason, hint=hint, duration=duration))


def _decide_skip(step: Step, ctx: StepContext, journal: Journal) -> str | None:
    """Why ``step`` can be skipped, or None to run it."""
    done = step.is_done(ctx)
    if done is True:
        return "already done on this host"
    if done is None and journal.finished(step.id, step.fingerprint()):
        return "finished by a previous run (journal)"
    if done is False:
        journal.forget(step.id)
    return None


def _run_step(step: Step, ctx: StepContext, journal: Journal) -> StepOutcome:
    reason = _decide_skip(step, ctx, journal)
    if reason is not None:
        return StepOutcome(step.id, step.title, "skipped", reason)
    step.run(ctx)
    if not ctx.dry_run:
        journal.record(step.id, step.fingerprint())
    return StepOutcome(step.id, step.title, "ok")


def _set_step(ctx: StepContext, step_id: str | None) -> None:
    ctx.step_id = step_id
    ctx.runner.step_id = step_id
    ctx.files.step_id = step_id


def run_plan(plan: Plan, ctx: StepContext, journal: Journal) -> RunResult:
    """Run every step of ``plan`` and report each through ``ctx.sink``."""
    ctx.sink.emit(PlanStarted(steps=plan.outline(), dry_run=ctx.dry_run))
    outcomes: list[StepOutcome] = []
    would_fail: list[str] = []
    first_failure: InstallerError | None = None
    """In a dry-run, the error the real run would stop with (its exit code is the dry-run's)."""
    result = RunResult("ok", ExitCode.OK, outcomes)
    total = len(plan.steps)
    walk = StepWalk(ctx.sink, plan.outline())
    for step in plan.steps:
        if result.status != "ok":
            outcomes.append(StepOutcome(step.id, step.title, "not_run"))
            continue
        _set_step(ctx, step.id)
        walk.start(step.id)
        try:
            ctx.check_cancelled()
            outcome = _run_step(step, ctx, journal)
        except (Interrupted, KeyboardInterrupt) as exc:
            error: InstallerError = exc if isinstance(exc, Interrupted) else Interrupted(
                "the install was interrupted", "Run the same command again to resume; finished steps are skipped.")
            outcome = StepOutcome(step.id, step.title, "failed", error.message, error.hint)
            result = RunResult("interrupted", ExitCode.INTERRUPTED, outcomes, error)
        except InstallerError as exc:
            outcome = StepOutcome(step.id, step.title, "failed", exc.message, exc.hint)
            if ctx.dry_run:  # show the whole plan: later steps are still worth reading
                would_fail.append(step.id)
                first_failure = first_failure or exc
            else:
                result = RunResult("failed", exc.exit_code, outcomes, exc)
        except Exception as exc:  # noqa: BLE001 - a bug must still end in a clear failure, logged in full
            ctx.sink.emit(LogLine(level="debug", message=traceback.format_exc(), step_id=step.id))
            error = InstallerError(f"unexpected error in step {step.id}: {exc!r}",
                                   "This is a bug in the installer; the log file has the traceback.")
            outcome = StepOutcome(step.id, step.title, "failed", error.message, error.hint)
            result = RunResult("failed", ExitCode.STEP_FAILED, outcomes, error)
        outcomes.append(outcome)
        # the ignore below: never 'not_run' here
        walk.finish(step.id, outcome.status, outcome.reason, outcome.hint)  # type: ignore[arg-type]
    _set_step(ctx, None)
    done = sum(o.status in ("ok", "skipped") for o in outcomes)
    summary = f"{done} of {total} steps done"
    if ctx.dry_run:
        summary = f"{total} steps shown (dry-run: nothing was changed)"
        if would_fail and first_failure is not None:
            summary += f"; on this host a real run would stop at: {', '.join(would_fail)}"
            if result.status == "ok":  # a cancel (130) or a bug ends the dry-run as itself
                # The exit code the real run would end with (3 for a failed preflight), so scripts can rely on it.
                result = RunResult("failed", first_failure.exit_code, outcomes, first_failure)
    result.results = ctx.results
    ctx.sink.emit(PlanFinished(status=result.status, summary=summary, exit_code=int(result.exit_code),
                               results=ctx.results.to_dict()))
    return result
