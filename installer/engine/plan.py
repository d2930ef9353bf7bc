"""Steps, the context they run in, and the plan: an ordered list of steps.

A step is idempotent. It answers :meth:`Step.is_done` by looking at the host
(image present with the same digest, addon enabled, release at the wanted
revision); ``None`` means "cannot tell from the host", and then the journal of a
previous run decides. :meth:`Step.run` does the work through ``ctx.runner`` and
``ctx.files`` only, which is what makes ``--dry-run`` complete and honest.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from installer.engine.commands import CommandRunner
from installer.engine.events import EventSink, LogLevel, LogLine, StepProgress
from installer.engine.files import FileWriter
from installer.errors import Interrupted

if TYPE_CHECKING:
    from installer.bundle.source import BundleSource
    from installer.config.profile import Profile
    from installer.preflight.report import PreflightReport
    from installer.probes.model import HostFacts


@dataclass(frozen=True)
class ImportedImages:
    """What the image import did, in archives and bytes (the bytes of the archives imported)."""

    imported: int = 0
    present: int = 0
    """Already in containerd with the same image ID: skipped."""
    failed: int = 0
    cancelled: bool = False
    bytes_imported: int = 0
    would_import: int = 0
    """A dry-run's archives that a real run would import (not present, not imported)."""
    bytes_to_import: int = 0

    def to_dict(self) -> dict[str, int | bool]:
        """The ``results.images`` object of the ``plan_finished`` JSON line."""
        return {"imported": self.imported, "present": self.present, "failed": self.failed,
                "cancelled": self.cancelled, "bytes_imported": self.bytes_imported,
                "would_import": self.would_import, "bytes_to_import": self.bytes_to_import}


@dataclass
class RunResults:
    """What the steps found out that the operator is shown at the end.

    Steps fill it in; the run result carries it back, so the Done screen, the headless
    summary and the ``plan_finished`` JSON line all say what the steps saw (the hub's
    URL as read from the cluster, not worked out again by the front end).
    """

    hub_url: str | None = None
    """Where users open the hub (``<node-ip>`` in a dry-run, where no node answers)."""
    images: ImportedImages | None = None
    """The image import's outcome; ``None`` when no import ran."""
    check: dict[str, Any] | None = None
    """The acceptance check's result document (``./install.sh check --json``'s); ``None`` when it did not run."""

    def to_dict(self) -> dict[str, Any]:
        """The ``results`` object of the ``plan_finished`` JSON line."""
        return {"hub_url": self.hub_url, "images": self.images.to_dict() if self.images is not None else None,
                "check": self.check}


@dataclass
class StepContext:
    """Everything a step may use. Steps touch the host only through ``runner`` and ``files``."""

    runner: CommandRunner
    files: FileWriter
    sink: EventSink
    profile: Profile
    state_dir: Path
    """Where the journal, lock and generated files live (root-only)."""
    cancel: threading.Event = field(default_factory=threading.Event)
    host_root: Path = Path("/")
    """The root of the host's ``/sys`` and ``/proc`` for probes; a copy in tests."""
    skip_checks: frozenset[str] = frozenset()
    bundle: BundleSource | None = None
    """The run's bundle: its folder and its manifest, read once (``None``: the profile's, made on first use
    by :func:`installer.bundle.source.run_bundle`)."""
    facts: HostFacts | None = None
    """The host as the preflight step found it (later steps read it; probed on demand when absent)."""
    preflight: PreflightReport | None = None
    """The preflight step's checks and suggestions, skips applied."""
    results: RunResults = field(default_factory=RunResults)
    """What the operator is shown at the end; the runner hands it back in the run result."""
    step_id: str | None = None

    @property
    def dry_run(self) -> bool:
        """True when nothing on the host may change."""
        return self.runner.dry_run

    def log(self, message: str, level: LogLevel = "info") -> None:
        """Emit a log line tied to the current step."""
        self.sink.emit(LogLine(level=level, message=message, step_id=self.step_id))

    def progress(self, done: int, total: int | None, *, item: str | None = None, unit: str = "bytes",
                 overall_done: int | None = None, overall_total: int | None = None, message: str = "") -> None:
        """Emit progress for the current step."""
        self.sink.emit(StepProgress(step_id=self.step_id or "", done=done, total=total, item=item, unit=unit,
                                    overall_done=overall_done, overall_total=overall_total, message=message))

    def check_cancelled(self) -> None:
        """Raise :class:`Interrupted` if the operator asked to stop."""
        if self.cancel.is_set():
            msg = "the install was cancelled"
            raise Interrupted(msg, "Run the same command again to resume; finished steps are skipped.")


class Step:
    """One idempotent unit of work. Subclasses set ``id`` and ``title`` and override :meth:`run`."""

    id: str = ""
    title: str = ""
    component: str = ""

    def fingerprint(self) -> str:
        """A digest of the step's inputs; a journal entry counts only for the same inputs."""
        return hashlib.sha256(json.dumps(self.inputs(), sort_keys=True, default=str).encode()).hexdigest()[:16]

    def inputs(self) -> Any:
        """What the step's result depends on (override when a step has parameters)."""
        return {"id": self.id}

    def is_done(self, ctx: StepContext) -> bool | None:
        """Whether the host already has what this step does; ``None`` if that cannot be told."""
        return None

    def run(self, ctx: StepContext) -> None:
        """Do the work. Raise an :class:`~installer.errors.InstallerError` on failure."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"


@dataclass
class Plan:
    """The ordered steps of one run."""

    steps: list[Step]

    def __post_init__(self) -> None:
        ids = [s.id for s in self.steps]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            msg = f"plan has duplicate step ids: {sorted(duplicates)}"
            raise ValueError(msg)

    def outline(self) -> tuple[tuple[str, str], ...]:
        """``(id, title)`` of each step, in order."""
        return tuple((s.id, s.title) for s in self.steps)
