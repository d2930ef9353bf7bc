"""Shared pieces of the fault suite: running the real CLI as a process, hosts, bundles, profiles.

Every fault is driven through a real process (``python -m installer`` or the
``fake_install.py`` child that stands in only for MicroK8s), because what an operator
sees -- the exit code, stdout, stderr, the log file -- is what the suite checks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from fakehost import base_host

PY = sys.executable
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FAKE_INSTALL = HERE / "fake_install.py"
DEADLINE = 120.0
"""Upper bound for any wait in this suite: a fault that hangs fails the test instead of hanging it."""


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    """``python -m installer ARGS`` to completion."""
    return subprocess.run([PY, "-m", "installer", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


def start(argv: list[str], cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start a process with piped output (text)."""
    return subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(proc: subprocess.Popen[str], timeout: float = DEADLINE) -> tuple[int, str, str]:
    """Wait for ``proc``; returns (exit code, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        msg = f"{proc.args} did not end within {timeout:g} s; stderr:\n{err[-2000:]}"
        raise AssertionError(msg) from None
    return proc.returncode, out, err


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE, interval: float = 0.05,
             proc: subprocess.Popen[str] | None = None) -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail naming ``what`` at the deadline.

    With ``proc``, fail at once (with its output) if it ends before that happens.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            code, out, err = finish(proc)
            msg = (f"{what} never happened: the process ended with {code}\n"
                   f"stdout:\n{out[-2000:]}\nstderr:\n{err[-2000:]}")
            raise AssertionError(msg)
        time.sleep(interval)
    msg = f"gave up waiting {timeout:g} s for {what}"
    raise AssertionError(msg)


def kill(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> tuple[int, str, str]:
    """Send ``sig`` and collect the process."""
    proc.send_signal(sig)
    return finish(proc)


# --- what a fake install needs ----------------------------------------------------------------


def make_host(root: Path) -> Path:
    """A healthy Ubuntu host tree with a DNS server the cluster can use."""
    base_host(root).write("/etc/resolv.conf", "nameserver 10.0.0.2\n")
    return root


def make_install_bundle(root: Path) -> Path:
    """The snaps and chart the MicroK8s and JupyterHub steps look for (contents are not read)."""
    bundle = root / "offline-images"
    (bundle / "snaps").mkdir(parents=True)
    for name, revision in (("snapd", "21759"), ("core20", "2264"), ("microk8s", "7394")):
        (bundle / "snaps" / f"{name}_{revision}.snap").write_bytes(b"snap")
        (bundle / "snaps" / f"{name}_{revision}.assert").write_text("assertion")
    (bundle / "charts").mkdir()
    (bundle / "charts" / "jupyterhub-4.2.0.tgz").write_bytes(b"chart")
    return bundle


def write_profile(path: Path, bundle: Path, **jupyterhub: Any) -> Path:
    """``profiles/cpu.yaml`` pointed at ``bundle``, with ``jupyterhub`` keys replaced."""
    data = yaml.safe_load((REPO / "profiles" / "cpu.yaml").read_text())
    data["bundle"] = str(bundle)
    data["jupyterhub"].update(jupyterhub)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fake_install_argv(cluster: Path, profile: Path, state: Path, host: Path, log: Path, *extra: str,
                      helm_delay: float = 0.0, helm_fail_echo: bool = False, helm: str = "works",
                      never_ready: bool = False) -> list[str]:
    """The child command: the real CLI, unattended, with MicroK8s answered by ``cluster``."""
    child = [PY, str(FAKE_INSTALL), str(cluster), "--helm-delay", str(helm_delay), "--helm", helm]
    if helm_fail_echo:
        child.append("--helm-fail-echo")
    if never_ready:
        child.append("--never-ready")
    return [*child, "--", "--profile", str(profile), "--yes", "--state-dir", str(state), "--host-root", str(host),
            "--log-file", str(log), *extra]


def processes_using(marker: str) -> list[int]:
    """Pids of processes whose command line contains ``marker`` (to find orphans of a killed run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if marker in cmdline and "zombie" not in state:
            found.append(int(entry.name))
    return found


def mount_tmpfs(target: Path, size: str) -> None:
    """A tmpfs of ``size`` (``1m``, ``20m``) on ``target``: a disk that really fills up.

    Needs root and CAP_SYS_ADMIN; under CI their absence fails the test (the disk-full
    cases must run there), elsewhere it skips with the reason.
    """
    import pytest

    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the disk-full tests, but mounting a tmpfs failed: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {done.stderr.strip()}")
