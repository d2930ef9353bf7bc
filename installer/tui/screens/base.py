"""What every question screen shares: the step line, the demo banner, Back/Next and the footer."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from installer.wizard.backend import WizardSession

if TYPE_CHECKING:
    from installer.tui.app import InstallerApp

STEP_TITLES: Final[dict[str, str]] = {
    "welcome": "Welcome", "preflight": "Preflight checks", "components": "Components",
    "jupyterhub": "JupyterHub", "review": "Review and install",
}


class WizardScreen(Screen[None]):
    """A screen of the wizard before the install: subclasses set ``step`` and compose ``body()``."""

    step: ClassVar[str] = ""
    next_label: ClassVar[str] = "Next"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
    ]

    def __init__(self, session: WizardSession) -> None:
        super().__init__()
        self.session = session

    @property
    def wizard(self) -> InstallerApp:
        """The app, typed."""
        return self.app  # type: ignore[return-value]  # Textual types it App; screens run only in InstallerApp

    def compose(self) -> ComposeResult:
        """Header, step line, optional demo banner, the body, the nav bar, the footer."""
        from installer.tui.app import STEPS

        index = STEPS.index(self.step) + 1
        yield Static(f"{self.app.title} · Step {index} of {len(STEPS)}: {STEP_TITLES[self.step]}", id="step-line")
        if self.session.is_demo:
            yield Static("DEMO · " + self.session.demo_notes[0], id="demo-banner")
        yield from self.body()
        with Horizontal(id="nav"):
            yield Button("Back", id="back", disabled=self.step == "welcome", compact=True)
            yield from self.extra_buttons()
            yield Button(self.next_label, id="next", variant="primary", compact=True)
        yield Footer()

    def body(self) -> ComposeResult:
        """The screen's own content."""
        yield from ()

    def extra_buttons(self) -> ComposeResult:
        """Buttons between Back and Next."""
        yield from ()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    def action_back(self) -> None:
        """Go to the previous step."""
        if self.step != "welcome":
            self.wizard.go_back()

    def action_next(self) -> None:
        """Validate this step and go on."""
        if self.can_leave():
            self.wizard.go_next(self.step)

    def can_leave(self) -> bool:
        """Whether Next may proceed; subclasses validate and explain here."""
        return True

    def set_next_enabled(self, enabled: bool) -> None:
        """Enable or disable the Next button (failed checks, a running probe)."""
        self.query_one("#next", Button).disabled = not enabled
