"""The import as the Install screen shows it (issue 13, point 11), fed the events the importer emits.

The overall bar moves with the bytes imported; an archive that is checked and queued
says "waiting" (not a full bar at ``--/s``); rows name the image ref, not the archive
file; a probe that answers "no" is not shown as an error.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import ProgressBar

from installer.engine.events import CommandRan, PlanStarted, StepFinished, StepProgress, StepStarted
from installer.tui.app import InstallerApp
from installer.tui.screens.install import InstallScreen, WrappingLog
from installer.tui.widgets.progress import ItemLines

from .wizard_fakes import TS, make_session

STEPS = (("preflight", "Check the host"), ("bundle-check", "Check the bundle"), ("microk8s.snaps", "Install snaps"),
         ("import-images", "Import container images"), ("microk8s.dns", "Enable DNS"),
         ("jupyterhub.install", "Install JupyterHub"), ("jupyterhub.url", "Show the address"))
TORCH = "quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06"
LAB = "quay.io/jupyter/datascience-notebook:2025-01-06"
GIB = 1 << 30


def archive(ref: str) -> str:
    """The importer's item: the archive's path in the bundle."""
    return "images/" + ref.replace("/", "_").replace(":", "_") + ".tar.zst"


def importing(done: int, ts: float) -> StepProgress:
    """One value of the torch archive's import; the step holds 8 GiB in all."""
    return StepProgress(step_id="import-images", done=done, total=6 * GIB, item=archive(TORCH), overall_done=done,
                        overall_total=8 * GIB, message="importing", label=TORCH, ts=ts)


async def test_the_import_moves_the_bar_names_refs_and_says_waiting(tmp_path: Path) -> None:
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = InstallScreen(app.session, start=False)
        await app.push_screen(screen)
        await pilot.pause()
        screen.apply(PlanStarted(steps=STEPS, ts=TS))
        for index, (step_id, title) in enumerate(STEPS[:3], start=1):
            screen.apply(StepStarted(step_id=step_id, title=title, index=index, total=len(STEPS), ts=TS))
            screen.apply(StepFinished(step_id=step_id, status="ok", ts=TS))
        screen.apply(StepStarted(step_id="import-images", title="Import container images", index=4,
                                 total=len(STEPS), ts=TS))
        bar = screen.query_one("#overall", ProgressBar)
        screen._apply_progress([importing(0, TS + 1)])
        before = bar.percentage or 0.0
        screen._apply_progress([importing(6 * GIB, TS + 60)])  # three quarters of the step's bytes
        after = bar.percentage or 0.0
        assert after - before >= 0.3, (before, after)  # one step of seven would move it by 0.11

        checked = StepProgress(step_id="import-images", done=2 * GIB, total=2 * GIB, item=archive(LAB),
                               overall_done=6 * GIB, overall_total=8 * GIB, message="verifying", label=LAB,
                               ts=TS + 61)
        screen._apply_progress([checked])
        rows = str(screen.query_one(ItemLines).render_items(70))
        assert TORCH in rows and archive(TORCH) not in rows  # the ref, not the file
        lab_row = next(line for line in rows.splitlines() if "datascience-notebook" in line)
        assert "waiting" in lab_row and "2.0/2.0 GiB" not in rows and "ETA" not in lab_row

        screen.apply(CommandRan(argv=("snap", "list", "core20"), returncode=1, duration=0.1, probe=True, ts=TS))
        screen.apply(CommandRan(argv=("microk8s", "enable", "dns"), returncode=1, duration=0.1, ts=TS))
        await pilot.pause()
        shown = [strip.text.rstrip() for strip in screen.query_one(WrappingLog).lines]  # the log wraps long lines
        probe_at = next(i for i, line in enumerate(shown) if "snap list core20" in line)
        assert not shown[probe_at].startswith("$") and "not an error" in " ".join(shown[probe_at:-1]), shown
        assert shown[-1] == "$ microk8s enable dns  → exit 1"


def test_the_console_shows_a_probe_that_answers_no_as_a_check() -> None:
    """Headless, verbose: ``snap list core20`` exiting 1 is a check's answer, not a failed command."""
    import io

    from installer.headless.console import ConsoleSink

    out = io.StringIO()
    console = ConsoleSink(out, verbose=True, tty=False)
    console.emit(CommandRan(argv=("snap", "list", "core20"), returncode=1, duration=0.1, probe=True, ts=TS))
    console.emit(CommandRan(argv=("microk8s", "enable", "dns"), returncode=1, duration=0.1, stderr_tail="boom",
                            ts=TS))
    lines = out.getvalue().splitlines()
    assert lines[0] == "      ? snap list core20  -> no (exit 1): a check, not an error"
    assert lines[1] == "      $ microk8s enable dns  -> 1" and lines[2] == "        | boom"
