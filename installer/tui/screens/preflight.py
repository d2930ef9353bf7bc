"""Preflight: the checks with pass/warn/fail, found/required and hint, and the hardware found.

Failed checks block Next; Re-run probes again after the operator fixed something.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widgets import Button, DataTable, Static
from textual.worker import Worker, WorkerState

from installer.engine.events import CheckReported
from installer.tui.bridge import TextualSink
from installer.tui.messages import EngineEvent, ProgressTick
from installer.tui.screens.base import WizardScreen
from installer.tui.widgets.checks import CheckTable
from installer.tui.widgets.hardware import HardwarePanel
from installer.wizard.backend import CHECK_STEPS, WizardPreflight, preflight_key, run_wizard_preflight


class PreflightScreen(WizardScreen):
    """Runs the checks in a worker and shows them as they arrive."""

    step: ClassVar[str] = "preflight"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+r", "rerun", "Re-run checks")]

    def body(self) -> ComposeResult:
        """Verdict, checks, hint, hardware."""
        with VerticalScroll(id="body"):
            yield Static("Checking this machine…", id="verdict")
            yield CheckTable(id="checks")
            yield Static("", id="hint")
            yield HardwarePanel("", id="hardware", classes="panel")

    def extra_buttons(self) -> ComposeResult:
        """Re-run beside Back/Next."""
        yield Button("Re-run", id="rerun", compact=True)

    def on_mount(self) -> None:
        """Start the checks at once."""
        self.action_rerun()

    def on_screen_resume(self) -> None:
        """Back on this screen: run the checks again when a choice they read changed meanwhile."""
        report = self.session.preflight
        if report is not None and report.answers != preflight_key(self.session.model):
            self.action_rerun()

    def action_rerun(self) -> None:
        """Probe and check again (after the operator fixed something)."""
        self.set_next_enabled(False)
        self.query_one("#rerun", Button).disabled = True
        self.query_one("#verdict", Static).update("Checking this machine…")
        self.query_one(CheckTable).show_all([])
        self._run_checks()

    @on(Button.Pressed, "#rerun")
    def _rerun_pressed(self) -> None:
        self.action_rerun()

    @work(thread=True, exclusive=True, exit_on_error=False, group="preflight")
    def _run_checks(self) -> WizardPreflight:
        options = self.session.options
        key = preflight_key(self.session.model)
        # Any error: the answers are validated later; the defaults are fine for probing.
        with contextlib.suppress(Exception):
            options = self.session.install_options()
        report = run_wizard_preflight(options, TextualSink(self))
        report.answers = key
        return report

    def on_engine_event(self, message: EngineEvent) -> None:
        """A check arrived from the worker: show it right away."""
        if isinstance(message.event, CheckReported):
            self.query_one(CheckTable).show_check(message.event)

    def on_progress_tick(self, message: ProgressTick) -> None:
        """Preflight has no progress bar; nothing to do."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show the whole report (or the crash) when the worker ends."""
        if event.worker.group != "preflight" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        self.query_one("#rerun", Button).disabled = False
        report: WizardPreflight | None
        if event.state == WorkerState.ERROR:
            report = WizardPreflight(error=f"preflight crashed: {event.worker.error!r} (see the log file)")
        else:
            report = event.worker.result
            assert isinstance(report, WizardPreflight)
        self.session.preflight = report
        if report.choices:
            self.session.model.apply_recommendations(report.choices)
        self._show(report)

    def _show(self, report: WizardPreflight) -> None:
        table = self.query_one(CheckTable)
        table.show_all(report.checks)
        self.query_one(HardwarePanel).show(report.facts)
        verdict = self.query_one("#verdict", Static)
        failed = report.failed
        warned = [c for c in report.checks if c.status == "warn"]
        if report.error:
            verdict.update(f"[b red]Preflight could not run:[/] {escape(report.error)}")
        elif report.blocking:
            verdict.update(f"[b red]{len(failed)} check(s) failed[/]: fix them and press Re-run "
                           "(or skip one with --skip-check ID).")
        elif failed:
            where = sorted({CHECK_STEPS[c.check_id] for c in failed}, key=["components", "jupyterhub"].index)
            verdict.update(f"[b red]{len(failed)} check(s) fail with the current choices[/]: change them on the "
                           f"{' and '.join(w.capitalize() for w in where)} screen (Next), or fix the host and Re-run.")
        else:
            verdict.update(f"[b green]Ready:[/] {len(report.checks)} checks, {len(warned)} warning(s).")
        verdict.set_class(bool(failed or report.error), "-failed")
        self.set_next_enabled(report.ok)
        if table.row_count:
            # Keep the verdict in view: scrolling to the table would hide it on a short terminal.
            table.focus(scroll_visible=False)
        self._show_hint(table.highlighted())

    @on(DataTable.RowHighlighted, "#checks")
    def _row_highlighted(self) -> None:
        self._show_hint(self.query_one(CheckTable).highlighted())

    def _show_hint(self, check: CheckReported | None) -> None:
        hint = self.query_one("#hint", Static)
        if check is None:
            hint.update("")
            return
        text = (f"[b]{escape(check.title)}[/b] ({escape(check.check_id)}): found {escape(check.found)}; "
                f"required {escape(check.required)}")
        if check.hint:
            text += f"\n[b]Hint:[/b] {escape(check.hint)}"
        hint.update(text)

    def can_leave(self) -> bool:
        """Next only when no check failed."""
        report = self.session.preflight
        if report is None:
            self.notify("The checks are still running.", severity="warning")
            return False
        if not report.ok:
            self.notify("A failed check blocks the install: fix it and press Re-run.", severity="error")
            return False
        return True
