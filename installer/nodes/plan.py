"""The join plan: the new node's steps, run like the install's (journal, lock, events, exit codes)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from installer.bundle.source import BundleSource
from installer.config.profile import Profile
from installer.engine.commands import CommandRunner, RealRunner, Redactor
from installer.engine.events import EventSink
from installer.engine.files import FileWriter
from installer.engine.journal import Journal
from installer.engine.lock import LOCK_NAME, InstallLock
from installer.engine.plan import Plan, Step, StepContext
from installer.engine.redacting import RedactingSink
from installer.engine.runner import RunResult, run_plan
from installer.nodes.steps import (
    CheckMemberStep,
    FetchImagesStep,
    FetchSnapsStep,
    JoinStep,
    JoinTarget,
    NodePreflightStep,
    WaitSeenStep,
)

JOURNAL: Final = "join-journal.json"


def join_plan(profile: Profile, target: JoinTarget) -> Plan:
    """Check, fetch the snaps and install MicroK8s (when asked), fetch and import the images, join, wait."""
    from installer.components.microk8s.steps import InstallSnapsStep

    steps: list[Step] = [CheckMemberStep(target), NodePreflightStep(target)]
    if profile.microk8s.install_snaps:
        steps += [FetchSnapsStep(target), InstallSnapsStep(target.spool, profile.microk8s.channel)]
    steps += [FetchImagesStep(target), JoinStep(target), WaitSeenStep(target)]
    return Plan(steps)


def run_join(profile: Profile, target: JoinTarget, sink: EventSink, *, state_dir: Path, host_root: Path,
             runner: CommandRunner | None = None, skip_checks: frozenset[str] = frozenset()) -> RunResult:
    """Run the join plan under the install lock; the token is masked in every event.

    Raises:
        LockHeld: an install or another join runs on this host.
    """
    redactor = Redactor(profile.secrets())
    redactor.add(target.connection.split("/", 1)[1])
    sink = RedactingSink(sink, redactor)
    ctx = StepContext(runner=runner or RealRunner(sink, redactor), files=FileWriter(sink, redactor), sink=sink,
                      profile=profile, state_dir=state_dir, host_root=host_root, bundle=BundleSource(target.spool),
                      skip_checks=skip_checks | frozenset(profile.preflight.skip_checks))
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with InstallLock(state_dir / LOCK_NAME):
        return run_plan(join_plan(profile, target), ctx, Journal(state_dir / JOURNAL))
