"""install.sh on a fresh copy: makes its venv, installs, runs from any folder, and reuses the venv."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from repocopy import fresh_copy

REPO = Path(__file__).resolve().parents[2]


def test_fresh_copy_installs_and_runs_from_another_folder(tmp_path: Path) -> None:
    copy = fresh_copy(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    first = subprocess.run(["bash", str(copy / "install.sh"), "--help"], cwd="/", env=env,
                           capture_output=True, text=True, timeout=900, check=False)
    if first.returncode != 0 and "could not install" in first.stderr and not os.environ.get("CI"):
        pytest.skip(f"the package index is not reachable here: {first.stderr[-300:]}")
    assert first.returncode == 0, first.stderr
    assert "--profile profiles/gpu.yaml --dry-run" in first.stdout
    assert "installing the installer's Python packages" in first.stderr
    assert (copy / ".venv" / "bin" / "python").exists()
    again = subprocess.run(["bash", str(copy / "install.sh"), "schema"], cwd=str(tmp_path), env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stderr  # the venv is reused
    assert '"microk8s"' in again.stdout


@pytest.fixture
def unprivileged_copy() -> Iterator[Path]:
    """A fresh copy owned by ``nobody``, in a folder that user can reach (pytest's tmp is root-only)."""
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root; this run already is one")
    top = Path(tempfile.mkdtemp(prefix="installer-nonroot-"))
    try:
        os.chmod(top, 0o755)
        fresh_copy(top / "repo")
        (top / "home").mkdir()
        subprocess.run(["chown", "-R", "nobody:nogroup", str(top)], check=True)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_help_and_dry_run_work_as_an_unprivileged_user(unprivileged_copy: Path) -> None:
    """The README's first commands as a plain user: no root, the log in the user's own state folder."""
    repo, home = unprivileged_copy / "repo", unprivileged_copy / "home"
    as_nobody = ["runuser", "-u", "nobody", "--", "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
                 f"HOME={home}", "TERM=dumb"]
    helped = subprocess.run([*as_nobody, "./install.sh", "--help"], cwd=repo, capture_output=True, text=True,
                            timeout=900, check=False)
    if helped.returncode != 0 and "could not install" in helped.stderr and not os.environ.get("CI"):
        pytest.skip(f"the package index is not reachable here: {helped.stderr[-300:]}")
    assert helped.returncode == 0, helped.stderr
    assert "--profile profiles/gpu.yaml --dry-run" in helped.stdout
    planned = subprocess.run([*as_nobody, "./install.sh", "--profile", "profiles/gpu.yaml", "--dry-run"], cwd=repo,
                             capture_output=True, text=True, timeout=120, check=False)
    # No bundle beside this copy: the dry-run ends with the code the real run would end with, and says it.
    assert planned.returncode != 0 and f"a real run would fail (exit {planned.returncode})" in planned.stderr
    assert "dry-run: nothing was changed" in planned.stdout
    log = home / ".local" / "state" / "jupyterhub-offline-installer" / "install.log"
    assert f"log: {log}" in planned.stderr
    assert log.stat().st_uid == pwd.getpwnam("nobody").pw_uid and log.stat().st_mode & 0o077 == 0


def test_missing_python_is_explained(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(REPO / "install.sh"), "--help"], capture_output=True, text=True,
                          env={**os.environ, "INSTALLER_PYTHON": "python-does-not-exist"}, check=False)
    assert done.returncode == 2
    assert "python3 is not installed" in done.stderr


@pytest.fixture
def root_owned_copy() -> Iterator[Path]:
    """A fresh copy owned by root (readable by all), with root's own ``.venv`` from an older version in it."""
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root; this run already is one")
    top = Path(tempfile.mkdtemp(prefix="installer-notmine-"))
    try:
        os.chmod(top, 0o755)
        repo = fresh_copy(top / "repo")
        venv = repo / ".venv"
        (venv / "bin").mkdir(parents=True)
        (venv / "owners-file").write_text("made by root\n")
        (venv / ".installer-deps").write_text("an older version\n")  # stale: install.sh would update it
        (top / "home").mkdir()
        subprocess.run(["chmod", "-R", "a+rX", str(top)], check=True)
        subprocess.run(["chown", "nobody:nogroup", str(top / "home")], check=True)
        yield top
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_folder_the_user_cannot_write_is_named_and_its_venv_left_alone(root_owned_copy: Path) -> None:
    """Another user runs install.sh in root's copy: the cause is the folder's permission, and root's venv stays."""
    repo, home = root_owned_copy / "repo", root_owned_copy / "home"
    as_nobody = ["runuser", "-u", "nobody", "--", "env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin",
                 f"HOME={home}", "TERM=dumb"]
    done = subprocess.run([*as_nobody, "./install.sh", "--help"], cwd=repo, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert f"{repo}/.venv is not writable by nobody (it belongs to root)" in done.stderr
    assert "sudo ./install.sh" in done.stderr and "INSTALLER_VENV" in done.stderr
    assert "-venv package is missing" not in done.stderr and "cannot remove" not in done.stderr
    assert (repo / ".venv" / "owners-file").read_text() == "made by root\n"  # never deleted, never touched
    shutil.rmtree(repo / ".venv")  # no venv yet: the folder that would hold it is named
    done = subprocess.run([*as_nobody, "./install.sh", "--help"], cwd=repo, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert f"{repo} is not writable by nobody (it belongs to root)" in done.stderr
    assert not (repo / ".venv").exists() and not (repo / ".pydeps").exists()
