"""One install run, whatever the front end: options in, events out, a result back.

The headless console and the wizard both call :func:`run_install`; they differ only
in the sink they pass. This module wires the runner (real, dry-run, or the caller's:
``InstallOptions.runner_factory``), the file writer, the journal, the lock and the plan
built by the components. It knows no caller: the demo hands in its own runner.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from installer.bundle.source import BundleSource, run_bundle
from installer.components.plan import DEFAULT_CONTAINERD_SOCKET, PlanOptions, build_plan
from installer.config.profile import Profile
from installer.daytwo.saved import pending_path
from installer.engine.commands import CommandRunner, DryRunRunner, RealRunner, Redactor
from installer.engine.events import EventSink, LogLine
from installer.engine.files import DryRunFileWriter, FileWriter
from installer.engine.hangup import terminal_closed
from installer.engine.journal import Journal
from installer.engine.lastrun import record_start, write_record
from installer.engine.lock import LOCK_NAME, InstallLock
from installer.engine.plan import Plan, StepContext
from installer.engine.redacting import RedactingSink
from installer.engine.runner import RunResult, run_plan
from installer.errors import ExitCode
from installer.lifecycle.installed import save_installed

RunnerFactory = Callable[[EventSink, Redactor], CommandRunner]
"""How a caller supplies the runner of a real run: ``factory(sink, redactor)``."""

DEFAULT_STATE_DIR: Final = Path("/var/lib/jupyterhub-offline-installer")


def default_state_dir() -> Path:
    """Root keeps state in /var/lib; others (dry-runs, tests) in a per-user folder."""
    if os.geteuid() == 0:
        return DEFAULT_STATE_DIR
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "jupyterhub-offline-installer"


@dataclass
class InstallOptions:
    """What a run needs besides the profile's content."""

    profile: Profile
    dry_run: bool = False
    state_dir: Path = field(default_factory=default_state_dir)
    host_root: Path = Path("/")
    skip_checks: frozenset[str] = frozenset()
    bundle_dir: Path | None = None
    """Overrides ``profile.bundle``."""
    containerd_socket: Path = DEFAULT_CONTAINERD_SOCKET
    namespace: str = "k8s.io"
    jobs: int = 2
    """Parallel image import lanes."""
    runner_factory: RunnerFactory | None = None
    """Makes the command runner of a real run when the caller chooses it (the demo's, for its simulated
    MicroK8s); ``None`` is the :class:`RealRunner`. A dry-run always records instead."""
    check: bool = True
    """End with the acceptance check (``--no-check``: leave it out)."""
    simulated: str = ""
    """What stands in for the cluster, said beside the hub's URL at the end (the demo: "simulated MicroK8s")."""

    def url_note(self) -> str:
        """Said beside the hub's URL in the end-of-run lines: ``dry-run``, what is simulated, or nothing."""
        return "dry-run" if self.dry_run else self.simulated

    def bundle(self) -> Path:
        """The bundle folder in effect."""
        return self.profile.bundle_dir(self.bundle_dir)

    def plan_options(self) -> PlanOptions:
        """What the components' plan builder needs of these options."""
        return PlanOptions(dry_run=self.dry_run, host_root=self.host_root, bundle_dir=self.bundle(),
                           containerd_socket=self.containerd_socket, namespace=self.namespace, jobs=self.jobs,
                           check=self.check)

    def all_skipped_checks(self) -> frozenset[str]:
        """Checks skipped by the command line or the profile."""
        return self.skip_checks | frozenset(self.profile.preflight.skip_checks)


def make_redactor(profile: Profile) -> Redactor:
    """A redactor that knows every secret in ``profile``."""
    return Redactor(profile.secrets())


def install_plan(options: InstallOptions) -> Plan:
    """The ordered steps for ``options`` (assembled by the components' registry)."""
    return build_plan(options.profile, options.plan_options())


def make_context(options: InstallOptions, sink: EventSink, *, redactor: Redactor,
                 runner: CommandRunner | None = None, cancel: threading.Event | None = None) -> StepContext:
    """The step context for a run: dry-run runner and file writer when nothing may change."""
    if runner is None:
        real = options.runner_factory or RealRunner
        runner = DryRunRunner(sink, redactor) if options.dry_run else real(sink, redactor)
    files = DryRunFileWriter(sink, redactor) if options.dry_run else FileWriter(sink, redactor)
    state_dir = options.state_dir
    if options.dry_run and not os.access(state_dir if state_dir.exists() else state_dir.parent, os.W_OK):
        state_dir = Path(tempfile.gettempdir()) / "jupyterhub-offline-installer-dry-run"
    return StepContext(runner=runner, files=files, sink=sink, profile=options.profile, state_dir=state_dir,
                       cancel=cancel or threading.Event(), host_root=options.host_root,
                       skip_checks=options.all_skipped_checks(), bundle=BundleSource(options.bundle()))


def masked_result(result: RunResult, redactor: Redactor) -> RunResult:
    """``result`` with every secret masked in its outcomes and error: the front ends show these as they are."""
    result.outcomes[:] = [replace(o, reason=redactor(o.reason), hint=redactor(o.hint)) for o in result.outcomes]
    if result.error is not None:
        result.error.message = redactor(result.error.message)
        result.error.hint = redactor(result.error.hint)
        result.error.args = (result.error.message,)
    return result


def _only_the_check_failed(result: RunResult) -> bool:
    """Every install step finished and only the acceptance check (the last step) failed: the hub is installed."""
    failed = [o.step_id for o in result.outcomes if o.status not in ("ok", "skipped")]
    return result.status == "failed" and failed == ["check"]


def run_install(options: InstallOptions, sink: EventSink, *, redactor: Redactor | None = None,
                runner: CommandRunner | None = None, cancel: threading.Event | None = None,
                log_file: Path | None = None) -> RunResult:
    """Run the whole install (or dry-run) and return how it ended.

    A real run writes the result file (``last-run.json`` in the state folder, naming
    ``log_file``) when it starts and when it ends, so a later ``./install.sh`` can say
    that it is running or how it ended, even after its terminal closed.

    Raises:
        LockHeld: another installer is running on this host.
        InstallerError: the plan could not be built (bad bundle, bad profile).
    """
    redactor = redactor or make_redactor(options.profile)
    sink = RedactingSink(sink, redactor)  # every front end (console, JSON lines, wizard) gets masked events
    ctx = make_context(options, sink, redactor=redactor, runner=runner, cancel=cancel)
    with run_bundle(ctx).active():  # the plan's helpers read the run's manifest, parsed once
        plan = install_plan(options)
        if options.dry_run:
            return masked_result(run_plan(plan, ctx, Journal(None)), redactor)
        with InstallLock(ctx.state_dir / LOCK_NAME):
            record = record_start(ctx.state_dir, log_file)
            result = RunResult("failed", ExitCode.STEP_FAILED)
            try:
                journal = Journal(ctx.state_dir / "journal.json")
                if journal.entries:
                    sink.emit(LogLine(level="info",
                                      message=f"resuming: {len(journal.entries)} step(s) finished by a previous run"))
                result = masked_result(run_plan(plan, ctx, journal), redactor)
                if result.ok or _only_the_check_failed(result):  # day two starts from what this run applied
                    save_installed(ctx.state_dir, options.profile.with_bundle(options.bundle()), options.bundle())
                    pending_path(ctx.state_dir).unlink(missing_ok=True)  # a catalog change it overrode
            except KeyboardInterrupt:  # between steps (say, while an event is shown): not a failed install
                result = RunResult("interrupted", ExitCode.INTERRUPTED, result.outcomes)
                raise
            finally:
                done = sum(o.status in ("ok", "skipped") for o in result.outcomes)
                summary = f"{done} of {len(result.outcomes)} steps done" if result.outcomes else "stopped by an error"
                write_record(ctx.state_dir, replace(
                    record, status=result.status, finished=time.time(), exit_code=int(result.exit_code),
                    summary=summary, terminal_closed=terminal_closed()))
            return result
