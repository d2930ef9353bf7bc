"""Install: the overall bar, a line per image, the step list, a log that follows, and cancel.

The engine runs in a thread worker; this screen only receives its events. Cancel
asks first, then sets the :class:`threading.Event` the engine checks between and
inside steps; the journal lets the next run resume.
"""

from __future__ import annotations

import threading
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, ProgressBar, RichLog, Static
from textual.worker import Worker, WorkerState

from installer.engine.events import (
    CheckReported,
    CommandRan,
    Event,
    EventSink,
    FanOut,
    FileWritten,
    ItemFinished,
    LogLine,
    PlanFinished,
    PlanStarted,
    StepFinished,
    StepProgress,
    StepStarted,
)
from installer.engine.runner import RunResult
from installer.errors import InstallerError
from installer.tui.bridge import TextualSink
from installer.tui.messages import EngineEvent, ProgressTick
from installer.tui.widgets.confirm import ConfirmScreen
from installer.tui.widgets.progress import ItemLines, StepList
from installer.wizard.backend import WizardSession, install


class WrappingLog(RichLog):
    """The install log: long lines (commands, hints, paths) wrap at the width given instead of being cut off."""

    def __init__(self, *, id: str | None = None) -> None:  # Textual's name for it
        super().__init__(wrap=True, markup=False, highlight=False, auto_scroll=True, max_lines=5000, id=id)

    def write_line(self, line: str) -> None:
        """One line of plain text (never read as markup), wrapped at the log's width."""
        self.write(Text(line, overflow="fold"))


STEP_SCALE = 1000
"""Overall bar units per step, so a step's own progress moves the bar smoothly."""
BYTE_STEPS = frozenset({"import-images"})
"""Steps whose bytes are most of the install's time (gigabytes through ``ctr`` at 60-80 MB/s):
each takes as much of the overall bar as all the other steps together, so the bar moves with the bytes."""


def command_line(event: CommandRan) -> str:
    """One log line for a command; a probe's non-zero exit is an answer (``snap list core20``: not installed)."""
    shown = " ".join(event.argv)
    if event.dry_run:
        return f"$ (dry-run) {shown}"
    if event.returncode == 0:
        return f"$ {shown}"
    if event.probe:
        return f"? {shown}  → no (exit {event.returncode}: a check, not an error)"
    return f"$ {shown}  → {'timed out' if event.returncode is None else f'exit {event.returncode}'}"


class InstallScreen(Screen[None]):
    """Runs the install and shows it live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel install"),
        Binding("escape", "results", "Results"),
        Binding("q", "finish", "Quit"),
        Binding("ctrl+l", "focus_log", "Log", show=False),
    ]
    """While the engine works: Esc cancels. After the end (back from Done): Esc shows the results, q quits."""

    def __init__(self, session: WizardSession, *, start: bool = True) -> None:
        super().__init__()
        self.session = session
        self.start = start
        """False in tests that feed events by hand."""
        self.cancel_event = threading.Event()
        """Handed to the engine; set when the operator confirms Cancel."""
        self.sink: TextualSink | None = None
        self.total_steps = 0
        self.finished_steps = 0
        self.weights: dict[str, int] = {}
        """Overall bar units per step id (see :data:`BYTE_STEPS`)."""
        self.finished_ids: set[str] = set()
        self.current_step: str | None = None
        self.current_title = ""
        self.engine_sink: FanOut | None = None
        """Every sink of the running install (screen and log file)."""

    def compose(self) -> ComposeResult:
        """Header, status line, overall bar, steps | items, log, button, footer."""
        yield Static(f"{self.app.title} · Installing · starting…", id="step-line")
        if self.session.is_demo:
            yield Static("DEMO · " + self.session.demo_notes[0], id="demo-banner")
        yield ProgressBar(total=None, show_eta=False, id="overall")
        with Horizontal(id="live"):
            yield StepList(id="steps")
            with Vertical(id="current"):
                yield Static("", id="current-title")
                yield ItemLines(id="items")
        yield WrappingLog(id="log")
        with Horizontal(id="nav"):
            yield Button("Cancel", id="cancel", variant="error", compact=True)
            yield Button("Continue", id="continue", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        """Start the engine."""
        self.sink = TextualSink(self)
        if self.start:
            self.wizard_running(True)
            self._run()

    def wizard_running(self, running: bool) -> None:
        """Tell the app whether Quit must cancel first."""
        self.app.install_running = running  # type: ignore[attr-defined]  # self.app is always InstallerApp here

    @work(thread=True, exclusive=True, exit_on_error=False, group="install")
    def _run(self) -> RunResult:
        from installer.engine.logfile import LogFileSink
        from installer.install_run import make_redactor

        assert self.sink is not None
        options = self.session.install_options()
        sinks: list[EventSink] = [self.sink]
        log = None
        if self.session.log_file is not None:
            try:
                log = LogFileSink(self.session.log_file, make_redactor(options.profile))
                sinks.append(log)
            except InstallerError as exc:
                self.sink.emit(LogLine(level="warning", message=f"no log file: {exc.message}"))
        self.engine_sink = FanOut(*sinks)
        try:
            return install(options, self.engine_sink, self.cancel_event, log_file=self.session.log_file)
        finally:
            if log is not None:
                log.close()

    # --- events from the engine ------------------------------------------------------------

    def on_progress_tick(self, message: ProgressTick) -> None:
        """Take the newest progress values and redraw once."""
        if self.sink is None:
            return
        self._apply_progress(self.sink.take_progress(message))

    def on_engine_event(self, message: EngineEvent) -> None:
        """Apply the progress that came before, then the event."""
        if message.progress:
            self._apply_progress(list(message.progress))
        self.apply(message.event)

    def _apply_progress(self, values: list[StepProgress]) -> None:
        if not values:
            return
        items = self.query_one(ItemLines)
        fraction = None
        for value in values:
            items.progress(value)
            if value.step_id == self.current_step:
                if value.overall_total:
                    fraction = (value.overall_done or 0) / value.overall_total
                elif value.item is None and value.total:
                    fraction = value.done / value.total
                if value.message:
                    self.query_one("#current-title", Static).update(f"[b]{self.current_title}[/b] · {value.message}")
        items.redraw()
        if fraction is not None:
            self._overall(fraction)

    def _overall(self, step_fraction: float = 0.0) -> None:
        bar = self.query_one("#overall", ProgressBar)
        if self.total_steps:
            done = sum(self.weights.get(step, STEP_SCALE) for step in self.finished_ids)
            if self.current_step is not None and self.current_step not in self.finished_ids:
                done += int(min(max(step_fraction, 0.0), 1.0) * self.weights.get(self.current_step, STEP_SCALE))
            bar.update(total=sum(self.weights.values()) or self.total_steps * STEP_SCALE, progress=done)

    def apply(self, event: Event) -> None:
        """Show one engine event."""
        log = self.query_one(WrappingLog)
        if isinstance(event, PlanStarted):
            self.total_steps = len(event.steps)
            heavy = STEP_SCALE * max(1, len(event.steps) - 1)
            self.weights = {step_id: heavy if step_id in BYTE_STEPS else STEP_SCALE for step_id, _ in event.steps}
            self.query_one(StepList).set_plan(event.steps)
            self._overall()
            if event.dry_run:
                log.write_line("DRY-RUN: nothing on this host will change")
        elif isinstance(event, StepStarted):
            self.current_step, self.current_title = event.step_id, event.title
            self.query_one(StepList).set_status(event.step_id, "running")
            self.query_one("#step-line", Static).update(
                f"Installing · step {event.index} of {event.total}: {event.title}")
            self.query_one("#current-title", Static).update(f"[b]{event.title}[/b]")
            self.query_one(ItemLines).reset()
            log.write_line(f"── {event.title}")
        elif isinstance(event, StepFinished):
            self.query_one(StepList).set_status(event.step_id, event.status)
            self.finished_steps += 1
            self.finished_ids.add(event.step_id)
            self._overall()
            if event.status == "failed":
                log.write_line(f"✘ {event.reason}")
                if event.hint:
                    log.write_line(f"  hint: {event.hint}")
            elif event.status == "skipped":
                log.write_line(f"↷ skipped: {event.reason}")
        elif isinstance(event, ItemFinished):
            items = self.query_one(ItemLines)
            items.finished(event.item, event.status, event.reason, event.label)
            items.redraw()
            if event.status == "failed":
                log.write_line(f"✘ {event.item}: {event.reason}")
        elif isinstance(event, LogLine):
            if event.level != "debug":
                prefix = {"warning": "▲ ", "error": "✘ "}.get(event.level, "")
                for line in event.message.splitlines() or [""]:
                    log.write_line(prefix + line)
                    prefix = "  " if prefix else ""
        elif isinstance(event, CommandRan):
            log.write_line(command_line(event))
        elif isinstance(event, FileWritten):
            log.write_line(f"{'(dry-run) would write' if event.dry_run else 'wrote'} {event.path} ({event.mode:o})")
        elif isinstance(event, CheckReported):
            if event.status == "fail":
                self.session.failed_checks.append(event.check_id)
            if event.status in ("warn", "fail"):
                log.write_line(f"{'▲' if event.status == 'warn' else '✘'} {event.title}: {event.found}")
        elif isinstance(event, PlanFinished):
            log.write_line(f"── {event.summary}")

    # --- the end, and cancel ---------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Record the result and show the Done screen."""
        if event.worker.group != "install" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, RunResult):
            result = event.worker.result
        else:
            error = event.worker.error
            wrapped = error if isinstance(error, InstallerError) else InstallerError(
                f"the installer crashed: {error!r}", "This is a bug; the log file has the details.")
            result = RunResult("failed", wrapped.exit_code, [], wrapped)
        self.finish(result)

    def note_detached(self) -> None:
        """The terminal closed (in the signal handler): say so in the log, from a thread (the sinks lock)."""
        sink = self.engine_sink
        if sink is not None:
            note = LogLine(level="warning", message="the terminal closed: the install goes on without it; "
                                                    "run ./install.sh again to see how it ended")
            threading.Thread(target=sink.emit, args=(note,), daemon=True).start()

    def finish(self, result: RunResult) -> None:
        """The engine is done: keep the result, change Cancel into Continue, open Done."""
        self.session.result = result
        self.wizard_running(False)
        if getattr(self.app, "detached", False):  # nobody is there to read Done: end with the install's code
            self.app.exit(int(result.exit_code))
            return
        self.refresh_bindings()
        if result.ok:
            self._overall(1.0) if self.finished_steps < self.total_steps else self._overall()
        self.query_one("#cancel", Button).display = False
        self.query_one("#continue", Button).display = True
        self.query_one("#step-line", Static).update(
            {"ok": "Installed", "failed": "Install failed", "interrupted": "Install cancelled"}[result.status])
        self.app.show_done()  # type: ignore[attr-defined]  # self.app is always InstallerApp here

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel only while the install runs; Results and Quit only after it ended (the footer follows)."""
        ended = self.session.result is not None
        if action == "cancel":
            return not ended
        if action in ("results", "finish"):
            return ended
        return True

    def action_results(self) -> None:
        """Back to the Done screen."""
        self.app.show_done()  # type: ignore[attr-defined]  # self.app is always InstallerApp here

    def action_finish(self) -> None:
        """End the wizard with the install's exit code (as ``q`` on the Done screen)."""
        self.app.exit(self.app.exit_code_now())  # type: ignore[attr-defined]  # self.app is always InstallerApp here

    def action_cancel(self) -> None:
        """Ask, then tell the engine to stop at the next safe point."""
        if self.session.result is not None or self.cancel_event.is_set():
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.cancel_event.set()
                self.query_one("#step-line", Static).update(
                    "Cancelling… the current command finishes first")
                self.query_one(WrappingLog).write_line("▲ cancel requested: stopping at the next safe point")
                self.query_one("#cancel", Button).disabled = True

        self.app.push_screen(ConfirmScreen(
            "Stop the install?\n\nWhat is finished stays done (the journal records it); running the "
            "installer again resumes from there.", yes="Stop install", no="Keep going"), answered)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#continue")
    def _continue_pressed(self) -> None:
        self.app.show_done()  # type: ignore[attr-defined]  # self.app is always InstallerApp here

    def action_focus_log(self) -> None:
        """Move the focus to the log to scroll it."""
        self.query_one(WrappingLog).focus()
