"""A dropped SSH session (issue 13, point 4): the install goes on to its end without its terminal.

The installer runs in a real terminal (tmux) against the MicroK8s twin, in the
wizard and headless. The image import is held at a gate (a ``ctr`` first on PATH
that waits for a file before it runs the real one), so the terminal is closed
mid-import for sure; then the gate opens. The install must finish, and its log
and result file must say so; a new ``./install.sh`` must say an install is
running (pid and log) while it runs, and how it ended afterwards.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from twin.charts import build_bundle
from twin.fixture import make_twin

from installer.config.profile import Profile
from installer.demo.twin import twin_env
from installer.engine.lastrun import RESULT_NAME
from tests.faults.support import wait_for
from tests.repocopy import fresh_copy
from tests.tui.test_demo_terminal import Terminal

pytestmark = [pytest.mark.containerd,
              pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")]

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "install_child.py"
GATED_CTR = """#!/bin/sh
# The test's gate: an image import waits until the gate opens, then runs the real ctr.
for arg in "$@"; do
  if [ "$arg" = import ]; then
    touch "{gate}/reached"
    while [ ! -e "{gate}/open" ]; do sleep 0.1; done
    break
  fi
done
exec {ctr} "$@"
"""


@pytest.fixture
def site(tmp_path: Path, clean_containerd: Any) -> dict[str, Any]:
    """A twin host, a bundle for the default profile, a gated ctr, and the child's command line."""
    import shutil

    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    twin = make_twin(tmp_path, clean_containerd)
    bundle = tmp_path / "offline-images"
    build_bundle(bundle, Profile(bundle=bundle))
    profile = tmp_path / "site.yaml"
    profile.write_text(f"bundle: {bundle}\njupyterhub:\n  ready_timeout: 30\n")
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "ctr").write_text(GATED_CTR.format(gate=gate, ctr=shutil.which("ctr")))
    (gate / "ctr").chmod(0o755)
    env = twin_env(twin.config, path=f"{os.environ['PATH']}")
    env["PATH"] = f"{gate}:{env['PATH']}"  # the gated ctr first, then the twin's programs
    repo = fresh_copy(tmp_path / "repo")  # the wizard saves its profile in profiles/ next to install.sh
    base = [sys.executable, str(repo / CHILD.relative_to(REPO)), str(twin.containerd.socket), "--",
            "--state-dir", str(tmp_path / "state"),
            "--host-root", str(twin.host.root), "--log-file", str(tmp_path / "install.log")]
    return {"repo": repo, "twin": twin, "bundle": bundle, "profile": profile, "gate": gate, "env": env, "argv": base,
            "state": tmp_path / "state", "log": tmp_path / "install.log"}


def _in_terminal(site: dict[str, Any], *args: str) -> Terminal:
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in site["env"].items())
    return Terminal(f"env {env} {shlex.join([*site['argv'], *args])}; sleep 600")


def _result(site: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return json.loads((site["state"] / RESULT_NAME).read_text())
    except (OSError, ValueError):
        return None


def _again(site: dict[str, Any], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``./install.sh --profile ...`` run again, with no terminal (as a new SSH session's script would)."""
    return subprocess.run([*site["argv"], "--profile", str(site["profile"]), "--yes", "--bundle", str(site["bundle"]),
                           *args], cwd=REPO, env={**os.environ, **site["env"]}, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _close_mid_import_and_finish(site: dict[str, Any], term: Terminal) -> None:
    """Wait for the import to reach the gate, close the terminal, check a re-run refuses, open the gate."""
    wait_for((site["gate"] / "reached").exists, "the image import to start", timeout=300)
    started = _result(site)
    assert started is not None and started["status"] == "running", started
    pid = started["pid"]
    term.close()  # tmux kill-session: the terminal hangs up, the installer gets SIGHUP
    running = _again(site, timeout=120)  # the old installer died with its terminal: this one would wait at the gate
    assert running.returncode == 4, running.stderr
    assert f"error: another installer is running (install, pid {pid} on" in running.stderr, running.stderr
    assert f"log: {site['log']}" in running.stderr and f"tail -f {site['log']}" in running.stderr
    status = subprocess.run([*site["argv"][:4], "status", "--state-dir", str(site["state"])], cwd=REPO,
                            env={**os.environ, **site["env"]}, capture_output=True, text=True, timeout=120,
                            check=False)
    assert status.returncode == 4 and f"pid {pid}" in status.stdout, status
    (site["gate"] / "open").touch()
    wait_for(lambda: (_result(site) or {}).get("status") not in (None, "running"), "the install to end",
             timeout=600)
    result = _result(site)
    assert result is not None
    assert (result["status"], result["exit_code"], result["terminal_closed"]) == ("ok", 0, True), result
    log = site["log"].read_text()
    assert "the terminal closed: the install goes on without it" in log
    assert "plan_finished status='ok'" in log
    assert "JupyterHub is at http://" in log
    again = _again(site)
    assert again.returncode == 0, again.stderr
    assert "note: the last install finished after its terminal closed" in again.stderr, again.stderr
    assert f"log: {site['log']}" in again.stderr
    status = subprocess.run([*site["argv"][:4], "status", "--state-dir", str(site["state"])], cwd=REPO,
                            env={**os.environ, **site["env"]}, capture_output=True, text=True, timeout=120,
                            check=False)
    assert status.returncode == 0 and "the last install finished" in status.stdout, status


def test_headless_install_survives_a_closed_terminal(site: dict[str, Any]) -> None:
    """``./install.sh --profile`` in a terminal that closes mid-import: it finishes, and says so."""
    term = _in_terminal(site, "--profile", str(site["profile"]), "--yes", "--bundle", str(site["bundle"]))
    try:
        _close_mid_import_and_finish(site, term)
    finally:
        (site["gate"] / "open").touch()
        term.close()


def test_wizard_install_survives_a_closed_terminal(site: dict[str, Any]) -> None:
    """The wizard, Install pressed, the terminal closes mid-import: the install finishes, and says so."""
    term = _in_terminal(site, "--bundle", str(site["bundle"]))
    try:
        term.wait_for("Step 1 of 5: Welcome", 300)
        term.wait_for("verified: every file matches")
        assert "tmux or screen" in term.screen()
        term.keys("Enter")
        term.wait_for("Ready:")
        term.keys("C-n")
        term.wait_for("Step 3 of 5: Components")
        term.keys("C-n")
        term.wait_for("Step 4 of 5: JupyterHub")
        term.keys("C-n")
        term.wait_for("Step 5 of 5: Review and install")  # its warnings may push the plan below the fold
        term.keys("C-n")
        term.wait_for("A cancelled or failed run resumes")
        term.keys("y")
        _close_mid_import_and_finish(site, term)
        assert list((site["repo"] / "profiles").glob(f"{socket.gethostname().split('.')[0]}.yaml"))
    finally:
        (site["gate"] / "open").touch()
        term.close()
