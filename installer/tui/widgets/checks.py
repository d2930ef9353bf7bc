"""The preflight checks as a table, and the hint of the highlighted one beneath it."""

from __future__ import annotations

from typing import ClassVar, Final

from rich.text import Text
from textual.widgets import DataTable

from installer.engine.events import CheckReported

STATUS_MARK: Final[dict[str, tuple[str, str]]] = {
    "pass": ("✔ pass", "green"),
    "warn": ("▲ warn", "yellow"),
    "fail": ("✘ FAIL", "bold red"),
    "skipped": ("– skip", "dim"),
}
"""Status label and colour: a word as well as a colour, so it reads without colour too."""


class CheckTable(DataTable[Text]):
    """One row per check: status, title, found, required. Failed checks sort first."""

    DEFAULT_CSS: ClassVar[str] = """
    CheckTable { height: auto; max-height: 12; }
    """

    def __init__(self, **kwargs: object) -> None:
        # the ignore below: DataTable's keyword arguments, passed through
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self.checks: dict[str, CheckReported] = {}
        """The checks shown, by id."""
        self._laid_out_for = 0

    def on_mount(self) -> None:
        """Columns for the screen's width until the table knows its own."""
        self._add_columns(self.app.size.width - 2)

    def on_resize(self) -> None:
        """Title, found and required share the width the table is given."""
        width = self.scrollable_content_region.width or self.size.width
        if width and width != self._laid_out_for:
            shown = list(self.checks.values())
            self.clear(columns=True)
            self._add_columns(width)
            self.checks = {}
            for check in shown:
                self.show_check(check)

    def _add_columns(self, width: int) -> None:
        """Status 7; the rest (less two cells of padding per column) 3:4:4 to title, found, required."""
        self._laid_out_for = width
        spare = max(60, width - 7 - 8 - 1)
        title = max(24, spare * 3 // 11)
        found = (spare - title) // 2
        self.add_column("Status", key="status", width=7)
        self.add_column("Check", key="title", width=title)
        self.add_column("Found", key="found", width=found)
        self.add_column("Required", key="required", width=spare - title - found)

    def show_check(self, check: CheckReported) -> None:
        """Add or update one check's row."""
        label, style = STATUS_MARK.get(check.status, (check.status, ""))
        cells = (Text(label, style=style), Text(check.title), Text(check.found), Text(check.required))
        if check.check_id in self.checks:
            for key, cell in zip(("status", "title", "found", "required"), cells, strict=True):
                self.update_cell(check.check_id, key, cell)
        else:
            self.add_row(*cells, key=check.check_id)
        self.checks[check.check_id] = check

    def show_all(self, checks: list[CheckReported]) -> None:
        """Replace the table: failures, then warnings, then the rest."""
        self.clear()
        self.checks = {}
        order = {"fail": 0, "warn": 1, "pass": 2, "skipped": 3}
        for check in sorted(checks, key=lambda c: order.get(c.status, 4)):
            self.show_check(check)
        if checks:
            self.move_cursor(row=0)

    def highlighted(self) -> CheckReported | None:
        """The check under the cursor."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.checks.get(str(key))
