"""``./install.sh status`` run without sudo still finds the root install's result file (README: the operator
who logs in again runs it to learn how the install ended), or says to use sudo; never "no install has run"."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from installer import install_run
from installer.engine.lastrun import RunRecord, write_record
from installer.errors import ExitCode, UsageError
from installer.verbs import status


@pytest.fixture
def as_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A non-root caller whose own state folder is empty; the install's folder is ``tmp_path/var``."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "home-state"))
    root_dir = tmp_path / "var"
    root_dir.mkdir()
    monkeypatch.setattr(install_run, "DEFAULT_STATE_DIR", root_dir)
    return root_dir


def test_status_without_sudo_reads_the_installs_state_folder(as_user: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_record(as_user, RunRecord(status="failed", pid=1, host="h", started=1.0, finished=2.0, exit_code=3,
                                    summary="1 of 13 steps done"))
    code = status.run(argparse.Namespace(state_dir=None))
    out = capsys.readouterr().out
    assert "no install has run" not in out, out
    assert "failed" in out and code == ExitCode.PREFLIGHT_FAILED


def test_status_without_sudo_on_a_root_only_folder_says_sudo(as_user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == as_user else real_access(path, mode))
    with pytest.raises(UsageError) as raised:
        status.run(argparse.Namespace(state_dir=None))
    assert str(as_user) in raised.value.message and "sudo ./install.sh status" in raised.value.hint
