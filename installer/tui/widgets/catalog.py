"""The notebook image catalog as a table, and the dialog that edits one entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Static

from installer.errors import InstallerError
from installer.tui.widgets.fields import Field
from installer.wizard.model import CatalogEntry, default_display_name, parse_int, parse_limit


class CatalogTable(DataTable[Text]):
    """One row per notebook image: offered or not, name, image, limits, warnings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_offered", "On/off"),
        Binding("enter", "edit", "Edit image"),
        Binding("a", "add", "Add image"),
    ]

    class EditRequested(Message):
        """The operator wants to edit entry ``index``."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class AddRequested(Message):
        """The operator wants to add an image to the catalog."""

    def __init__(self, entries: list[CatalogEntry], **kwargs: object) -> None:
        # the ignore below: DataTable's keyword arguments, passed through
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.entries = entries
        """The model's catalog list, edited in place."""

    def on_mount(self) -> None:
        """Columns that fit 80 columns."""
        self.add_column("On", key="on", width=3)
        self.add_column("Name", key="name", width=20)
        self.add_column("Image", key="image", width=26)
        self.add_column("CPU", key="cpu", width=4)
        self.add_column("Mem", key="mem", width=5)
        self.add_column("GPU", key="gpu", width=3)
        self.add_column("!", key="warn", width=1)
        self.refresh_rows()

    def refresh_rows(self) -> None:
        """Redraw every row from ``entries``, keeping the cursor."""
        row = self.cursor_row
        self.clear()
        for index, entry in enumerate(self.entries):
            self.add_row(
                Text("✔" if entry.enabled else "✘", style="green" if entry.enabled else "red"),
                Text(entry.display_name), Text(entry.image, overflow="ellipsis", no_wrap=True),
                Text(f"{entry.cpu_limit:g}" if entry.cpu_limit else "-"), Text(entry.mem_limit or "-"),
                Text(str(entry.gpus)), Text("▲" if entry.warnings else "", style="yellow"),
                key=str(index),
            )
        if self.entries:
            self.move_cursor(row=min(max(row, 0), len(self.entries) - 1))

    def action_toggle_offered(self) -> None:
        """Offer or stop offering the image under the cursor."""
        if not self.entries:
            return
        entry = self.entries[self.cursor_row]
        entry.enabled = not entry.enabled
        self.refresh_rows()

    def action_edit(self) -> None:
        """Ask the screen to open the editor for the highlighted entry."""
        if self.entries:
            self.post_message(self.EditRequested(self.cursor_row))

    def action_add(self) -> None:
        """Ask the screen to open the editor for a new entry."""
        self.post_message(self.AddRequested())


class ImageEditScreen(ModalScreen[bool]):
    """Edit one catalog entry; dismisses True when saved.

    Args:
        entry: the entry to edit (a draft when adding).
        choices: for a new entry, the bundle's images the catalog lacks (the image
            field then appears, suggesting them).
        check_image: for a new entry, why an image cannot be offered (``None``: it can).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, entry: CatalogEntry, *, choices: list[str] | None = None,
                 check_image: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.entry = entry
        self.choices = choices
        self.check_image = check_image

    def compose(self) -> ComposeResult:
        """The entry's fields."""
        entry = self.entry
        with Vertical(id="dialog"):
            if self.choices is None:
                yield Static(f"[b]Notebook image[/b] {escape(entry.image)}")
            else:
                yield Static("[b]Add a notebook image[/b]")
                offered = ", ".join(self.choices[:3]) + (f" (+{len(self.choices) - 3} more)"
                                                         if len(self.choices) > 3 else "")
                yield Static(f"In the bundle, not yet offered: {escape(offered)}" if self.choices else
                             "No other image found in the bundle's manifest: type the reference of one it holds.",
                             classes="image-choices")
            for warning in entry.warnings:
                yield Static(f"[yellow]▲ {escape(warning)}[/]", classes="image-warning")
            with Grid(classes="form"):
                if self.choices is not None:
                    yield Label("Image")
                    yield Field(entry.image, placeholder="registry/name:tag", id="image", compact=True,
                                suggester=SuggestFromList(self.choices, case_sensitive=False))
                yield Label("Offered")
                yield Checkbox("offered to users", entry.enabled, id="enabled", compact=True)
                yield Label("Display name")
                yield Field(entry.display_name, id="display-name", compact=True)
                yield Label("CPU limit")
                yield Field(f"{entry.cpu_limit:g}" if entry.cpu_limit else "", placeholder="none", id="cpu",
                            compact=True)
                yield Label("Memory limit")
                yield Field(entry.mem_limit or "", placeholder="none, e.g. 8G", id="mem", compact=True)
                yield Label("GPUs")
                yield Field(str(entry.gpus), id="gpus", type="integer", compact=True)
            yield Static("", id="edit-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Save", id="save", variant="primary", compact=True)

    @on(Input.Changed, "#image")
    def _image_changed(self, event: Input.Changed) -> None:
        """Keep the default display name in step with the image until the operator names it."""
        name = self.query_one("#display-name", Input)
        if name.value == default_display_name(self.entry.image):
            name.value = default_display_name(event.value.strip())
        self.entry.image = event.value.strip()

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def _save(self) -> None:
        if self.choices is not None:
            image = self.query_one("#image", Input).value.strip()
            problem = "Give the image reference (registry/name:tag)." if not image else (
                self.check_image(image) if self.check_image else None)
            if problem:
                self.query_one("#edit-error", Static).update(f"[red]{escape(problem)}[/]")
                return
            self.entry.image = image
        try:
            cpu = parse_limit(self.query_one("#cpu", Input).value)
            gpus = parse_int(self.query_one("#gpus", Input).value or "0", "GPUs")
        except InstallerError as exc:
            self.query_one("#edit-error", Static).update(f"[red]{escape(exc.message)}[/]")
            return
        name = self.query_one("#display-name", Input).value.strip()
        if not name:
            self.query_one("#edit-error", Static).update("[red]The display name cannot be empty.[/]")
            return
        self.entry.enabled = self.query_one("#enabled", Checkbox).value
        self.entry.display_name = name
        self.entry.cpu_limit = cpu
        self.entry.mem_limit = self.query_one("#mem", Input).value.strip() or None
        self.entry.gpus = gpus
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without changing the entry."""
        self.dismiss(False)
