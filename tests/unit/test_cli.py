"""The command line: help with examples, exit codes, stdout/stderr discipline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from installer.cli import main
from installer.errors import ExitCode

REPO = Path(__file__).resolve().parents[2]


def test_help_shows_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "./install.sh --profile profiles/gpu.yaml --dry-run" in out
    assert "130 interrupted" in out


def test_unknown_option_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-such-option"]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "error:" in err and "unrecognized arguments" in err


def test_bad_profile_exits_2_naming_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text("jupyterhub:\n  admin_user: [alice]\n")
    assert main(["--profile", str(profile), "--dry-run"]) == ExitCode.BAD_INPUT
    captured = capsys.readouterr()
    assert f"{profile}:2: unknown key 'jupyterhub.admin_user'; did you mean 'admin_users'?" in captured.err
    assert captured.out == ""


def test_not_yaml_exits_2_with_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "bad.yaml"
    profile.write_text("a: [1, 2\nb: 3\n")
    assert main(["--profile", str(profile), "--dry-run"]) == ExitCode.BAD_INPUT
    assert f"{profile}:" in capsys.readouterr().err


def test_real_install_refuses_non_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    # The interpreter here lives under /root, so a real unprivileged user cannot run it:
    # the effective uid is what the check reads, so that is what the test changes.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code = main(["--profile", str(REPO / "profiles" / "cpu.yaml"), "--yes", "--log-file", str(tmp_path / "log")])
    assert code == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "must run as root" in err
    assert "--dry-run" in err


def test_a_missing_bundle_folder_is_bad_input_before_anything_runs(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped --bundle: exit 2 naming the folder (not exit 3 from a preflight that found no snaps)."""
    if os.geteuid() != 0:
        pytest.skip("the root check comes first for a real install")
    code = main(["--profile", str(REPO / "profiles" / "cpu.yaml"), "--bundle", str(tmp_path / "nope"), "--yes",
                 "--state-dir", str(tmp_path / "state"), "--log-file", str(tmp_path / "log")])
    assert code == ExitCode.BAD_INPUT
    assert f"bundle folder {tmp_path / 'nope'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()  # nothing was started


def test_no_terminal_and_no_profile_explains(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == ExitCode.BAD_INPUT  # pytest's stdin is not a terminal
    assert "--profile" in capsys.readouterr().err


def test_schema_verb_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == ExitCode.OK
    assert '"jupyterhub"' in capsys.readouterr().out


def test_jsonl_dry_run_prints_only_json_lines(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "installer", "--profile", str(REPO / "profiles" / "gpu.yaml"), "--dry-run",
         "--output", "jsonl", "--log-file", str(tmp_path / "log"), "--state-dir", str(tmp_path / "state")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]  # every line must be JSON
    assert done.returncode == events[-1]["exit_code"], done.stderr  # this host may fail the GPU profile's preflight
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan_started" and kinds[-1] == "plan_finished"
    assert "command" in kinds and "file" in kinds and "check" in kinds
    assert all(e["dry_run"] for e in events if e["event"] in ("file",))
    assert not (tmp_path / "state" / "journal.json").exists()  # a dry-run records nothing
