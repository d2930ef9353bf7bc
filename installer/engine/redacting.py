"""A sink wrapper that masks secrets in every string an event carries, whatever its type.

The runner and the file writer already redact what they emit; this is the second
fence in front of what leaves the process (the screen, ``--output jsonl``), so a
step that logs a message built from a profile value cannot leak a password.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from installer.engine.commands import Redactor
from installer.engine.events import Event, EventSink


def _masked(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, tuple):
        items = tuple(_masked(item, redact) for item in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, list):
        return [_masked(item, redact) for item in value]
    if isinstance(value, dict):
        return {key: _masked(item, redact) for key, item in value.items()}
    return value


def redact_event(event: Event, redact: Redactor) -> Event:
    """``event`` with every secret in its string fields (nested in tuples too) replaced by ``***``."""
    changes = {}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        masked = _masked(value, redact)
        if masked != value:
            changes[field.name] = masked
    return dataclasses.replace(event, **changes) if changes else event


class RedactingSink:
    """Forwards events to ``sink`` with secrets masked."""

    def __init__(self, sink: EventSink, redactor: Redactor) -> None:
        self.sink = sink
        self.redact = redactor

    def emit(self, event: Event) -> None:
        """Mask, then forward."""
        self.sink.emit(redact_event(event, self.redact))
