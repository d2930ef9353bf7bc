"""``./install.sh plan``: write what the install would apply and print its ordered commands.

A reviewer gets, in ``--out``, one file per enabled component (``jupyterhub-values.yaml``,
``gpu-operator-values.yaml``, ``rdma-shared-dev-plugin.yaml``) generated for this host
(or a copied host tree with ``--host-root``), and on stdout every step in order with
the commands it would run, the files it would write and what it would wait for.
Nothing on the host changes: the steps run against a dry-run runner, which still runs
read-only probes so steps already done on this host show as skipped.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from installer.bundle.source import BundleSource, run_bundle
from installer.components.plan import PlanOptions, build_plan
from installer.components.registry import enabled_components
from installer.config.profile import Profile
from installer.engine.commands import DryRunRunner, Redactor
from installer.engine.events import (
    CheckReported,
    CollectingSink,
    CommandRan,
    FileWritten,
    LogLine,
    StepFinished,
    StepStarted,
)
from installer.engine.files import DryRunFileWriter, FileWriter
from installer.engine.journal import Journal
from installer.engine.plan import Plan, StepContext
from installer.engine.runner import StepOutcome, run_plan
from installer.errors import ExitCode
from installer.verbs.common import (
    add_bundle_option,
    add_host_root_option,
    add_json_option,
    add_profile_option,
    emit_json,
    profile_from_args,
)

NAME = "plan"
HELP = "write the Helm values and manifests the install would apply, and print its ordered commands"
EXAMPLES = """\
./install.sh plan --profile profiles/cpu.yaml --out /tmp/plan
  ./install.sh plan --profile profiles/gpu-rdma.yaml --host-root /tmp/host-copy --out /tmp/plan
  ./install.sh plan --profile profiles/gpu.yaml --out /tmp/plan --json > plan.json"""

INSTALL_STATE_DIR: Final = Path("/var/lib/jupyterhub-offline-installer")
"""Where a real install keeps its generated files (shown in the plan's commands)."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options. Defaults are SUPPRESS so the same options given before ``plan`` still count."""
    add_profile_option(parser, help="profile YAML (default: built-in defaults)")
    add_host_root_option(parser, help="read /sys, /proc and /etc under DIR (a copy of the target host's)")
    add_bundle_option(parser, help="offline-images folder (default: the profile's)")
    parser.add_argument("--out", type=Path, metavar="DIR", required=True,
                        help="folder for the generated values and manifests (created; files are replaced)")
    add_json_option(parser)


@dataclass
class PlannedStep:
    """One step as the plan shows it."""

    id: str
    title: str
    status: str
    """``would run``, ``skipped`` (already done on this host) or ``would fail``."""
    reason: str = ""
    commands: list[list[str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"id": self.id, "title": self.title, "status": self.status, "reason": self.reason,
                "commands": self.commands, "files": self.files, "notes": self.notes}


def walk_plan(plan: Plan, ctx: StepContext, sink: CollectingSink) -> list[PlannedStep]:
    """Each step's dry-run, walked by the install's own runner, read back from the events per step.

    ``ctx`` is a dry-run, so (as in ``install --dry-run``) a step that would fail does not
    stop the walk: a reviewer sees the whole plan at once. A step already done on this
    host shows as skipped; no journal is read or written.
    """
    result = run_plan(plan, ctx, Journal(None))
    planned = {o.step_id: PlannedStep(o.step_id, o.title, _SHOWN[o.status], _reason(o)) for o in result.outcomes}
    current: PlannedStep | None = None
    for event in sink.events:
        if isinstance(event, StepStarted):
            current = planned[event.step_id]
        elif isinstance(event, StepFinished):
            current = None
        elif current is None:
            continue
        elif isinstance(event, CommandRan) and event.dry_run:
            current.commands.append(list(event.argv))
        elif isinstance(event, FileWritten):
            current.files.append(f"{event.path} (mode {event.mode:o})")
        elif isinstance(event, LogLine) and event.level != "debug":
            current.notes.append(f"{event.level}: {event.message}" if event.level != "info" else event.message)
        elif isinstance(event, CheckReported) and event.status == "warn":
            current.notes.append(f"warning: {event.title}: {event.found}" + (f" ({event.hint})" if event.hint else ""))
    return [planned[o.step_id] for o in result.outcomes]


_SHOWN: Final = {"ok": "would run", "skipped": "skipped", "failed": "would fail", "not_run": "not run"}


def _reason(outcome: StepOutcome) -> str:
    return outcome.reason + (f" ({outcome.hint})" if outcome.hint else "")


def write_component_files(profile: Profile, ctx: StepContext, out: Path, writer: FileWriter) -> list[Path]:
    """The values and manifests of every enabled component, for review (those holding secrets 0600)."""
    from installer.preflight.facts import host_facts

    facts = host_facts(ctx)
    return [writer.write(out / file.name, file.text, mode=file.mode)
            for component in enabled_components(profile) for file in component.review_files(profile, facts)]


def make_plan(profile: Profile, host_root: Path) -> tuple[list[PlannedStep], StepContext, CollectingSink]:
    """Dry-run every step of the profile's plan on this host (or ``host_root``)."""
    redactor = Redactor(profile.secrets())
    sink = CollectingSink()
    runner = DryRunRunner(sink, redactor)
    bundle = BundleSource(profile.bundle_dir())
    ctx = StepContext(runner=runner, files=DryRunFileWriter(sink, redactor), sink=sink, profile=profile,
                      state_dir=INSTALL_STATE_DIR, host_root=host_root,
                      skip_checks=frozenset(profile.preflight.skip_checks), bundle=bundle)
    options = PlanOptions(dry_run=True, host_root=host_root, bundle_dir=bundle.path, import_images=_can_import())
    with bundle.active():
        planned = walk_plan(build_plan(profile, options), ctx, sink)
    return planned, ctx, sink


def _can_import() -> bool:
    try:
        import installer.bundle.step  # noqa: F401 - only asking whether the import step exists
    except ImportError:
        return False
    return True


def render(profile: Profile, host_root: Path, planned: list[PlannedStep], written: list[Path]) -> str:
    """The plan for people."""
    source = str(profile.source) if profile.source else "built-in defaults"
    lines = [f"Install plan for {source} (bundle {profile.bundle_dir()}, host {host_root})", "",
             "Generated for review:"]
    lines += [f"  {path}" for path in written]
    lines.append("")
    for index, step in enumerate(planned, start=1):
        state = "" if step.status == "would run" else f"  [{step.status}: {step.reason}]"
        lines.append(f"{index:2d}. {step.id}: {step.title}{state}")
        for path in step.files:
            lines.append(f"      write {path}")
        for argv in step.commands:
            lines.append("      $ " + " ".join(argv))
        for note in step.notes:
            lines.append("      # " + note.replace("\n", "\n      #   "))
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> ExitCode:
    """Write the files, print the plan; exit 0 (a step that would fail is shown, not raised)."""
    profile = profile_from_args(args)
    host_root = Path(getattr(args, "host_root", None) or "/")
    planned, ctx, _ = make_plan(profile, host_root)
    writer = FileWriter(redactor=Redactor(profile.secrets()))
    with run_bundle(ctx).active():
        written = write_component_files(profile, ctx, Path(args.out), writer)
    if getattr(args, "json", False):
        emit_json({"profile": str(profile.source) if profile.source else None, "bundle": str(profile.bundle_dir()),
                   "host_root": str(host_root), "files": [str(p) for p in written],
                   "steps": [s.to_dict() for s in planned]})
    else:
        sys.stdout.write(render(profile, host_root, planned, written))
    return ExitCode.OK
