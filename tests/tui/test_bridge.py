"""The bridge: progress coalesces to the newest value per item, other events keep their order."""

from __future__ import annotations

import threading

from textual.app import App, ComposeResult
from textual.widgets import Static

from installer.engine.events import ItemFinished, LogLine, StepProgress
from installer.tui.bridge import TextualSink
from installer.tui.messages import EngineEvent, ProgressTick


class Recorder(Static):
    """Records what the bridge delivers, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.sink = TextualSink(self)
        self.seen: list[object] = []
        self.ticks = 0

    def on_progress_tick(self, message: ProgressTick) -> None:
        self.ticks += 1
        self.seen.extend(self.sink.take_progress(message))

    def on_engine_event(self, message: EngineEvent) -> None:
        self.seen.extend(message.progress)
        self.seen.append(message.event)


class RecorderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Recorder()


def progress(item: str, done: int) -> StepProgress:
    return StepProgress(step_id="images", done=done, total=1000, item=item)


async def test_a_burst_of_progress_posts_one_tick_and_delivers_only_the_newest_values() -> None:
    """10,000 values for two items before the UI runs: one message, the last value of each item."""
    app = RecorderApp()
    async with app.run_test() as pilot:
        recorder = app.query_one(Recorder)
        for done in range(5000):  # the UI loop does not run while this loop does
            recorder.sink.emit(progress("a", done))
            recorder.sink.emit(progress("b", done))
        assert recorder.sink.posted == 1
        assert recorder.sink.emitted == 10000
        await pilot.pause()
        assert recorder.ticks == 1
        assert [(p.item, p.done) for p in recorder.seen] == [("a", 4999), ("b", 4999)]


async def test_events_carry_the_progress_that_came_before_them() -> None:
    """An item never shows as unfinished after its ItemFinished: waiting progress comes first."""
    app = RecorderApp()
    async with app.run_test() as pilot:
        recorder = app.query_one(Recorder)
        recorder.sink.emit(progress("a", 10))
        recorder.sink.emit(progress("a", 1000))
        recorder.sink.emit(ItemFinished(step_id="images", item="a", status="ok"))
        recorder.sink.emit(LogLine(level="info", message="next"))
        recorder.sink.emit(progress("b", 5))
        await pilot.pause()
        kinds = [(type(e).__name__, getattr(e, "done", None)) for e in recorder.seen]
        assert kinds == [("StepProgress", 1000), ("ItemFinished", None), ("LogLine", None), ("StepProgress", 5)]


async def test_emitting_from_a_worker_thread_delivers_everything_in_order() -> None:
    """Events from another thread (as the engine emits them) arrive complete and ordered."""
    app = RecorderApp()
    async with app.run_test() as pilot:
        recorder = app.query_one(Recorder)

        def engine() -> None:
            for index in range(200):
                recorder.sink.emit(progress("a", index))
                recorder.sink.emit(LogLine(level="info", message=str(index)))

        thread = threading.Thread(target=engine)
        thread.start()
        thread.join()
        await pilot.pause()
        logs = [int(e.message) for e in recorder.seen if isinstance(e, LogLine)]
        assert logs == list(range(200))
        last_progress = [e.done for e in recorder.seen if isinstance(e, StepProgress)]
        assert last_progress == sorted(last_progress)  # never goes backwards
