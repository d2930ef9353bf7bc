"""The one event vocabulary every front end listens to.

The engine never prints. It emits these frozen dataclasses to an :class:`EventSink`;
the headless console, the JSON-lines output, the log file and the Textual wizard are
all sinks of the same stream. ``Event.to_dict()`` is the documented JSON-lines
format (``--output jsonl``): one object per line with an ``event`` field naming the
type, a ``ts`` UNIX timestamp, and the fields below.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, Protocol

_LOGGER: Final = logging.getLogger(__name__)

StepStatus = Literal["ok", "skipped", "failed"]
CheckStatus = Literal["pass", "warn", "fail", "skipped"]
LogLevel = Literal["debug", "info", "warning", "error"]


@dataclass(frozen=True)
class Event:
    """Base of all events; ``name`` is the ``event`` field in JSON lines."""

    name: ClassVar[str] = "event"
    ts: float = field(default_factory=time.time, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-lines form: ``{"event": name, "ts": ..., **fields}``."""
        data = dataclasses.asdict(self)
        return {"event": self.name, **data}


@dataclass(frozen=True)
class PlanStarted(Event):
    """A plan begins; ``steps`` lists ``(id, title)`` in order."""

    name: ClassVar[str] = "plan_started"
    steps: tuple[tuple[str, str], ...]
    dry_run: bool = False


@dataclass(frozen=True)
class StepStarted(Event):
    """A step begins (``index`` counts from 1)."""

    name: ClassVar[str] = "step_started"
    step_id: str
    title: str
    index: int
    total: int


@dataclass(frozen=True)
class StepProgress(Event):
    """Progress inside a step.

    ``item`` names what moves (an image file) when a step has several; ``done`` and
    ``total`` are bytes unless ``unit`` says otherwise. ``overall_done`` and
    ``overall_total`` cover the whole step, so a front end can show both bars.
    """

    name: ClassVar[str] = "step_progress"
    step_id: str
    done: int
    total: int | None
    item: str | None = None
    unit: str = "bytes"
    overall_done: int | None = None
    overall_total: int | None = None
    message: str = ""
    label: str = ""
    """What the item is, for people (an archive's image refs); ``item`` stays the stable key."""


@dataclass(frozen=True)
class ItemFinished(Event):
    """One item of a step (an image) ended; a failed item does not fail the step by itself."""

    name: ClassVar[str] = "item_finished"
    step_id: str
    item: str
    status: StepStatus
    reason: str = ""
    label: str = ""
    """What the item is, for people (an archive's image refs)."""


@dataclass(frozen=True)
class StepFinished(Event):
    """A step ended: ``ok``, ``skipped`` (already done) or ``failed`` with a reason and hint."""

    name: ClassVar[str] = "step_finished"
    step_id: str
    status: StepStatus
    reason: str = ""
    hint: str = ""
    duration: float = 0.0


@dataclass(frozen=True)
class PlanFinished(Event):
    """The plan ended; ``status`` is ``ok``, ``failed`` or ``interrupted``."""

    name: ClassVar[str] = "plan_finished"
    status: Literal["ok", "failed", "interrupted"]
    summary: str = ""
    exit_code: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    """What the steps found out: ``hub_url`` and ``images`` (see :class:`~installer.engine.plan.RunResults`)."""


@dataclass(frozen=True)
class LogLine(Event):
    """A human-readable message, optionally tied to a step."""

    name: ClassVar[str] = "log"
    level: LogLevel
    message: str
    step_id: str | None = None


@dataclass(frozen=True)
class CommandRan(Event):
    """An external command ran (or, in dry-run, would run).

    ``argv`` is already redacted. Output is kept for the log file; sinks that show
    a person only what matters print it on failure.
    """

    name: ClassVar[str] = "command"
    argv: tuple[str, ...]
    returncode: int | None
    duration: float
    stdout_tail: str = ""
    stderr_tail: str = ""
    dry_run: bool = False
    step_id: str | None = None
    probe: bool = False
    """A read-only look at the host (``mutates=False``): a non-zero exit is an answer, not a failure."""


@dataclass(frozen=True)
class FileWritten(Event):
    """A file was (or, in dry-run, would be) written. ``content`` is redacted."""

    name: ClassVar[str] = "file"
    path: str
    mode: int
    content: str
    dry_run: bool = False
    step_id: str | None = None


@dataclass(frozen=True)
class CheckReported(Event):
    """A preflight check result."""

    name: ClassVar[str] = "check"
    check_id: str
    title: str
    status: CheckStatus
    found: str
    required: str
    hint: str = ""


class EventSink(Protocol):
    """Anything that receives events. Must be safe to call from a worker thread."""

    def emit(self, event: Event) -> None:
        """Receive one event."""


class FanOut:
    """Sends each event to several sinks; one sink failing does not silence the others."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = list(sinks)
        self._lock = threading.Lock()

    def add(self, sink: EventSink) -> None:
        """Attach one more sink."""
        self.sinks.append(sink)

    def emit(self, event: Event) -> None:
        """Forward ``event`` to every sink, serialised so lines never interleave.

        A sink that raises (stdout piped into ``head`` that quit) is switched off and
        the others are told, so the install and its log go on instead of stopping half-way.
        """
        with self._lock:
            failed = []
            for sink in list(self.sinks):
                try:
                    sink.emit(event)
                except Exception as exc:  # noqa: BLE001 - any sink error: drop that sink, keep the rest
                    failed.append((sink, exc))
            for sink, error in failed:
                self.sinks.remove(sink)
                _LOGGER.warning("output %s failed and is switched off: %r", type(sink).__name__, error)
                notice = LogLine(level="warning", message=f"an output failed and was switched off "
                                                          f"({type(sink).__name__}: {error!r}); the others go on")
                for other in self.sinks:
                    with contextlib.suppress(Exception):
                        other.emit(notice)


class CollectingSink:
    """Keeps every event in memory: for tests and for building summaries."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        """Store the event."""
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        """The events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]


class NullSink:
    """Drops everything."""

    def emit(self, event: Event) -> None:
        """Ignore the event."""
