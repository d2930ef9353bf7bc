"""The event sink the engine's worker thread writes to: it only posts messages.

Widgets are never touched from the worker thread; :meth:`TextualSink.emit` runs in
that thread and does nothing but store progress in a small mailbox and call
``post_message`` (thread-safe in Textual). Progress coalesces: only the newest value
per ``(step, item)`` is kept until the UI takes it, so a fast import cannot flood the
message queue and a key press is handled at once.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from textual.message_pump import MessagePump

from installer.engine.events import Event, StepProgress
from installer.tui.messages import EngineEvent, ProgressTick

_LOGGER: Final = logging.getLogger(__name__)

ProgressKey = tuple[str, "str | None"]


class TextualSink:
    """An :class:`~installer.engine.events.EventSink` that forwards events to ``target``.

    Args:
        target: the screen (or app) whose handlers show the events.
    """

    def __init__(self, target: MessagePump) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._pending: dict[ProgressKey, StepProgress] = {}
        self._tick_queued = False
        self._generation = 0
        self.posted = 0
        """Messages posted so far (the benchmark compares it with the events emitted)."""
        self.emitted = 0
        """Events received from the engine."""

    def emit(self, event: Event) -> None:
        """Receive one event in the engine's thread and post it to the UI."""
        with self._lock:
            self.emitted += 1
            if isinstance(event, StepProgress):
                self._pending[(event.step_id, event.item)] = event
                if self._tick_queued:
                    return
                self._tick_queued = True
                message: EngineEvent | ProgressTick = ProgressTick(self._generation)
            else:
                earlier = tuple(self._pending.values())
                self._pending.clear()
                message = EngineEvent(event, earlier)
                # Ticks already queued are now stale; progress after this event needs a new one.
                self._generation += 1
                self._tick_queued = False
            self.posted += 1
            # Posted under the lock so events from parallel import lanes keep their order.
            self.target.post_message(message)

    def take_progress(self, tick: ProgressTick | None = None) -> list[StepProgress]:
        """The newest progress per item since the last call (UI thread); re-arms the tick.

        A stale ``tick`` (queued before a later event) takes nothing: that progress
        belongs after the event and its own tick follows it in the queue.
        """
        with self._lock:
            if tick is not None and tick.generation != self._generation:
                return []
            values = list(self._pending.values())
            self._pending.clear()
            self._tick_queued = False
        return values
