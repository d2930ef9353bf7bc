"""Headless sinks: what a person sees in a terminal, and the JSON-lines stream.

The console sink draws one updating progress line per step on a terminal and
prints plain, append-only lines when stdout is not a terminal (CI logs, ``| tee``).
Command output is shown only when a command fails; the log file keeps it all.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Final

from installer.bundle.importer import WOULD_IMPORT
from installer.engine.events import (
    CheckReported,
    CommandRan,
    Event,
    FileWritten,
    ItemFinished,
    LogLine,
    PlanFinished,
    PlanStarted,
    StepFinished,
    StepProgress,
    StepStarted,
)
from installer.engine.printable import printable, shown
from installer.engine.sizes import human_bytes

_MARK: Final = {"ok": "ok", "skipped": "skip", "failed": "FAIL", "pass": "pass", "warn": "WARN", "fail": "FAIL"}
_REFRESH_SECONDS: Final = 0.2


def indent_block(text: str) -> str:
    """Continuation lines of a multi-line message indented past the first line's mark.

    ``      FAIL  preflight (...:\\n  snapd: ...)`` keeps ``snapd`` under the step's text,
    and a hint's second sentence stays inside its block instead of at column 0.
    """
    first, *rest = text.split("\n")
    if not rest:
        return text
    lead = len(first) - len(first.lstrip(" "))
    pad = " " * (lead + 6 if lead else 2)
    return "\n".join([first, *(pad + line if line.strip() else "" for line in rest)])


class JsonLinesSink:
    """One JSON object per event on ``stream`` (the ``--output jsonl`` format)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout

    def emit(self, event: Event) -> None:
        """Write the event as one line."""
        self.stream.write(json.dumps(event.to_dict(), default=str) + "\n")
        self.stream.flush()


class ConsoleSink:
    """Readable progress for a person; plain lines when not on a terminal."""

    def __init__(self, stream: IO[str] | None = None, *, verbose: bool = False, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.verbose = verbose
        self.dry_run = False
        self._last_draw = 0.0
        self._progress_open = False
        self._started: dict[str, float] = {}

    def _line(self, text: str) -> None:
        """Write ``text``; its continuation lines are indented under the first line's text (a failure block)."""
        if self._progress_open:
            self.stream.write("\r\033[K")
            self._progress_open = False
        self.stream.write(indent_block(printable(text)) + "\n")
        self.stream.flush()

    def emit(self, event: Event) -> None:
        """Render one event."""
        if isinstance(event, PlanStarted):
            self.dry_run = event.dry_run
            title = "Dry run: nothing on this host will change" if event.dry_run else "Installing"
            self._line(f"{title} ({len(event.steps)} steps)")
        elif isinstance(event, StepStarted):
            self._started[event.step_id] = time.monotonic()
            self._line(f"[{event.index}/{event.total}] {event.title}")
        elif isinstance(event, StepProgress):
            self._progress(event)
        elif isinstance(event, ItemFinished):
            if event.status == "failed" or self.verbose or not self.tty:
                reason = f": {event.reason}" if event.reason else ""
                mark = "plan" if self.dry_run and event.status == "skipped" and event.reason == WOULD_IMPORT \
                    else _MARK[event.status]
                self._line(f"      {mark:>4}  {shown(event.item)}{reason}")
        elif isinstance(event, StepFinished):
            reason = f" ({event.reason})" if event.reason else ""
            mark = "plan" if self.dry_run and event.status == "ok" else _MARK[event.status]
            self._line(f"      {mark:>4}  {event.step_id}{reason} [{event.duration:.1f}s]")
            if event.status == "failed" and event.hint:
                self._line(f"      hint: {event.hint}")
        elif isinstance(event, CommandRan):
            self._command(event)
        elif isinstance(event, FileWritten):
            verb = "would write" if event.dry_run else "wrote"
            self._line(f"      {verb} {event.path} (mode {event.mode:04o})")
            if event.dry_run:
                for text in event.content.rstrip("\n").splitlines():
                    self._line(f"        | {text}")
        elif isinstance(event, CheckReported):
            self._line(f"      {_MARK.get(event.status, event.status):>4}  {event.title}: {event.found}")
            if event.status in ("fail", "warn") and event.hint:
                self._line(f"            hint: {event.hint}")
        elif isinstance(event, LogLine):
            if event.level in ("warning", "error"):
                self._line(f"      {event.level}: {event.message}")
            elif event.level == "info" or self.verbose:
                self._line(f"      {event.message}")
        elif isinstance(event, PlanFinished):
            self._line(event.summary if self.dry_run else f"{event.status}: {event.summary}")

    def _command(self, event: CommandRan) -> None:
        shown = " ".join(event.argv)
        if event.dry_run:
            self._line(f"      $ {shown}")
        elif event.probe and event.returncode != 0:  # a read-only check answered no: not an error
            if self.verbose:
                answer = "timed out" if event.returncode is None else f"no (exit {event.returncode})"
                self._line(f"      ? {shown}  -> {answer}: a check, not an error")
        elif event.returncode != 0:
            self._line(f"      $ {shown}  -> {'timeout' if event.returncode is None else event.returncode}")
            for text in (event.stderr_tail or event.stdout_tail).splitlines()[-15:]:
                self._line(f"        | {text}")
        elif self.verbose:
            self._line(f"      $ {shown}")

    def _progress(self, event: StepProgress) -> None:
        if not self.tty:
            return  # plain logs get the per-item result lines instead of a flood of percentages
        now = time.monotonic()
        final = event.total is not None and event.done >= event.total
        if now - self._last_draw < _REFRESH_SECONDS and not final:
            return
        self._last_draw = now
        done, total = event.overall_done, event.overall_total
        if done is None:
            done, total = event.done, event.total
        if total:
            width = 30
            filled = int(width * min(done, total) / total)
            bar = "#" * filled + "-" * (width - filled)
            elapsed = now - self._started.get(event.step_id, now)
            rate = done / elapsed if elapsed > 0.5 else 0
            eta = f" eta {int((total - done) / rate)}s" if rate and event.unit == "bytes" else ""
            amount = (f"{human_bytes(done)}/{human_bytes(total)}" if event.unit == "bytes"
                      else f"{done}/{total} {event.unit}")
            speed = f" {human_bytes(rate)}/s" if rate and event.unit == "bytes" else ""
            what = f"{event.message} {event.label or event.item}" if event.item else event.message
            text = f"      [{bar}] {amount}{speed}{eta} {what}"
        else:
            text = f"      {event.message or event.item or ''} {done}"
        self.stream.write("\r\033[K" + shown(text[:200]))
        self.stream.flush()
        self._progress_open = True
