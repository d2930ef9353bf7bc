"""Form inputs that follow the app's ``animated`` switch (no blinking cursor in snapshots)."""

from __future__ import annotations

from textual.widgets import Input


class Field(Input):
    """An :class:`Input` whose cursor stops blinking when the app is not animated."""

    def on_mount(self) -> None:
        """Read the app's switch once mounted."""
        if not getattr(self.app, "animated", True):
            self.cursor_blink = False
