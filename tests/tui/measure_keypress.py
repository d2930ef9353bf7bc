"""Measure how fast the wizard handles a key press while images are imported (not a test: a benchmark).

Run as root with containerd installed:

    .venv/bin/python tests/tui/measure_keypress.py [MB_PER_IMAGE]

It builds a demo bundle with bigger images, starts the wizard's Install screen on it
(real import into a private containerd), presses a key every 50 ms during the import
and prints the latency of each press (press sent -> its action ran), then one line
``keypress_ms_median=<n> keypress_ms_max=<n> presses=<n> import_s=<n>``. The target is
a max under 100 ms.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import sys
import time
from typing import ClassVar

from textual.binding import BindingType

from installer.demo.prepare import DEMO_IMAGES, prepare_demo
from installer.tui.app import InstallerApp
from installer.tui.screens.install import InstallScreen
from installer.wizard.backend import WizardSession


class Probe(InstallScreen):
    """The install screen plus a key whose action records when it ran."""

    BINDINGS: ClassVar[list[BindingType]] = [*InstallScreen.BINDINGS, ("f5", "probe", "probe")]

    def __init__(self, session: WizardSession) -> None:
        super().__init__(session)
        self.handled: list[float] = []

    def action_probe(self) -> None:
        """Record the moment the key was handled."""
        self.handled.append(time.perf_counter())


async def measure(mb: int) -> None:
    """Run one import and press keys during it."""
    images = tuple(dataclasses.replace(i, size=mb << 20) if i.component == "jupyterhub" else i for i in DEMO_IMAGES)
    with prepare_demo(images=images) as demo:
        session = WizardSession.start(demo.options, log_file=None, demo_notes=demo.notes)
        app = InstallerApp(session, animate=False)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = Probe(session)
            await app.push_screen(screen)
            sent: list[float] = []
            start = time.perf_counter()
            imported = False
            while session.result is None:
                if screen.current_step == "import-images":
                    imported = True
                    sent.append(time.perf_counter())
                    await pilot.press("f5")
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - start
            await app.workers.wait_for_complete()
    if not imported:
        print("the import step was never seen", file=sys.stderr)
    latencies = [(h - s) * 1000 for s, h in zip(sent, screen.handled, strict=False)]
    print(f"result={session.result.status} steps={len(session.result.outcomes)}")
    if latencies:
        print(f"keypress_ms_median={statistics.median(latencies):.1f} keypress_ms_max={max(latencies):.1f} "
              f"presses={len(latencies)} import_s={elapsed:.1f}")


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 80))
