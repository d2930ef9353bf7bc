"""Review: the plan as it will run, the choices, and saving them as a profile."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, Checkbox, Input, Static
from textual.worker import Worker, WorkerState

from installer.errors import InstallerError
from installer.tui.screens.base import WizardScreen
from installer.tui.widgets.confirm import ConfirmScreen
from installer.tui.widgets.fields import Field
from installer.tui.widgets.toggles import OnOffCheckbox
from installer.wizard.backend import Concern, answer_concerns, plan_outline, review_lines


class ReviewScreen(WizardScreen):
    """Shows the plan; Install asks for confirmation, saves the profile and starts."""

    step: ClassVar[str] = "review"
    next_label: ClassVar[str] = "Install"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "save", "Save profile")]
    concerns: list[Concern] | None = None
    """What would stop or spoil the install (None: still being worked out)."""

    def body(self) -> ComposeResult:
        """Choices, plan, save row."""
        session = self.session
        with VerticalScroll(id="body"):
            yield Static("Checking the answers against this host and the bundle…", id="concerns")
            yield Static("\n".join(escape(line) for line in review_lines(session)), id="choices", classes="panel")
            yield Static("[b]Plan[/b]: working it out…", id="plan")
            yield Static("[b]Save these answers as a profile[/b] (replay with: sudo ./install.sh --profile FILE)")
            with Horizontal(id="save-row"):
                yield Field(str(session.default_profile_path()), id="profile-path", compact=True)
                yield Button("Save", id="save", compact=True)
            yield OnOffCheckbox("Write the password in clear (off: CHANGE-ME placeholder)",
                                session.model.save_secrets, id="save-secrets", compact=True)
            yield Static("", id="save-status")

    def on_mount(self) -> None:
        """Build the plan off the UI thread."""
        self.query_one("#next", Button).focus()
        self._outline()
        self._check_answers()

    @work(thread=True, exclusive=True, exit_on_error=False, group="concerns")
    def _check_answers(self) -> list[Concern]:
        return answer_concerns(self.session)

    def _show_concerns(self, concerns: list[Concern]) -> None:
        from installer.tui.screens.base import STEP_TITLES

        self.concerns = concerns
        box = self.query_one("#concerns", Static)
        failing = [c for c in concerns if c.level == "fail"]
        box.set_class(bool(failing), "-failed")
        box.set_class(bool(concerns) and not failing, "-warn")
        box.set_class(bool(concerns), "panel")
        if not concerns:
            box.update("[green]✔ No check fails with these answers.[/]")
            return
        lines = ["[b red]The install would stop:[/]" if failing else "[b yellow]Warnings:[/]"]
        for concern in sorted(concerns, key=lambda c: c.level != "fail"):
            mark = "✘" if concern.level == "fail" else "▲"
            where = STEP_TITLES.get(concern.step, concern.step)
            lines.append(f"{mark} {escape(concern.text)} [dim](change it on: {where})[/]")
        box.update("\n".join(lines))

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def _outline(self) -> list[tuple[str, str, str]]:
        return plan_outline(self.session.install_options())

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show the plan's steps, or why it cannot be built; show what the answers would run into."""
        if event.worker.group == "concerns":
            if event.state == WorkerState.SUCCESS:
                self._show_concerns(list(event.worker.result or []))
            elif event.state == WorkerState.ERROR:
                self._show_concerns([Concern("warn", f"the answers could not be checked: {event.worker.error!r}",
                                             "review")])
            return
        if event.worker.group != "plan":
            return
        plan = self.query_one("#plan", Static)
        if event.state == WorkerState.SUCCESS:
            steps = event.worker.result or []
            lines = [f"[b]Plan[/b]: {len(steps)} steps, in this order"]
            lines += [f"  {i:2}. {escape(title)}" + (f" [dim]({escape(comp)})[/dim]" if comp else "")
                      + (" [yellow]dry-run[/yellow]" if self.session.simulated(step_id) else "")
                      for i, (step_id, title, comp) in enumerate(steps, start=1)]
            plan.update("\n".join(lines))
        elif event.state == WorkerState.ERROR:
            error = event.worker.error
            if isinstance(error, InstallerError):
                text = error.message + (f"\n{error.hint}" if error.hint else "")
            else:
                text = repr(error)
            plan.update(f"[b red]The plan cannot be built:[/] {escape(text)}")
            plan.add_class("-failed")

    @on(Button.Pressed, "#save")
    @on(Input.Submitted, "#profile-path")
    def action_save(self) -> Path | None:
        """Save the answers as a profile file (mode 0600)."""
        model = self.session.model
        model.save_secrets = self.query_one("#save-secrets", Checkbox).value
        status = self.query_one("#save-status", Static)
        try:
            path = self.session.save_profile(Path(self.query_one("#profile-path", Input).value).expanduser())
        except InstallerError as exc:
            status.update(f"[red]Not saved: {escape(exc.message)}[/]")
            self.notify(exc.message, title="Profile not saved", severity="error", markup=False)
            return None
        secret_note = "with the password" if model.save_secrets else "without the password"
        status.update(f"[green]Saved {escape(str(path))}[/] ({secret_note}, mode 0600)")
        # The status line can be below the fold on a small terminal: a notification is always seen.
        self.notify(f"Saved {path} ({secret_note}, mode 0600)", title="Profile saved", markup=False)
        return path

    def can_leave(self) -> bool:
        """Install needs a confirmation; the answer comes back through a callback."""

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            if self.action_save() is None:
                self.notify("The profile could not be saved; the install starts anyway.", severity="warning")
            self.wizard.start_install()

        question = self.session.confirm_question()
        failing = [c.text for c in self.concerns or [] if c.level == "fail"]
        if self.concerns is None:
            question += "\n\n(The answers are still being checked against this host and the bundle.)"
        if failing:
            shown = "\n".join(f"  ✘ {escape(text)}" for text in failing[:4]) + ("\n  …" if len(failing) > 4 else "")
            question += f"\n\nWith these answers the install would stop:\n{shown}\nPress No and go Back to change them."
        self.app.push_screen(ConfirmScreen(question, yes="Install"), answered)
        return False
