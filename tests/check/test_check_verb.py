"""``./install.sh check`` against a real JupyterHub: the table, --json, --image, exit codes, the token's source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from installer.check.token import TOKEN_FILE
from installer.cli import main
from installer.errors import ExitCode
from tests.check.hub import Hub, free_port

pytestmark = pytest.mark.jupyterhub


def _profile(tmp_path: Path, *names: str) -> Path:
    images = [{"name": name, "display_name": name.title(), "image": f"registry.local/{name}:1", "default": i == 0}
              for i, name in enumerate(names)]
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump({"jupyterhub": {"images": images}}))
    return path


def _state(tmp_path: Path, token: str) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    (state / TOKEN_FILE).write_text(token + "\n")
    (state / TOKEN_FILE).chmod(0o600)
    return state


def test_json_names_the_failed_entry_and_exits_1(hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--profile", str(_profile(tmp_path, "cpu", "broken")), "--hub-url", hub.url,
                 "--state-dir", str(_state(tmp_path, hub.token)), "--timeout", "120", "--json", "--no-probes"])
    out, err = capsys.readouterr()
    assert code == ExitCode.STEP_FAILED
    document = json.loads(out)
    assert document["failed"] == ["broken"]
    assert [(e["entry"], e["ok"], e["started"]) for e in document["entries"]] == [
        ("cpu", True, True), ("broken", False, False)]
    assert "check failed: broken" in err
    assert "cpu: " in err  # the hub's progress messages, live, one line each
    assert hub.token not in out + err


def test_the_table_for_one_image(hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--profile", str(_profile(tmp_path, "cpu", "broken")), "--image", "cpu",
                 "--hub-url", hub.url, "--state-dir", str(_state(tmp_path, hub.token)), "--timeout", "120",
                 "--no-probes"])
    out, _ = capsys.readouterr()
    assert code == ExitCode.OK
    assert out.startswith("cpu") and "ok" in out and "started in" in out
    assert "broken" not in out


def test_an_unknown_image_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--profile", str(_profile(tmp_path, "cpu")), "--image", "nope",
                 "--hub-url", "http://127.0.0.1:9", "--state-dir", str(_state(tmp_path, "x" * 20))])
    assert code == ExitCode.BAD_INPUT
    assert "nope" in capsys.readouterr().err


def test_no_token_and_a_hub_that_is_down_fail_with_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = str(_profile(tmp_path, "cpu"))
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["check", "--profile", profile, "--hub-url", url, "--state-dir", str(tmp_path / "none")]) == 1
    assert TOKEN_FILE in capsys.readouterr().err
    assert main(["check", "--profile", profile, "--hub-url", url, "--state-dir", str(_state(tmp_path, "t" * 20))]) == 1
    err = capsys.readouterr().err
    assert "does not answer" in err and url in err


def test_probes_need_a_pod_the_hub_names(hub: Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A spawner that is not KubeSpawner records no pod: the entry fails saying so, and nothing is left behind."""
    code = main(["check", "--profile", str(_profile(tmp_path, "cpu")), "--hub-url", hub.url,
                 "--state-dir", str(_state(tmp_path, hub.token)), "--timeout", "120", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == ExitCode.STEP_FAILED
    [entry] = document["entries"]
    assert entry["started"] and entry["probes"][0]["found"] == "the hub names no pod for this server"
    assert "acceptance-check" not in hub.users()


def test_sigterm_during_a_spawn_exits_130_and_leaves_nothing(hub: Hub, tmp_path: Path) -> None:
    """``./install.sh check`` killed with SIGTERM (the CLI's own handler) while a server is starting."""
    import os
    import signal
    import subprocess
    import sys
    import time

    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen([sys.executable, "-m", "installer", "check", "--profile", str(_profile(tmp_path, "hang")),
                              "--hub-url", hub.url, "--state-dir", str(_state(tmp_path, hub.token)), "--no-probes"],
                             cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if "acceptance-check" in hub.users():
                model = hub.api("GET", "/users/acceptance-check")
                if isinstance(model, dict) and model.get("servers"):
                    break
            assert child.poll() is None, child.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the check never started its server")
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=120)
        assert child.returncode == ExitCode.INTERRUPTED, err
    finally:
        if child.poll() is None:
            child.kill()
    assert "acceptance-check" not in hub.users()
    assert hub.token.encode() not in err
