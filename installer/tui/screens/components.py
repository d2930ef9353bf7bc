"""Components: the optional parts, with the recommendation from the hardware and its reason."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import RadioButton, RadioSet, Static, Switch

from installer.tui.screens.base import WizardScreen
from installer.tui.widgets.toggles import OnOffSwitch
from installer.wizard.backend import SHARING_MODES, always_installed, component_choices, component_warnings
from installer.wizard.model import ComponentChoice


class ComponentsScreen(WizardScreen):
    """One switch per optional component; the hardware's recommendation under each."""

    step: ClassVar[str] = "components"

    def body(self) -> ComposeResult:
        """Fixed components, then a switch and the reason for each optional one."""
        model = self.session.model
        with VerticalScroll(id="body"):
            yield Static("[b]Always installed[/b]")
            for title, what in always_installed():
                yield Static(f"  ✔ {title}: {what}", classes="fixed-component")
            yield Static("[b]Optional[/b] (space or click toggles)")
            for choice in component_choices(self.session):
                enabled = model.enabled(choice.id) and choice.usable
                with Horizontal(classes="component-row"):
                    yield OnOffSwitch(value=enabled, id=f"switch-{choice.id}", disabled=not choice.usable)
                    with Vertical(classes="component-text"):
                        yield Static(f"[b]{escape(choice.title)}[/b]", classes="component-title")
                        yield Static(self._reason(choice), classes="component-reason")
            yield Static("[b]GPU sharing[/b] (gpu_sharing.mode; sliced sizes are set per catalog image)")
            mode = model.profile.gpu_sharing.mode
            with RadioSet(id="gpu-sharing"):
                for key, line in SHARING_MODES:
                    yield RadioButton(line, value=key == mode, id=f"sharing-{key}")

    @staticmethod
    def _reason(choice: ComponentChoice) -> str:
        if not choice.usable:
            return f"[yellow]Not available:[/] {escape(choice.reason)}"
        if choice.recommended:
            return f"[green]Recommended:[/] {escape(choice.reason)}"
        return f"[dim]Not recommended:[/] {escape(choice.reason)}"

    def on_mount(self) -> None:
        """Focus the first switch that can be changed."""
        for switch in self.query(Switch):
            if not switch.disabled:
                switch.focus()
                break
        else:
            self.query_one("#next").focus()

    @on(RadioSet.Changed, "#gpu-sharing")
    def _sharing(self, event: RadioSet.Changed) -> None:
        self.session.model.set_sharing((event.pressed.id or "").removeprefix("sharing-"))

    @on(Switch.Changed)
    def _switched(self, event: Switch.Changed) -> None:
        component = (event.switch.id or "").removeprefix("switch-")
        self.session.model.set_component(component, event.value)
        for warning in component_warnings(self.session, component):
            self.notify(warning, title="Not recommended", severity="warning", timeout=12, markup=False)
