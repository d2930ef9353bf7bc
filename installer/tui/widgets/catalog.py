"""The notebook image catalog as a table, and the dialog that edits one entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

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

from installer.components.jupyterhub.settings import NotebookImage
from installer.tui.widgets.fields import Field
from installer.tui.widgets.toggles import OnOffCheckbox
from installer.wizard.model import (
    IMAGE_CPU,
    IMAGE_DISPLAY_NAME,
    IMAGE_ENABLED,
    IMAGE_GPUS,
    IMAGE_IMAGE,
    IMAGE_MEM,
    Answer,
    AnswerError,
    default_display_name,
    edit_image,
)


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

    FIXED_COLUMNS: ClassVar[tuple[tuple[str, str, int], ...]] = (
        ("on", "On", 3), ("cpu", "CPU", 4), ("mem", "Mem", 5), ("gpu", "GPU", 3), ("warn", "!", 1))
    """Columns of a fixed width; Name and Image share the rest."""
    SHARING_COLUMNS: ClassVar[tuple[tuple[str, str, int], ...]] = (("gmem", "GPU mem", 7), ("gcores", "GPU %", 5))
    """A sliced entry's GPU memory and cores, shown after GPU only while GPU sharing is on."""
    _laid_out_for = 0

    def __init__(self, entries: list[NotebookImage], warnings: Mapping[str, list[str]] | None = None,
                 *, sharing: bool = False, **kwargs: object) -> None:
        # the ignore below: DataTable's keyword arguments, passed through
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.entries = entries
        """The profile's catalog list, edited in place."""
        self.warnings: Mapping[str, list[str]] = warnings if warnings is not None else {}
        """Image ref -> the image checks' warnings (a ▲ in the last column)."""
        self.sharing = sharing
        """GPU sharing is on: show the memory and cores columns."""

    def on_mount(self) -> None:
        """Columns for the screen's width until the table knows its own."""
        self._add_columns(self.app.size.width - 4)
        self.refresh_rows()

    def on_resize(self) -> None:
        """Name and image share the width the table is given (no ``k8s-si…`` beside empty columns)."""
        width = self.scrollable_content_region.width or self.size.width
        if width and width != self._laid_out_for:
            self.clear(columns=True)
            self._add_columns(width)
            self.refresh_rows()

    def _fixed_columns(self) -> tuple[tuple[str, str, int], ...]:
        if not self.sharing:
            return self.FIXED_COLUMNS
        return (*self.FIXED_COLUMNS[:-1], *self.SHARING_COLUMNS, self.FIXED_COLUMNS[-1])

    def _add_columns(self, width: int) -> None:
        self._laid_out_for = width
        fixed_columns = self._fixed_columns()
        fixed = sum(w for _, _, w in fixed_columns) + 2 * (len(fixed_columns) + 2)  # cell padding
        spare = max(36, width - fixed - 1)
        name = max(14, spare * 2 // 5)
        columns = [*fixed_columns[:1], ("name", "Name", name), ("image", "Image", spare - name),
                   *fixed_columns[1:]]
        for key, label, column_width in columns:
            self.add_column(label, key=key, width=column_width)

    def refresh_rows(self) -> None:
        """Redraw every row from ``entries``, keeping the cursor."""
        row = self.cursor_row
        self.clear()
        for index, entry in enumerate(self.entries):
            slices = [Text(str(entry.gpu_memory) if entry.gpu_memory is not None else "-"),
                      Text(f"{entry.gpu_cores}%" if entry.gpu_cores is not None else "-")] if self.sharing else []
            self.add_row(
                Text("✔" if entry.enabled else "✘", style="green" if entry.enabled else "red"),
                Text(entry.display_name), Text(entry.image, overflow="ellipsis", no_wrap=True),
                Text(f"{entry.cpu_limit:g}" if entry.cpu_limit else "-"), Text(entry.mem_limit or "-"),
                Text(str(entry.gpus)), *slices, Text("▲" if self.warnings.get(entry.image) else "", style="yellow"),
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

    def __init__(self, entry: NotebookImage, *, warnings: list[str] | None = None, choices: list[str] | None = None,
                 check_image: Callable[[str], str | None] | None = None) -> None:
        super().__init__()
        self.entry = entry
        self.warnings = warnings or []
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
            for warning in self.warnings:
                yield Static(f"[yellow]▲ {escape(warning)}[/]", classes="image-warning")
            with Grid(classes="form"):
                if self.choices is not None:
                    yield Label(IMAGE_IMAGE.label)
                    yield Field(entry.image, placeholder="registry/name:tag", id=IMAGE_IMAGE.widget, compact=True,
                                suggester=SuggestFromList(self.choices, case_sensitive=False))
                yield Label(IMAGE_ENABLED.label)
                yield OnOffCheckbox("offered to users", entry.enabled, id=IMAGE_ENABLED.widget, compact=True)
                yield Label(IMAGE_DISPLAY_NAME.label)
                yield Field(entry.display_name, id=IMAGE_DISPLAY_NAME.widget, compact=True)
                yield Label(IMAGE_CPU.label)
                yield Field(f"{entry.cpu_limit:g}" if entry.cpu_limit else "", placeholder="none",
                            id=IMAGE_CPU.widget, compact=True)
                yield Label(IMAGE_MEM.label)
                yield Field(entry.mem_limit or "", placeholder="none, e.g. 8G", id=IMAGE_MEM.widget, compact=True)
                yield Label(IMAGE_GPUS.label)
                yield Field(str(entry.gpus), id=IMAGE_GPUS.widget, compact=True)
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

    def _values(self) -> dict[Answer, Any]:
        """What the form holds, as typed (the profile model converts and checks it)."""
        answers = [IMAGE_DISPLAY_NAME, IMAGE_CPU, IMAGE_MEM, IMAGE_GPUS]
        if self.choices is not None:
            answers.append(IMAGE_IMAGE)
        values: dict[Answer, Any] = {a: self.query_one(f"#{a.widget}", Input).value.strip() for a in answers}
        values[IMAGE_ENABLED] = self.query_one(f"#{IMAGE_ENABLED.widget}", Checkbox).value
        return values

    def _problem(self, *, apply: bool) -> str | None:
        """Why the form cannot be saved (the image, then each field by the profile's own rules), or None.

        With ``apply`` the values are written into the entry when they are valid.
        """
        for field in self.query(Input):
            field.remove_class("-invalid")
        if self.choices is not None:
            image = self.query_one("#image", Input).value.strip()
            problem = "Give the image reference (registry/name:tag)." if not image else (
                self.check_image(image) if self.check_image else None)
            if problem:
                self.query_one("#image", Input).add_class("-invalid")
                return problem
        target = self.entry if apply else self.entry.model_copy()
        try:
            edit_image(target, self._values())
        except AnswerError as exc:
            for answer in exc.answers:
                for marked in self.query(f"#{answer.widget}"):
                    marked.add_class("-invalid")
            return exc.message
        return None

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _recheck(self) -> None:
        """An error on screen is cleared as soon as the value is fixed (and updated while it is not)."""
        error = self.query_one("#edit-error", Static)
        if str(error.render()).strip():
            problem = self._problem(apply=False)
            error.update(f"[red]{escape(problem)}[/]" if problem else "")

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def _save(self) -> None:
        problem = self._problem(apply=True)
        if problem:
            self.query_one("#edit-error", Static).update(f"[red]{escape(problem)}[/]")
            return
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without changing the entry."""
        self.dismiss(False)
