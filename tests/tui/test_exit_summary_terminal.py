"""Issue 13 point 3: once the wizard has left the screen, the terminal keeps the result.

Like ``helm install``'s notes: the hub's URL (as the install step reported it), how to
log in (the admins, never a password), the saved profile and the log file.
"""

from __future__ import annotations

import time
from pathlib import Path

from .test_demo_terminal import Terminal, _require


def test_the_terminal_keeps_the_url_login_profile_and_log_after_the_wizard(tmp_path: Path) -> None:
    """Walk the demo to Done, quit: the shell's screen then shows the summary the headless mode prints."""
    _require()
    exit_file = tmp_path / "exit"
    term = Terminal(f"./install.sh --demo --state-dir {tmp_path}/state --log-file {tmp_path}/demo.log; "
                    f"echo $? > {exit_file}; sleep 60")
    try:
        term.wait_for("verified: every file matches", 300)  # the first run may create the venv
        term.keys("Enter")
        term.wait_for("Ready:")
        term.keys("C-n")
        term.wait_for("Step 3 of 5: Components")
        term.keys("C-n")
        term.wait_for("Step 4 of 5: JupyterHub")
        term.keys("C-n")
        term.wait_for("Plan: 14 steps")
        term.keys("C-n")
        term.wait_for("A cancelled or failed run resumes")
        term.keys("y")
        term.wait_for("Demo finished", 300)
        term.keys("q")
        deadline = time.monotonic() + 60  # only so a broken run ends; never a speed check
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert exit_file.read_text().strip() == "0"
        term.wait_for("Log: ")
        screen = term.screen().replace("\n", "")  # long paths wrap at the terminal's width
        assert f"Log: {tmp_path}/demo.log" in screen
        assert "JupyterHub would be at http://" in screen and ":30080/ (simulated MicroK8s)" in screen
        assert "Log in: sign up as an admin (admin)" in screen
        saved = list((tmp_path / "state" / "demo" / "profiles").glob("*.yaml"))
        assert len(saved) == 1 and f"Profile: {saved[0]}" in screen
        assert "Images: " in screen
        assert "Check (simulated MicroK8s): 2 of 2 notebook image(s) passed" in screen  # issue 14
    finally:
        term.close()
