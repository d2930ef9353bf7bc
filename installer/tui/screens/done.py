"""Done: the hub's URL and how to log in, what was skipped or failed with hints, the files to keep."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from installer.wizard.backend import WizardSession, done_report, fix_step


class DoneScreen(Screen[None]):
    """The last screen; Quit ends the app with the install's exit code."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "show_log", "Back to the log"),
        Binding("b", "fix", "Change the answers"),
        Binding("q", "finish", "Quit"),
        Binding("enter", "finish", "Quit", show=False),
    ]

    def __init__(self, session: WizardSession) -> None:
        super().__init__()
        self.session = session

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """"Change the answers" only when an answer can fix the failure."""
        return action != "fix" or fix_step(self.session, self.session.failed_checks) is not None

    def compose(self) -> ComposeResult:
        """Headline, URL and login, problems, files."""
        report = done_report(self.session)
        yield Static(escape(report.headline), id="step-line", classes=f"-{report.status}")
        if self.session.is_demo:
            yield Static("DEMO · " + self.session.demo_notes[0], id="demo-banner")
        with VerticalScroll(id="body"):
            if report.url:
                yield Static(f"[b]Open[/b] {escape(report.url)}", id="hub-url", classes="panel")
            if report.login:
                yield Static("\n".join(escape(line) for line in report.login), id="login")
            if report.problems:
                failed = any(line.startswith("✘") for line in report.problems)
                yield Static("\n".join(escape(line) for line in report.problems), id="problems",
                             classes="panel -failed" if failed else "panel")
            if report.check:
                failed = any(" FAILED " in f" {line} " for line in report.check)
                yield Static("\n".join(escape(line) for line in report.check), id="check",
                             classes="panel -failed" if failed else "panel")
            yield Static("\n".join(escape(line) for line in report.files), id="files")
        with Horizontal(id="nav"):
            if fix_step(self.session, self.session.failed_checks):
                yield Button("Change the answers", id="fix", compact=True)
            yield Button("Back to the log", id="show-log", compact=True)
            yield Button("Quit", id="quit", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        """Quit is one key away."""
        self.query_one("#quit", Button).focus()

    @on(Button.Pressed, "#quit")
    def action_finish(self) -> None:
        """End the wizard with the install's exit code."""
        self.app.exit(self.app.exit_code_now())  # type: ignore[attr-defined]  # self.app is always InstallerApp here

    @on(Button.Pressed, "#fix")
    def action_fix(self) -> None:
        """Back to the screen whose answers can fix the failure (preflight, bundle check), answers kept."""
        from installer.tui.screens.base import WizardScreen

        step = fix_step(self.session, self.session.failed_checks)
        if step is None:
            return
        self.session.result, self.session.failed_checks = None, []
        if self.session.preflight is not None:
            self.session.preflight.answers = ""  # the host may have changed too: check again
        while len(self.app.screen_stack) > 2 and not (
                isinstance(self.app.screen, WizardScreen) and self.app.screen.step == step):
            self.app.pop_screen()

    @on(Button.Pressed, "#show-log")
    def action_show_log(self) -> None:
        """Look at the install log again (Continue comes back here)."""
        self.app.pop_screen()
