"""Messages that carry the engine's events into the Textual message queue.

The engine runs in a worker thread and speaks only :mod:`installer.engine.events`.
The bridge (:mod:`installer.tui.bridge`) wraps each event in one of these messages
and posts it to the screen that runs the worker. Progress is special: an image
import can report hundreds of times a second, so progress values wait in the
bridge's mailbox and a :class:`ProgressTick` only says "there is news"; ticks
replace each other in the queue (``can_replace``), so the UI handles at most one
batch of progress per turn of its loop however fast the engine reports.
"""

from __future__ import annotations

from textual.message import Message

from installer.engine.events import Event, StepProgress


class EngineEvent(Message):
    """One non-progress engine event (step started/finished, log line, check...).

    ``progress`` holds the progress values that were still waiting in the bridge
    when this event was emitted; handlers apply them first so an item never shows
    99 % after it finished.
    """

    def __init__(self, event: Event, progress: tuple[StepProgress, ...] = ()) -> None:
        super().__init__()
        self.event = event
        """The engine's event, unchanged."""
        self.progress = progress
        """Progress that happened before ``event``, oldest first."""


class ProgressTick(Message):
    """New progress waits in the bridge; the handler takes it with ``TextualSink.take_progress(tick)``.

    ``generation`` counts the non-progress events posted before this tick: a tick
    queued ahead of an event must not deliver progress that happened after it.
    """

    def __init__(self, generation: int) -> None:
        super().__init__()
        self.generation = generation

    def can_replace(self, message: Message) -> bool:
        """A queued tick is redundant once a newer one is queued: one drain takes everything."""
        return isinstance(message, ProgressTick)


class EngineDone(Message):
    """The worker finished; ``result`` is what the engine function returned, or ``error`` what it raised."""

    def __init__(self, result: object = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.result = result
        self.error = error
