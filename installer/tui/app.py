"""The wizard: a thin Textual app that walks the operator from Welcome to the hub's URL.

The app only owns navigation. Screens are views over a
:class:`~installer.wizard.backend.WizardSession` (the operator's answers, the
preflight report, the result); every engine call runs in a thread worker and
comes back as messages (see :mod:`installer.tui.bridge`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from installer.engine.hangup import survive_hangup
from installer.errors import ExitCode
from installer.wizard.backend import WIZARD_STEPS, WizardSession

if TYPE_CHECKING:
    from textual.driver import Driver

    from installer.install_run import InstallOptions

_LOGGER: Final = logging.getLogger(__name__)

STEPS: Final = WIZARD_STEPS
"""The screens before the install, in order; Back and Next move along this list."""


class InstallerApp(App[int]):
    """The installer wizard; its return value is the process exit code."""

    CSS_PATH = "app.tcss"
    TITLE = "JupyterHub offline installer"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        # Operators press Ctrl-C by reflex: same as Quit (asks to cancel during the install).
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, session: WizardSession, *, animate: bool = True) -> None:
        super().__init__()
        self.session = session
        """Everything the screens read and write."""
        self.animated = animate
        """False in snapshot tests: no spinners, no blinking cursor (not ``animate``: that is App's method)."""
        self.install_running = False
        """True while the engine works; Quit then asks to cancel first."""
        self.answered = False
        """True once the operator went past Welcome: from then on, Quit asks before dropping the answers."""
        self.detached = False
        """True once the terminal closed during the install: the app ends with the install, unseen."""
        if session.is_demo:
            self.sub_title = "DEMO"

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, or on Linux the one that outlives a closed terminal."""
        from textual.drivers.linux_driver import LinuxDriver

        from installer.tui.hangup import HangupSafeDriver

        driver = super().get_driver_class()
        return HangupSafeDriver if driver is LinuxDriver else driver

    def hung_up(self) -> None:
        """The terminal closed (SIGHUP, in the main thread): finish a running install unseen, else end.

        Called after stdin/stdout/stderr were pointed at ``/dev/null``. An install
        that started goes on to its end, writing the log and the result file; before
        that, nothing was started and there is nobody left to ask.
        """
        driver = self._driver  # Textual keeps the driver private; only its input thread must stop
        if driver is not None:
            driver.disable_input()  # reading a closed terminal returns at once: stop before it spins
        if self.install_running:
            self.detached = True
            from installer.tui.screens.install import InstallScreen

            for screen in self.screen_stack:
                if isinstance(screen, InstallScreen):
                    screen.note_detached()
            return
        self.call_later(self.exit, self.exit_code_now())

    def on_mount(self) -> None:
        """Start at the Welcome screen."""
        self.push_screen(self.make_screen("welcome"))

    def make_screen(self, name: str) -> Screen[None]:
        """A fresh screen for one wizard step (its state comes from the session)."""
        from installer.tui.screens.base import WizardScreen
        from installer.tui.screens.components import ComponentsScreen
        from installer.tui.screens.jupyterhub import JupyterHubScreen
        from installer.tui.screens.preflight import PreflightScreen
        from installer.tui.screens.review import ReviewScreen
        from installer.tui.screens.welcome import WelcomeScreen

        screens: dict[str, type[WizardScreen]] = {
            "welcome": WelcomeScreen, "preflight": PreflightScreen, "components": ComponentsScreen,
            "jupyterhub": JupyterHubScreen, "review": ReviewScreen,
        }
        return screens[name](self.session)

    def go_next(self, current: str) -> None:
        """Open the step after ``current``."""
        index = STEPS.index(current)
        self.answered = True
        if index + 1 < len(STEPS):
            self.push_screen(self.make_screen(STEPS[index + 1]))

    def go_back(self) -> None:
        """Return to the previous step, which kept its state."""
        if len(self.screen_stack) > 2:  # the default screen, then welcome
            self.pop_screen()

    def start_install(self) -> None:
        """Leave the questions behind and run the install."""
        from installer.tui.screens.install import InstallScreen

        self.push_screen(InstallScreen(self.session))

    def show_done(self) -> None:
        """The final screen."""
        from installer.tui.screens.done import DoneScreen

        self.push_screen(DoneScreen(self.session))

    async def action_quit(self) -> None:
        """Quit; ask first when answers would be lost, and cancel first when the engine is working."""
        from installer.tui.screens.install import InstallScreen
        from installer.tui.screens.welcome import WelcomeScreen
        from installer.tui.widgets.confirm import QuitQuestion

        screen = self.screen
        if self.install_running:
            if isinstance(screen, InstallScreen):
                screen.action_cancel()
            return
        if self.session.result is not None or (isinstance(screen, WelcomeScreen) and not self.answered):
            self.exit(self.exit_code_now())  # the run ended (its code), or nothing was answered yet
            return
        if isinstance(screen, QuitQuestion):
            self.exit(self.exit_code_now())  # Ctrl+Q on the question itself: quit
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit(self.exit_code_now())

        saved = self.session.saved_profile
        kept = (f"Your answers are saved in {saved}." if saved is not None
                else "Your answers are lost: save them first with Ctrl+S on the Review screen.")
        self.push_screen(QuitQuestion(f"Quit the installer?\n\nNothing was installed. {kept}",
                                      yes="Quit", no="Keep going"), answered)

    def exit_code_now(self) -> int:
        """The exit code for leaving at this point: the run's, or 0 when no install was started."""
        result = self.session.result
        if result is None:
            return int(ExitCode.OK)
        return int(result.exit_code)


def run_wizard(options: InstallOptions | argparse.Namespace, *, demo_notes: tuple[str, ...] = (),
               log_file: Path | None = None, profile_dir: Path | None = None, previous_run: str = "") -> ExitCode:
    """Run the wizard in this terminal and return the exit code of the install.

    Args:
        options: what to install with (the profile inside pre-fills the answers); an
            argparse namespace from the CLI is turned into options the same way
            the headless mode does.
        demo_notes: lines shown on every screen of the demo (what is real, what is a dry-run).
        log_file: where every event is logged (default: the CLI's default log path).
        profile_dir: where Review proposes to save the profile (default: ``profiles/``).
        previous_run: how the last install on this host ended (shown on Welcome).
    """
    from installer.engine.logfile import default_log_path

    if isinstance(options, argparse.Namespace):
        args = options
        options = options_from_args(args)
        log_file = log_file or args.log_file
    session = WizardSession.start(options, log_file=log_file or default_log_path(), demo_notes=demo_notes,
                                  profile_dir=profile_dir)
    session.previous_run = previous_run
    app = InstallerApp(session)
    with _quiet_console_logging(), survive_hangup(app.hung_up):
        code = app.run()
    print_exit_summary(session)
    if code is None:  # the app ended without choosing (terminal closed)
        return ExitCode.INTERRUPTED
    return ExitCode(code)


def print_exit_summary(session: WizardSession) -> None:
    """Leave the result in the terminal once the app has let it go (as ``helm install`` leaves its notes)."""
    from installer.install_run import make_redactor
    from installer.wizard.backend import exit_summary

    redact = make_redactor(session.options.profile)
    with contextlib.suppress(OSError):  # the terminal may be gone (a dropped SSH session): the log has it all
        sys.stdout.write("".join(redact(line) + "\n" for line in exit_summary(session)))
        sys.stdout.flush()


@contextlib.contextmanager
def _quiet_console_logging() -> Iterator[None]:
    """Keep ``logging`` off the terminal while the wizard owns it (the log file has every event)."""
    root = logging.getLogger()
    console = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
               and getattr(h, "stream", None) in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)]
    for handler in console:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in console:
            root.addHandler(handler)


def options_from_args(args: argparse.Namespace) -> InstallOptions:
    """Install options from the CLI's arguments, as ``installer.cli`` builds them for the headless mode."""
    from installer.config.profile import Profile, load_profile
    from installer.install_run import InstallOptions, default_state_dir

    profile = load_profile(args.profile) if getattr(args, "profile", None) else Profile()
    return InstallOptions(profile=profile, dry_run=getattr(args, "dry_run", False),
                          state_dir=getattr(args, "state_dir", None) or default_state_dir(),
                          host_root=getattr(args, "host_root", Path("/")),
                          skip_checks=frozenset(getattr(args, "skip_check", []) or []),
                          bundle_dir=getattr(args, "bundle", None), check=not getattr(args, "no_check", False))
