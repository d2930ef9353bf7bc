"""Apply a changed profile to a running hub: the values diff first, then one ``helm upgrade``.

The diff compares the hub's values made from the installed profile with those made from
the changed one (both with the acceptance check's token and the bundle's hub images, as
the install makes them), secrets masked. Applying runs the install's own hub steps
(:class:`~installer.components.jupyterhub.steps.JupyterHubStep`: every image the release
runs must be in containerd; a ``pending-*`` release left by a killed change is rolled back
first; then :class:`HubWaitStep`) under the install lock, journaled in the state folder,
so the same command run again after an interruption resumes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from installer.bundle.source import run_bundle
from installer.components.jupyterhub.steps import (
    HubWaitStep,
    JupyterHubStep,
    check_token_for,
    register_secrets,
    values_for,
)
from installer.components.kube import dump_values
from installer.components.release_images import ContainerdTarget
from installer.config.profile import Profile
from installer.daytwo import saved
from installer.engine.events import EventSink, LogLine
from installer.engine.journal import Journal
from installer.engine.lock import LOCK_NAME, InstallLock
from installer.engine.plan import Plan, StepContext
from installer.engine.runner import RunResult, run_plan
from installer.errors import ExitCode
from installer.install_run import InstallOptions, make_context, make_redactor, masked_result

CHANGE_JOURNAL: Final = "change-journal.json"
"""The journal of a day-two change (the install's own journal is left as the install wrote it)."""


@dataclass
class Applied:
    """How a change went: the values diff shown, and the run (``None`` for a dry-run or no change)."""

    diff: str
    result: RunResult | None = None

    @property
    def exit_code(self) -> ExitCode:
        """The run's exit code; OK when nothing had to run."""
        return ExitCode.OK if self.result is None else self.result.exit_code


def hub_values_text(ctx: StepContext, profile: Profile) -> str:
    """The hub's values for ``profile`` as the install writes them, secrets masked."""
    register_secrets(ctx)
    for secret in profile.secrets():
        ctx.runner.redact.add(secret)
    token = check_token_for(ctx, profile.jupyterhub.namespace)
    values = values_for(profile, profile.bundle_dir(), check_token=token)
    return ctx.runner.redact(dump_values(values))


def values_diff(ctx: StepContext, before: Profile, after: Profile) -> str:
    """Unified diff of the hub's values, installed -> changed (empty when they are the same)."""
    old = hub_values_text(ctx, before).splitlines(keepends=True)
    new = hub_values_text(ctx, after).splitlines(keepends=True)
    return "".join(difflib.unified_diff(old, new, "jupyterhub-values (installed)", "jupyterhub-values (changed)"))


def hub_plan(ctx: StepContext, options: InstallOptions) -> Plan:
    """The install's hub steps for the changed profile: upgrade, then wait until the hub answers."""
    settings = ctx.profile.jupyterhub
    images = ContainerdTarget(options.containerd_socket, options.namespace)
    return Plan([JupyterHubStep(options.bundle(), settings, images=images), HubWaitStep(settings)])


def apply_profile(before: Profile, options: InstallOptions, sink: EventSink, *,
                  show_diff: Callable[[str], None], dry_run: bool = False) -> Applied:
    """Show the values diff of ``before`` -> ``options.profile``, then (unless ``dry_run``) apply it.

    The changed profile is recorded as pending before the hub is touched and becomes the
    installed one only when the upgrade finished; a change whose diff is empty still runs
    (the hub steps find it done) so a pending change left by an interruption completes.

    Raises:
        LockHeld: an install or another change runs now.
        InstallerError: the values cannot be made (the bundle lacks the hub's images).
    """
    after = options.profile
    redactor = make_redactor(after)
    for secret in before.secrets():
        redactor.add(secret)
    state_dir = options.state_dir
    ctx = make_context(options, sink, redactor=redactor)
    with run_bundle(ctx).active():
        diff = values_diff(ctx, before, after)
        show_diff(diff)
        if dry_run:
            return Applied(diff)
        with InstallLock(state_dir / LOCK_NAME, purpose="catalog change"):
            saved.start_change(state_dir, after)
            journal = Journal(state_dir / CHANGE_JOURNAL)
            if journal.entries:
                sink.emit(LogLine(level="info", message="resuming the interrupted change"))
            result = masked_result(run_plan(hub_plan(ctx, options), ctx, journal), redactor)
            if result.ok:
                saved.finish_change(state_dir)
                (state_dir / CHANGE_JOURNAL).unlink(missing_ok=True)
    return Applied(diff, result)


def change_options(profile: Profile, state_dir: Path, *, containerd_socket: Path, namespace: str) -> InstallOptions:
    """Install options for applying ``profile`` (a real run: the dry-run is the diff alone)."""
    return InstallOptions(profile=profile, state_dir=state_dir, containerd_socket=containerd_socket,
                          namespace=namespace)
