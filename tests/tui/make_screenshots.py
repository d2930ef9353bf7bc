"""Write the README's screenshots (docs/wizard-*.svg) from the same fixed data as the snapshot tests.

    .venv/bin/python -m tests.tui.make_screenshots

Fixed data (two H100s, two InfiniBand ports, an import in progress) so the pictures
show what the wizard looks like on the machines it is for, not on a laptop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from _pytest.monkeypatch import MonkeyPatch

from installer.engine.events import StepProgress
from installer.tui.app import InstallerApp
from installer.tui.screens.install import InstallScreen
from installer.tui.screens.preflight import PreflightScreen
from tests.tui import test_snapshots as snaps

DOCS = Path(__file__).resolve().parents[2] / "docs"
SIZE = (100, 32)


async def shoot() -> None:
    """Preflight (with hardware) and Install (mid-import)."""
    patch = MonkeyPatch()
    try:
        session = snaps.session.__wrapped__(patch)  # type: ignore[attr-defined]
        app = InstallerApp(session, animate=False)
        async with app.run_test(size=SIZE) as pilot:
            await snaps._show(pilot, PreflightScreen(session))
            app.save_screenshot(str(DOCS / "wizard-preflight.svg"))
            screen = InstallScreen(session, start=False)
            await snaps._show(pilot, screen)
            progress: list[StepProgress] = []
            for event in snaps.install_events():
                if isinstance(event, StepProgress):
                    progress.append(event)
                    continue
                screen._apply_progress(progress)
                progress = []
                screen.apply(event)
            screen._apply_progress(progress)
            await pilot.pause()
            app.save_screenshot(str(DOCS / "wizard-install.svg"))
    finally:
        patch.undo()


if __name__ == "__main__":
    DOCS.mkdir(exist_ok=True)
    asyncio.run(shoot())
    print(f"wrote {DOCS / 'wizard-preflight.svg'} and {DOCS / 'wizard-install.svg'}")
