"""Welcome: what will happen, the bundle found, where the log goes."""

from __future__ import annotations

from typing import ClassVar, Final

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from installer.tui.bridge import TextualSink
from installer.tui.messages import ProgressTick
from installer.tui.screens.base import STEP_TITLES, WizardScreen
from installer.wizard.backend import BundleSummary, summarize_bundle, trust_file, verify_summary

STEP_WHAT: Final[dict[str, str]] = {
    "welcome": "this overview and the bundle found",
    "preflight": "disk, memory, GPUs and InfiniBand of this machine",
    "components": "the optional ones (GPU Operator, RDMA)",
    "jupyterhub": "who logs in, and the notebook images",
    "review": "the plan, saved as a profile for the next server;\n"
              "     Install then imports the images and installs, with live progress",
}
"""What each step does, beside the title the header shows for it."""


def what_happens() -> str:
    """The steps numbered as the header numbers them ("Step 2 of 5: Preflight checks")."""
    from installer.tui.app import STEPS

    lines = ["This wizard installs JupyterHub on MicroK8s from the offline bundle:"]
    lines += [f"  {index}. {STEP_TITLES[step]}: {STEP_WHAT[step]}" for index, step in enumerate(STEPS, start=1)]
    lines.append("Nothing on this host changes before you press Install on the Review screen.")
    lines.append("Over SSH, run it inside tmux or screen: the install goes on if the connection\n"
                 "drops, and running ./install.sh again says how it ended.")
    return "\n".join(lines)


class WelcomeScreen(WizardScreen):
    """The first screen: a plain-language overview and the bundle that will be used."""

    step: ClassVar[str] = "welcome"
    next_label: ClassVar[str] = "Start"
    _summary: BundleSummary | None = None
    _sink: TextualSink | None = None

    def body(self) -> ComposeResult:
        """Overview, bundle and log file."""
        with VerticalScroll(id="body"):
            yield Static(escape(what_happens()), id="what-happens")
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
        summary = summarize_bundle(self.session.options.bundle(), trust_file(self.session.options))
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
        if summary.signature is not None:
            text += f"\n{escape(summary.signature)}"
        if not summary.exists:
            text += "\nCopy the offline-images folder next to install.sh, or start with --bundle DIR."
        panel.update(text)
