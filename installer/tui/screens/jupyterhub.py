"""JupyterHub: who logs in and how, storage, port, and the notebook image catalog."""

from __future__ import annotations

import contextlib
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.markup import escape
from textual.widgets import Checkbox, Input, Label, Select, Static

from installer.errors import InstallerError
from installer.tui.screens.base import WizardScreen
from installer.tui.widgets.catalog import CatalogTable, ImageEditScreen
from installer.tui.widgets.fields import Field
from installer.wizard import backend
from installer.wizard.model import CatalogEntry, parse_int, split_users

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
        self._merge_image_warnings()
        with VerticalScroll(id="body"):
            yield Static("", id="form-error")
            with Grid(classes="form"):
                yield Label("Admin users")
                yield Field(", ".join(model.admin_users), placeholder="admin", id="admins", compact=True)
                yield Label("Allowed users")
                yield Field(", ".join(model.allowed_users), placeholder="alice, bob (optional)", id="allowed",
                            compact=True)
                yield Label("Authentication")
                yield Select(AUTH_CHOICES, value=model.auth_type, allow_blank=False, id="auth", compact=True)
                yield Label("Shared password")
                yield Field(model.password, password=True, placeholder="8 characters or more", id="password",
                            disabled=model.auth_type != "dummy", compact=True)
                yield Label("Open sign-up")
                yield Checkbox("accounts work without approval", model.open_signup, id="open-signup",
                               disabled=model.auth_type != "native", compact=True)
                yield Label("Storage per user")
                yield Field(model.storage_size, id="storage", compact=True)
                yield Label("Port (NodePort)")
                yield Field(str(model.node_port), type="integer", id="port", compact=True)
                yield Label("Private network")
                yield Checkbox("notebooks reach private addresses (mirrors, git, NFS)",
                               model.private_egress, id="private-egress", compact=True)
            yield Static("[b]Notebook images[/b] · space: on/off · enter: edit · a: add", id="catalog-title")
            yield CatalogTable(model.catalog, id="catalog")
            yield Static("", id="catalog-warnings")

    def _merge_image_warnings(self) -> None:
        """The checks' warnings for each entry; an image the report did not check keeps its own."""
        report = self.session.preflight
        warnings = report.image_warnings if report else {}
        for entry in self.session.model.catalog:
            entry.warnings = list(warnings.get(entry.image, entry.warnings))

    def on_mount(self) -> None:
        """Focus the first field and list the image warnings."""
        self.query_one("#admins", Input).focus()
        self._show_catalog_warnings()

    def _show_catalog_warnings(self) -> None:
        lines = [f"[yellow]▲ {escape(e.display_name)}: {escape(w)}[/]"
                 for e in self.session.model.catalog for w in e.warnings]
        self.query_one("#catalog-warnings", Static).update("\n".join(lines))

    @on(Select.Changed, "#auth")
    def _auth_changed(self, event: Select.Changed) -> None:
        dummy = event.value == "dummy"
        self.query_one("#password", Input).disabled = not dummy
        self.query_one("#open-signup", Checkbox).disabled = dummy

    @on(CatalogTable.EditRequested)
    def _edit(self, event: CatalogTable.EditRequested) -> None:
        entry = self.session.model.catalog[event.index]

        def edited(saved: bool | None) -> None:
            if saved:
                self.query_one(CatalogTable).refresh_rows()

        self.app.push_screen(ImageEditScreen(entry), edited)

    @on(CatalogTable.AddRequested)
    def _add(self) -> None:
        model, options = self.session.model, self.session.options
        draft = CatalogEntry.draft()
        choices = backend.offerable_images(options, [entry.image for entry in model.catalog])
        if choices:
            draft = CatalogEntry.draft(choices[0])

        def added(saved: bool | None) -> None:
            if saved:
                model.add_entry(draft)
                table = self.query_one(CatalogTable)
                table.refresh_rows()
                table.move_cursor(row=len(model.catalog) - 1)
                self._check_new_image(draft)

        self.app.push_screen(ImageEditScreen(draft, choices=choices,
                                             check_image=lambda ref: backend.image_problem(options, ref)),
                             added)

    @work(thread=True, group="image-checks")
    def _check_new_image(self, entry: CatalogEntry) -> None:
        """Read the new image's config from its archive (may take a moment), then show its warnings.

        The result is kept with the entry and the report (plain data) even when the
        operator has left the screen meanwhile; the next visit shows it.
        """
        warnings = backend.entry_warnings(self.session.options, entry.name, entry.image)
        entry.warnings = warnings
        if self.session.preflight is not None:
            self.session.preflight.image_warnings[entry.image] = list(warnings)
        self.app.call_from_thread(self._show_new_warnings)

    def _show_new_warnings(self) -> None:
        if self.is_attached:
            self.query_one(CatalogTable).refresh_rows()
            self._show_catalog_warnings()

    def collect(self) -> None:
        """Copy the form into the model.

        Raises:
            InstallerError: a field is not of the right kind (a port that is not a number).
        """
        model = self.session.model
        model.admin_users = split_users(self.query_one("#admins", Input).value)
        model.allowed_users = split_users(self.query_one("#allowed", Input).value)
        auth = self.query_one("#auth", Select).value
        model.auth_type = "dummy" if auth == "dummy" else "native"
        model.password = self.query_one("#password", Input).value if model.auth_type == "dummy" else ""
        model.open_signup = self.query_one("#open-signup", Checkbox).value
        model.storage_size = self.query_one("#storage", Input).value.strip()
        model.node_port = parse_int(self.query_one("#port", Input).value, "Port")
        model.private_egress = self.query_one("#private-egress", Checkbox).value

    def can_leave(self) -> bool:
        """Valid answers only: the same validation as a profile file."""
        error = self.query_one("#form-error", Static)
        try:
            self.collect()
            self.session.model.to_profile()
        except InstallerError as exc:
            error.update(f"[b red]Please fix:[/] {escape(exc.message)}")
            error.add_class("-failed")
            self.query_one("#body", VerticalScroll).scroll_home(animate=False)
            return False
        error.update("")
        error.remove_class("-failed")
        return True

    def action_back(self) -> None:
        """Keep what was typed (even if not valid yet) and go back."""
        with contextlib.suppress(InstallerError):
            self.collect()
        super().action_back()
