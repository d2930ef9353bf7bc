"""Live install views: the step list, one line per image with bytes, rate and ETA.

Rates are computed from the events' own timestamps, not from the wall clock when
the UI happens to draw, so a burst of coalesced progress still gives the right
rate, and tests with fixed timestamps render the same screen every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Final

from rich.text import Text
from textual.widgets import Static

from installer.engine.events import StepProgress
from installer.engine.sizes import human_bytes

STEP_MARK: Final[dict[str, tuple[str, str]]] = {
    "pending": ("·", "dim"),
    "running": ("▶", "bold cyan"),
    "ok": ("✔", "green"),
    "skipped": ("↷", "blue"),
    "failed": ("✘", "bold red"),
    "not_run": ("·", "dim"),
}


@dataclass
class RateMeter:
    """Bytes per second over a sliding window of samples, and the time left."""

    window: float = 5.0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def add(self, ts: float, done: int) -> None:
        """Record ``done`` bytes at time ``ts``."""
        if self.samples and done < self.samples[-1][1]:
            self.samples.clear()  # a retry restarted the item
        self.samples.append((ts, done))
        while len(self.samples) > 2 and ts - self.samples[0][0] > self.window:
            self.samples.pop(0)

    def rate(self) -> float | None:
        """Bytes per second, or None until two samples are apart in time."""
        if len(self.samples) < 2:
            return None
        (t0, d0), (t1, d1) = self.samples[0], self.samples[-1]
        if t1 - t0 <= 0:
            return None
        return (d1 - d0) / (t1 - t0)

    def eta(self, total: int | None) -> float | None:
        """Seconds left, or None when unknown."""
        rate = self.rate()
        if not rate or total is None or not self.samples:
            return None
        return max(0.0, (total - self.samples[-1][1]) / rate)


def format_eta(seconds: float | None) -> str:
    """``75`` -> ``1m15s``."""
    if seconds is None:
        return "--"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def bar(fraction: float, width: int) -> str:
    """A text progress bar of ``width`` cells."""
    fraction = min(max(fraction, 0.0), 1.0)
    full = int(fraction * width)
    return "━" * full + ("╸" if full < width and fraction * width - full >= 0.5 else "") \
        + " " * (width - full - (1 if full < width and fraction * width - full >= 0.5 else 0))


def short_name(ref: str, width: int) -> str:
    """``quay.io/jupyter/scipy-notebook:2025-01-06`` -> ``scipy-notebook:2025-01-06``, cut to ``width``."""
    name = ref.rsplit("/", 1)[-1] or ref
    for suffix in (".tar.zst", ".tar.zstd", ".tar.gz", ".tgz", ".tar"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name if len(name) <= width else name[: width - 1] + "…"


def full_name(name: str, width: int) -> str:
    """``name`` as it is, cut with an ellipsis to ``width``."""
    return name if len(name) <= width else name[: width - 1] + "…"


def compact_rate(rate: float | None) -> str:
    """``73400320.0`` -> ``70 MiB/s`` (no decimals from 10 up: the number moves less)."""
    if not rate:
        return "--/s"
    shown = human_bytes(rate)
    number, _, unit = shown.partition(" ")
    if unit and float(number) >= 10:
        shown = f"{float(number):.0f} {unit}"
    return f"{shown}/s"


def amount(done: int, total: int | None) -> str:
    """``2.5/5.0 MiB``: both in the unit of the total."""
    if total is None:
        return human_bytes(done)
    unit_total = human_bytes(total)
    number, _, unit = unit_total.partition(" ")
    scale = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}.get(unit, 1)
    shown = f"{done / scale:.0f}" if unit == "B" else f"{done / scale:.1f}"
    return f"{shown}/{number} {unit}"


@dataclass
class ItemState:
    """One image (or other item) of a step."""

    name: str
    done: int = 0
    total: int | None = None
    unit: str = "bytes"
    status: str = "running"
    reason: str = ""
    meter: RateMeter = field(default_factory=RateMeter)
    label: str = ""
    """What people know it by (an archive's image refs); ``name`` when empty."""
    phase: str = ""
    """The progress message: ``verifying`` (the checksum, before the import), ``importing``, ``retrying``."""

    @property
    def shown_name(self) -> str:
        """The label, else the item's own name."""
        return self.label or self.name

    @property
    def waiting(self) -> bool:
        """Checked and queued for an import lane: nothing moves for it yet."""
        return self.phase == "verifying" and self.total is not None and self.done >= self.total


class ItemLines(Static):
    """One line per item of the running step: name, bar, bytes, rate, ETA, or how it ended."""

    DEFAULT_CSS: ClassVar[str] = "ItemLines { height: auto; }"
    MAX_LINES: ClassVar[int] = 8

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]  # Static's keyword arguments, passed through
        self.items: dict[str, ItemState] = {}

    def reset(self) -> None:
        """A new step: forget the items of the previous one."""
        self.items.clear()
        self.update("")

    def progress(self, event: StepProgress) -> None:
        """Apply one progress value (the newest for its item)."""
        if event.item is None:
            return
        item = self.items.setdefault(event.item, ItemState(event.item))
        if item.status != "running":
            return  # finished already; a late value must not move it back
        if event.message != item.phase:
            item.meter = RateMeter()  # verifying and importing run at different rates
        item.done, item.total, item.unit = event.done, event.total, event.unit
        item.label, item.phase = event.label or item.label, event.message
        item.meter.add(event.ts, event.done)

    def finished(self, name: str, status: str, reason: str, label: str = "") -> None:
        """An item ended."""
        item = self.items.setdefault(name, ItemState(name))
        item.status, item.reason = status, reason
        item.label = label or item.label
        if status == "ok" and item.total is not None:
            item.done = item.total

    def render_items(self, width: int = 60) -> Text:
        """Running items first, then the most recent finished ones; names shortened to fit ``width``."""
        text = Text()
        moving = [i for i in self.items.values() if i.status == "running" and not i.waiting]
        waiting = [i for i in self.items.values() if i.status == "running" and i.waiting]
        ended = [i for i in self.items.values() if i.status != "running"]
        shown = (moving + waiting + ended[::-1])[: self.MAX_LINES]
        hidden = len(self.items) - len(shown)
        name_width = max(10, width - 20)
        for item in shown:
            if item.status == "running" and item.waiting:
                column = min(name_width, 24)
                text.append(f"{short_name(item.shown_name, column):<{column}} ")
                text.append("· waiting", style="dim")
                text.append("\n")
                continue
            name = short_name(item.shown_name, name_width) if item.status != "running" else \
                full_name(item.shown_name, width - 1)
            if item.status == "running":
                # Two lines for a running item: its name in full, then bar, bytes, rate and ETA.
                text.append(name + "\n", style="bold")
                if item.phase == "verifying":
                    text.append("  verifying ", style="dim")
                fraction = item.done / item.total if item.total else 0.0
                text.append("  " + bar(fraction, 10), style="cyan")
                if item.unit == "bytes":
                    text.append(f" {amount(item.done, item.total)}")
                    text.append(f"  {compact_rate(item.meter.rate())}", style="dim")
                else:
                    text.append(f" {item.done}/{item.total if item.total is not None else '?'} {item.unit}")
                text.append(f"  ETA {format_eta(item.meter.eta(item.total))}", style="dim")
            else:
                column = min(name_width, 24)
                name = short_name(item.shown_name, column)
                text.append(f"{name:<{column}} ")
                mark, style = STEP_MARK.get(item.status, ("?", ""))
                text.append(f"{mark} {item.status}", style=style)
                room = width - column - len(item.status) - 4
                if item.reason and room > 3:
                    reason = item.reason if len(item.reason) <= room else item.reason[: room - 1] + "…"
                    text.append(f" {reason}", style="dim" if item.status != "failed" else "red")
            text.append("\n")
        text.no_wrap = True
        text.overflow = "ellipsis"
        if hidden:
            text.append(f"… and {hidden} more", style="dim")
        return text

    def redraw(self) -> None:
        """Re-render from the state (called once per batch of events)."""
        width = self.size.width or max(40, self.app.size.width - 30)
        self.update(self.render_items(width))


class StepList(Static):
    """The plan's steps with their status marks."""

    DEFAULT_CSS: ClassVar[str] = "StepList { height: auto; }"

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]  # Static's keyword arguments, passed through
        self.steps: dict[str, tuple[str, str]] = {}
        """step id -> (title, status)."""

    def set_plan(self, steps: tuple[tuple[str, str], ...]) -> None:
        """The steps in order, all pending."""
        self.steps = {step_id: (title, "pending") for step_id, title in steps}
        self.redraw()

    def set_status(self, step_id: str, status: str) -> None:
        """Mark one step."""
        title, _ = self.steps.get(step_id, (step_id, "pending"))
        self.steps[step_id] = (title, status)
        self.redraw()

    def counts(self) -> dict[str, int]:
        """How many steps are in each status."""
        counts: dict[str, int] = {}
        for _, status in self.steps.values():
            counts[status] = counts.get(status, 0) + 1
        return counts

    def redraw(self) -> None:
        """Re-render the list."""
        text = Text()
        room = max(8, (self.size.width or 26) - 3)
        for title, status in self.steps.values():
            mark, style = STEP_MARK.get(status, ("?", ""))
            shown = title if len(title) <= room else title[: room - 1] + "…"
            text.append(f"{mark} ", style=style)
            text.append(shown + "\n", style="bold" if status == "running" else ("dim" if status == "pending" else ""))
        self.update(text)
