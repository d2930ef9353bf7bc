"""The first step of every install: check the host and stop on a failed check.

It also hands what it found to later steps: ``ctx.facts`` (the
:class:`~installer.probes.model.HostFacts`) and ``ctx.preflight`` (the report: the
:class:`~installer.preflight.checks.CheckResult` list, skips applied, and the suggestions).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from installer.engine.plan import Step, StepContext
from installer.errors import PreflightFailed
from installer.preflight.report import BundleEstimate, ImageTarget, PreflightReport, run_preflight

if TYPE_CHECKING:
    pass

SKIP_HINT: Final = "If you accept the risk, skip a check with --skip-check ID (the log records it)."


def failure(report: PreflightReport) -> PreflightFailed:
    """The error for a report with failed checks: each failure, what it needs, and what to do."""
    lines = [f"{c.id}: found {c.found}; required {c.required}" for c in report.failed]
    msg = f"{len(lines)} preflight check{'s' if len(lines) > 1 else ''} failed:\n  " + "\n  ".join(lines)
    hints = [f"{c.id}: {c.hint}" for c in report.failed if c.hint]
    return PreflightFailed(msg, "\n".join([*hints, SKIP_HINT]))


class PreflightStep(Step):
    """Probe the host, report every check, raise :class:`PreflightFailed` (exit 3) on a failure.

    Args:
        bundle_dir: the offline bundle folder (default: ``profile.bundle_dir()``).
        bundle: image bytes and snaps of the bundle, when the caller has read the
            manifest; otherwise estimated from the files in ``bundle_dir``.
        images_target: the containerd the install imports into; images it already
            holds need no disk space (a re-run after a full disk).
    """

    id = "preflight"
    title = "Check the host"
    component = "preflight"

    def __init__(self, bundle_dir: Path | None = None, bundle: BundleEstimate | None = None,
                 images_target: ImageTarget | None = None) -> None:
        self.bundle_dir = bundle_dir
        self.bundle = bundle
        self.images_target = images_target

    def inputs(self) -> Any:
        """Preflight's result depends on the host, which is re-read every run."""
        return {"id": self.id}

    def is_done(self, ctx: StepContext) -> bool | None:
        """Never: the host may have changed since the last run, and checks are cheap."""
        return False

    def run(self, ctx: StepContext) -> None:
        """Probe, report, store, and stop on failure (in a dry-run, only report)."""
        from installer.bundle.source import run_bundle

        report = run_preflight(ctx.runner, ctx.profile, ctx.host_root, skip_checks=sorted(ctx.skip_checks),
                               bundle_dir=self.bundle_dir or run_bundle(ctx).path, bundle=self.bundle,
                               images_target=self.images_target)
        for check in report.checks:
            ctx.sink.emit(check.to_event())
        for check_id in report.skipped:
            check = next(c for c in report.checks if c.id == check_id)
            ctx.log(f"check {check_id} skipped on request ({check.hint}; found {check.found})", "warning")
        for suggestion in report.suggestions:
            if suggestion.suggested and not getattr(ctx.profile, suggestion.component).enabled:
                ctx.log(f"suggestion: turn on {suggestion.component} ({suggestion.reason})")
        ctx.facts = report.facts
        ctx.preflight = report
        if report.failed:
            raise failure(report)  # in a dry-run the runner notes it and shows the rest of the plan
        summary = f"{len(report.checks)} checks: {len(report.warnings)} warnings, {len(report.skipped)} skipped"
        ctx.log(summary)
