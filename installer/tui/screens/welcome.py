"""Welcome: what will happen, the bundle found, where the log goes."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from installer.tui.bridge import TextualSink
from installer.tui.messages import ProgressTick
from installer.tui.screens.base import WizardScreen
from installer.wizard.backend import BundleSummary, summarize_bundle, verify_summary

WHAT_HAPPENS = """\
This wizard installs JupyterHub on MicroK8s from the offline bundle:
  1. check this machine: disk, memory, GPUs, InfiniBand
  2. choose the optional components (GPU Operator, RDMA)
  3. configure JupyterHub and its notebook images
  4. review the plan, save it as a profile for the next server
  5. import the images and install, with live progress
Nothing on this host changes before you press Install on the Review screen.
Over SSH, run it inside tmux or screen: the install goes on if the connection
drops, and running ./install.sh again says how it ended."""


class WelcomeScreen(WizardScreen):
    """The first screen: a plain-language overview and the bundle that will be used."""

    step: ClassVar[str] = "welcome"
    next_label: ClassVar[str] = "Start"
    _summary: BundleSummary | None = None
    _sink: TextualSink | None = None

    def body(self) -> ComposeResult:
        """Overview, bundle and log file."""
        with VerticalScroll(id="body"):
            yield Static(WHAT_HAPPENS, id="what-happens")
            if self.session.previous_run:
                yield Static(f"Last install: {escape(self.session.previous_run)}", id="previous-run", classes="panel")
            yield Static("Looking at the bundle…", id="bundle", classes="panel")
            log = self.session.log_file
            yield Static(f"Log file: {log if log else 'none'}", id="log-path")
            for note in self.session.demo_notes[1:]:
                yield Static(f"• {note}", classes="demo-note")

    def on_mount(self) -> None:
        """Summarise the bundle off the UI thread (a big bundle takes a moment to list)."""
        self.query_one("#next").focus()
        self._sink = TextualSink(self)
        self._summarize()

    @work(thread=True, exclusive=True, exit_on_error=False, group="bundle")
    def _summarize(self) -> BundleSummary:
        summary = summarize_bundle(self.session.options.bundle())
        self.post_message(self.Summarized(summary))  # the size at once; checksums take longer
        return verify_summary(summary, self._sink, get_current_worker().cancelled_event)

    class Summarized(Message):
        """The bundle was listed; verification is starting."""

        def __init__(self, summary: BundleSummary) -> None:
            super().__init__()
            self.summary = summary

    def on_welcome_screen_summarized(self, message: Summarized) -> None:
        """Show size and components while the checksums are computed."""
        self._summary = message.summary
        self._show_bundle(message.summary, verifying=message.summary.has_manifest)

    def on_progress_tick(self, message: ProgressTick) -> None:
        """Verification moved on: show the percentage."""
        sink = self._sink
        values = sink.take_progress(message) if sink else []
        if values and values[-1].total and self._summary is not None:
            self._show_bundle(self._summary, verifying=True, fraction=values[-1].done / values[-1].total)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show the summary when the worker is done (or why it failed)."""
        if event.worker.group != "bundle":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, BundleSummary):
            self._show_bundle(event.worker.result)
        elif event.state == WorkerState.ERROR:
            self.query_one("#bundle", Static).update(f"Cannot read the bundle: {event.worker.error}")

    def _show_bundle(self, summary: BundleSummary, *, verifying: bool = False, fraction: float = 0.0) -> None:
        panel = self.query_one("#bundle", Static)
        panel.set_class(not summary.exists or summary.verified is False, "-failed")
        panel.set_class(summary.exists and not summary.has_manifest, "-warn")
        trust = f"verifying every file against the manifest… {fraction:.0%}" if verifying else summary.trust()
        text = f"[b]Bundle:[/b] {escape(str(summary.path))}\n{escape(summary.headline())}\n{escape(trust)}"
        if not summary.exists:
            text += "\nCopy the offline-images folder next to install.sh, or start with --bundle DIR."
        panel.update(text)
