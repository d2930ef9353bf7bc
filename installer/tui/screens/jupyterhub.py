"""JupyterHub: who logs in and how, storage, port, and the notebook image catalog."""

from __future__ import annotations

import contextlib
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.markup import escape
from textual.widgets import Checkbox, Input, Label, Select, Static

from installer.components.jupyterhub.settings import NotebookImage
from installer.errors import InstallerError
from installer.tui.screens.base import WizardScreen
from installer.tui.widgets.catalog import CatalogTable, ImageEditScreen
from installer.tui.widgets.fields import Field
from installer.tui.widgets.toggles import OnOffCheckbox
from installer.wizard import backend
from installer.wizard.model import (
    ADMINS,
    ALLOWED,
    AUTH_TYPE,
    IMAGES,
    OPEN_SIGNUP,
    PASSWORD,
    PORT,
    PRIVATE_EGRESS,
    STORAGE,
    AnswerError,
    new_entry,
    split_users,
)

AUTH_CHOICES: tuple[tuple[str, str], ...] = (
    ("Sign-up, admin approves (native)", "native"),
    ("One shared password (dummy)", "dummy"),
)


class JupyterHubScreen(WizardScreen):
    """The hub's settings; Next validates them as a profile and names the field that is wrong."""

    step: ClassVar[str] = "jupyterhub"

    def body(self) -> ComposeResult:
        """A form, then the catalog table."""
        model = self.session.model
        profile = model.profile
        self._merge_image_warnings()
        with VerticalScroll(id="body"):
            yield Static("", id="form-error")
            with Grid(classes="form"):
                yield Label(ADMINS.label)
                yield Field(", ".join(ADMINS.get(profile)), placeholder="admin", id=ADMINS.widget, compact=True)
                yield Label(ALLOWED.label)
                yield Field(", ".join(ALLOWED.get(profile)), placeholder="alice, bob (optional)", id=ALLOWED.widget,
                            compact=True)
                yield Label(AUTH_TYPE.label)
                dummy = AUTH_TYPE.get(profile) == "dummy"
                yield Select(AUTH_CHOICES, value=AUTH_TYPE.get(profile), allow_blank=False, id=AUTH_TYPE.widget,
                             compact=True)
                yield Label(PASSWORD.label)
                yield Field(model.password, password=True, placeholder="8 characters or more", id=PASSWORD.widget,
                            disabled=not dummy, compact=True)
                yield Label(OPEN_SIGNUP.label)
                yield OnOffCheckbox("accounts work without approval", OPEN_SIGNUP.get(profile), id=OPEN_SIGNUP.widget,
                                    disabled=dummy, compact=True)
                yield Label(STORAGE.label)
                yield Field(STORAGE.get(profile), id=STORAGE.widget, compact=True)
                yield Label(f"{PORT.label} (NodePort)")
                yield Field(str(PORT.get(profile)), id=PORT.widget, compact=True)
                yield Label(PRIVATE_EGRESS.label)
                yield OnOffCheckbox("notebooks reach private addresses (mirrors, git, NFS)",
                                    PRIVATE_EGRESS.get(profile), id=PRIVATE_EGRESS.widget, compact=True)
            yield Static(f"[b]{IMAGES.label}[/b] · space: on/off · enter: edit · a: add", id="catalog-title")
            yield CatalogTable(model.catalog, model.image_warnings, id=IMAGES.widget,
                               sharing=model.profile.gpu_sharing.mode != "none")
            yield Static("", id="catalog-warnings")

    def _merge_image_warnings(self) -> None:
        """The checks' warnings for each image; an image the report did not check keeps its own."""
        report = self.session.preflight
        if report is not None:
            self.session.model.image_warnings.update({ref: list(w) for ref, w in report.image_warnings.items()})

    def on_mount(self) -> None:
        """Focus the first field and list the image warnings."""
        self.query_one(f"#{ADMINS.widget}", Input).focus()
        self._show_catalog_warnings()

    def _show_catalog_warnings(self) -> None:
        model = self.session.model
        lines = [f"[yellow]▲ {escape(e.display_name)}: {escape(w)}[/]"
                 for e in model.catalog for w in model.image_warnings.get(e.image, [])]
        self.query_one("#catalog-warnings", Static).update("\n".join(lines))

    @on(Select.Changed, f"#{AUTH_TYPE.widget}")
    def _auth_changed(self, event: Select.Changed) -> None:
        dummy = event.value == "dummy"
        self.query_one(f"#{PASSWORD.widget}", Input).disabled = not dummy
        self.query_one(f"#{OPEN_SIGNUP.widget}", Checkbox).disabled = dummy

    @on(CatalogTable.EditRequested)
    def _edit(self, event: CatalogTable.EditRequested) -> None:
        model = self.session.model
        entry = model.catalog[event.index]

        def edited(saved: bool | None) -> None:
            if saved:
                self.query_one(CatalogTable).refresh_rows()
                self._recheck()

        self.app.push_screen(ImageEditScreen(entry, warnings=model.image_warnings.get(entry.image)), edited)

    @on(CatalogTable.AddRequested)
    def _add(self) -> None:
        model, options = self.session.model, self.session.options
        choices = backend.offerable_images(options, [entry.image for entry in model.catalog])
        draft = new_entry(choices[0] if choices else "")

        def added(saved: bool | None) -> None:
            if saved:
                model.add_entry(draft)
                table = self.query_one(CatalogTable)
                table.refresh_rows()
                table.move_cursor(row=len(model.catalog) - 1)
                self._check_new_image(draft)
                self._recheck()

        self.app.push_screen(ImageEditScreen(draft, choices=choices,
                                             check_image=lambda ref: backend.image_problem(options, ref)),
                             added)

    @work(thread=True, group="image-checks")
    def _check_new_image(self, entry: NotebookImage) -> None:
        """Read the new image's config from its archive (may take a moment), then show its warnings.

        The result is kept with the entry and the report (plain data) even when the
        operator has left the screen meanwhile; the next visit shows it.
        """
        warnings = backend.entry_warnings(self.session.options, entry.name, entry.image)
        self.session.model.image_warnings[entry.image] = warnings
        if self.session.preflight is not None:
            self.session.preflight.image_warnings[entry.image] = list(warnings)
        self.app.call_from_thread(self._show_new_warnings)

    def _show_new_warnings(self) -> None:
        if self.is_attached:
            self.query_one(CatalogTable).refresh_rows()
            self._show_catalog_warnings()

    def collect(self) -> None:
        """Write the form into the profile being edited.

        Raises:
            AnswerError: a field is not of the right kind (a port that is not a number).
        """
        model = self.session.model
        profile = model.profile
        ADMINS.set(profile, split_users(self.query_one(f"#{ADMINS.widget}", Input).value))
        ALLOWED.set(profile, split_users(self.query_one(f"#{ALLOWED.widget}", Input).value))
        dummy = self.query_one(f"#{AUTH_TYPE.widget}", Select).value == "dummy"
        AUTH_TYPE.set(profile, "dummy" if dummy else "native")
        model.password = self.query_one(f"#{PASSWORD.widget}", Input).value if dummy else ""
        OPEN_SIGNUP.set(profile, self.query_one(f"#{OPEN_SIGNUP.widget}", Checkbox).value)
        STORAGE.set(profile, self.query_one(f"#{STORAGE.widget}", Input).value.strip())
        PRIVATE_EGRESS.set(profile, self.query_one(f"#{PRIVATE_EGRESS.widget}", Checkbox).value)
        PORT.set(profile, PORT.parse(self.query_one(f"#{PORT.widget}", Input).value.strip()))

    def _validate(self) -> AnswerError | None:
        """Collect and validate; mark the fields an error points at."""
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")
        try:
            self.collect()
            self.session.model.to_profile()
        except AnswerError as exc:
            for answer in exc.answers:
                for widget in self.query(f"#{answer.widget}"):
                    widget.add_class("-invalid")
            return exc
        return None

    def _show_error(self, error: InstallerError | None) -> None:
        box = self.query_one("#form-error", Static)
        box.update(f"[b red]Please fix:[/] {escape(error.message)}" if error else "")
        box.set_class(error is not None, "-failed")

    def _recheck(self) -> None:
        """After an image was edited: an error shown for it goes away once it is fixed."""
        if self.query_one("#form-error", Static).has_class("-failed"):
            self._show_error(self._validate())

    def can_leave(self) -> bool:
        """Valid answers only: the same validation as a profile file; the first wrong field gets the focus."""
        error = self._validate()
        self._show_error(error)
        if error is None:
            return True
        self.query_one("#body", VerticalScroll).scroll_home(animate=False)
        for answer in error.answers:
            for widget in self.query(f"#{answer.widget}"):
                if widget.focusable:
                    widget.focus(scroll_visible=False)
                    return False
        return False

    def action_back(self) -> None:
        """Keep what was typed (even if not valid yet) and go back."""
        with contextlib.suppress(InstallerError):
            self.collect()
        super().action_back()
