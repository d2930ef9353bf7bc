"""``upgrade --bundle NEW``: from what is installed to what a new bundle brings, in install order.

The plan is the install's own (without preflight: the host already runs the hub), built for the
installed profile moved to the new bundle's chart versions, so every step that is already right
is skipped and each release whose chart or values changed is upgraded, in registry order. Around
it: the new bundle's files are verified first; images nothing needs any more are unpinned last
(``--prune``); what is installed is recorded at the end. Until then ``upgrade.json`` in the state
folder names the bundle, so ``upgrade`` alone resumes an interrupted upgrade.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from installer.bundle.manifest import MANIFEST_NAME, Manifest, parse_manifest
from installer.components.plan import PlanOptions, build_plan
from installer.config.profile import Profile
from installer.engine.events import EventSink
from installer.engine.files import atomic_write
from installer.engine.plan import Plan, Step, StepContext
from installer.engine.runner import RunResult
from installer.errors import BundleError, UsageError
from installer.install_run import InstallOptions
from installer.lifecycle.changes import Changes, compare, retarget
from installer.lifecycle.installed import Installed
from installer.lifecycle.session import run_change
from installer.lifecycle.steps import RecordInstalledStep, UnpinImagesStep, VerifyBundleStep

JOURNAL: Final = "upgrade-journal.json"
PENDING: Final = "upgrade.json"
"""Names the bundle of an upgrade that has not ended well yet."""


@dataclass(frozen=True)
class Upgrade:
    """One upgrade worked out: from the installed record to the new bundle."""

    installed: Installed
    bundle: Path
    manifest: Manifest
    manifest_text: bytes
    profile: Profile
    """The installed profile, moved to the new bundle and its chart versions."""
    changes: Changes


def pending_bundle(state_dir: Path) -> Path | None:
    """The bundle of an upgrade that was interrupted, or ``None``."""
    try:
        data = json.loads((state_dir / PENDING).read_text(encoding="utf-8"))
        return Path(str(data["bundle"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prepare(installed: Installed, bundle: Path) -> Upgrade:
    """Read the new bundle's manifest and work out what changes.

    Raises:
        UsageError: the bundle folder does not exist.
        BundleError: it has no manifest (an upgrade compares manifests), or one that is bad.
    """
    if not bundle.is_dir():
        msg = f"bundle folder {bundle} does not exist"
        raise UsageError(msg, "Give the new offline-images folder with --bundle DIR.")
    path = bundle / MANIFEST_NAME
    if not path.is_file():
        msg = f"the new bundle {bundle} has no {MANIFEST_NAME}: an upgrade compares it with the installed one"
        raise BundleError(msg, f"Write one with `./install.sh bundle lock --bundle {bundle}` (or export the "
                               "bundle again), then run the upgrade.")
    text = path.read_bytes()
    manifest = parse_manifest(text.decode("utf-8", errors="replace"), path)
    profile, charts = retarget(installed.profile.with_bundle(bundle), manifest)
    changes = compare(installed.profile, installed.manifest, profile, manifest, charts)
    return Upgrade(installed, bundle, manifest, text, profile, changes)


def upgrade_plan(upgrade: Upgrade, options: InstallOptions, *, prune: bool) -> Plan:
    """Verify, the install's steps for the moved profile (no preflight), unpin with ``prune``, record."""
    plan_options = PlanOptions(dry_run=options.dry_run, host_root=options.host_root, bundle_dir=upgrade.bundle,
                               containerd_socket=options.containerd_socket, namespace=options.namespace,
                               jobs=options.jobs, preflight=False)
    steps: list[Step] = [VerifyBundleStep(upgrade.bundle, upgrade.manifest, upgrade.manifest_text, options.jobs)]
    install = build_plan(upgrade.profile, plan_options).steps
    check = [step for step in install if step.id == "check"]
    steps += [step for step in install if step.id != "check"]
    if prune and upgrade.changes.unneeded:
        steps.append(UnpinImagesStep(upgrade.changes.unneeded, options.containerd_socket, options.namespace))
    # Recorded before the check: the releases run the new charts whatever the check finds, and a later
    # catalog change must start from them (an older record would downgrade the hub).
    steps.append(RecordInstalledStep(upgrade.profile, upgrade.bundle))
    return Plan(steps + check if options.check else steps)


def run_upgrade(upgrade: Upgrade, options: InstallOptions, sink: EventSink, *, prune: bool,
                cancel: threading.Event | None = None) -> RunResult:
    """Run the upgrade (``options.profile`` must be ``upgrade.profile``); interrupted, it resumes on the next run."""
    if not options.dry_run:
        atomic_write(options.state_dir / PENDING,
                     (json.dumps({"bundle": str(upgrade.bundle), "prune": prune}) + "\n").encode(), 0o600)

    def build(ctx: StepContext) -> Plan:
        return upgrade_plan(upgrade, options, prune=prune)

    def done(state_dir: Path) -> None:
        (state_dir / PENDING).unlink(missing_ok=True)

    return run_change(options, sink, build, journal_name=JOURNAL, purpose="upgrade", cancel=cancel, on_done=done)
