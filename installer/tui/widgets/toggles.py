"""A switch and a checkbox that say "on"/"off" in words, not only in colour.

Colour-blind operators and monochrome consoles (a serial console, ``TERM=vt100``)
cannot tell Textual's on and off apart: both draw the same shape in two colours.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content
from textual.geometry import Size
from textual.widgets import Checkbox, Switch


class OnOffSwitch(Switch):
    """A :class:`Switch` whose slider is followed by ``on`` or ``off``."""

    def render(self) -> Text:
        """The knob at the left (off) or right (on), then the word."""
        style = self.get_component_rich_style("switch--slider")
        on = self.value
        return Text.assemble(("▬▬█" if on else "█▬▬", style), " on" if on else " off")

    def get_content_width(self, container: Size, viewport: Size) -> int:
        """Room for the knob and ``off``."""
        return 7


class OnOffCheckbox(Checkbox):
    """A :class:`Checkbox` whose box holds ``on`` or ``off``."""

    @property
    def _button(self) -> Content:
        """The box with the state spelled inside it."""
        self.BUTTON_INNER = "on " if self.value else "off"
        return super()._button
