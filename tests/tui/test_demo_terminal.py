"""End to end: ``./install.sh --demo`` in a real terminal (tmux), driven with keys, read from the screen.

This is what a newcomer does: run the README's first command, press Enter and
Ctrl+N through the screens, confirm Install, and read the hub's URL on Done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 100, 30


def _require() -> None:
    missing = [p for p in ("tmux", "containerd", "ctr") if shutil.which(p) is None]
    root = "needs root (the demo's containerd)" if os.geteuid() else ""
    reason = f"needs {', '.join(missing)}" if missing else root
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the terminal test: {reason}")
        pytest.skip(reason)


class Terminal:
    """One tmux session: send keys, read the screen as text."""

    def __init__(self, command: str) -> None:
        self.name = f"wizard-{uuid.uuid4().hex[:8]}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(WIDTH), "-y", str(HEIGHT),
                        command], check=True, cwd=REPO)

    def screen(self) -> str:
        """What a person sees now."""
        return subprocess.run(["tmux", "capture-pane", "-t", self.name, "-p"],
                              capture_output=True, text=True, check=False).stdout

    def keys(self, *keys: str) -> None:
        """Press keys (tmux names: Enter, C-n, y...)."""
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, text: str, limit: float = 120.0) -> str:
        """The screen once ``text`` shows (a deadline only so a broken run ends; never a speed check)."""
        deadline = time.monotonic() + limit
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        pytest.fail(f"{text!r} never appeared; the screen shows:\n{screen}")

    def close(self) -> None:
        """End the session (and whatever still runs in it)."""
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False, capture_output=True)


def test_install_sh_demo_walks_to_the_hub_url(tmp_path: Path) -> None:
    """Welcome, real preflight, components, JupyterHub, Review, Install, Done: what a person reads at each step."""
    _require()
    exit_file = tmp_path / "exit"
    # --state-dir keeps the saved profile in tmp_path too: the test writes nothing outside it.
    term = Terminal(f"./install.sh --demo --state-dir {tmp_path}/state --log-file {tmp_path}/demo.log; "
                    f"echo $? > {exit_file}; sleep 60")
    try:
        screen = term.wait_for("Step 1 of 5: Welcome", 300)  # the first run may create the venv
        screen = term.wait_for("verified: every file matches")
        assert "DEMO" in screen and "simulated MicroK8s" in screen
        assert "13 image files" in screen
        term.keys("Enter")
        screen = term.wait_for("Ready:")
        assert "Step 2 of 5: Preflight checks" in screen and "✔ pass" in screen
        assert "GPUs" in screen and "InfiniBand / RoCE" in screen
        term.keys("C-n")
        screen = term.wait_for("Step 3 of 5: Components")
        assert "NVIDIA GPU Operator" in screen and "RDMA shared device plugin" in screen
        term.keys("C-n")
        screen = term.wait_for("Step 4 of 5: JupyterHub")
        assert "Admin users" in screen and "SciPy stack" in screen
        assert "jupyter-scipy:v1.9.2 runs as" in screen.replace("\n", " ")  # the image check warning
        term.keys("C-n")
        screen = term.wait_for("Plan: 14 steps")
        assert "Import container images" in screen and "dry-run" not in screen
        term.keys("C-n")
        screen = term.wait_for("A cancelled or failed run resumes")
        term.keys("y")
        screen = term.wait_for("Demo finished", 300)
        assert "Open http://" in screen and ":30080/" in screen
        assert "Sign up first as 'admin'" in screen
        assert "Check (simulated MicroK8s): 2 of 2 notebook image(s) passed" in screen  # issue 14
        assert f"{tmp_path}/demo.log" in screen
        term.keys("q")
        deadline = time.monotonic() + 60
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert exit_file.read_text().strip() == "0"
        log = (tmp_path / "demo.log").read_text()
        assert "DRY-RUN" not in log and "images import" in log and ": microk8s helm3 upgrade --install" in log
        assert list((tmp_path / "state" / "demo" / "profiles").glob("*.yaml"))  # the saved profile
    finally:
        term.close()
