"""Running a day-two plan as the install runs its own: masked events, the lock, a journal that resumes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from installer.bundle.source import run_bundle
from installer.engine.events import EventSink, LogLine
from installer.engine.journal import Journal
from installer.engine.lock import LOCK_NAME, InstallLock
from installer.engine.plan import Plan, StepContext
from installer.engine.redacting import RedactingSink
from installer.engine.runner import RunResult, run_plan
from installer.install_run import InstallOptions, make_context, make_redactor, masked_result


def run_change(options: InstallOptions, sink: EventSink, build: Callable[[StepContext], Plan], *,
               journal_name: str, purpose: str, cancel: threading.Event | None = None,
               on_done: Callable[[Path], None] | None = None) -> RunResult:
    """Build the plan in the run's context and run it under the install lock with its own journal.

    The journal (``journal_name`` in the state folder) is removed once the plan ends well,
    so the next change starts afresh; ``on_done`` then clears the change's other records.

    Raises:
        LockHeld: an install or another change runs on this host.
    """
    redactor = make_redactor(options.profile)
    sink = RedactingSink(sink, redactor)
    ctx = make_context(options, sink, redactor=redactor, cancel=cancel)
    with run_bundle(ctx).active():
        plan = build(ctx)
        if options.dry_run:
            return masked_result(run_plan(plan, ctx, Journal(None)), redactor)
        with InstallLock(ctx.state_dir / LOCK_NAME, purpose=purpose):
            path = ctx.state_dir / journal_name
            journal = Journal(path)
            if journal.entries:
                sink.emit(LogLine(level="info", message=f"resuming the {purpose}: {len(journal.entries)} step(s) "
                                                        "finished by a previous run"))
            result = masked_result(run_plan(plan, ctx, journal), redactor)
            if result.ok:
                path.unlink(missing_ok=True)
                if on_done is not None:
                    on_done(ctx.state_dir)
            return result
