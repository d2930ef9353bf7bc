"""The check's REST half against a real JupyterHub (tests/check/hub.py): token, users, named servers,
progress events, a failed spawn, a spawn that never becomes ready, a hub that is down, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from installer.check.hub_api import HubApiError, HubClient, HubUnreachable
from installer.check.run import TEST_USER, ProbeResult, run_check, server_name
from installer.engine.events import CollectingSink, ItemFinished, StepProgress
from installer.errors import ExitCode, exit_code_for
from tests.check.hub import Hub, free_port

pytestmark = pytest.mark.jupyterhub

REPO = Path(__file__).resolve().parents[2]


def _client(hub: Hub) -> HubClient:
    return HubClient(hub.url, hub.token)


def _nothing_left(hub: Hub) -> None:
    assert TEST_USER not in hub.users()


def test_a_server_starts_is_probed_while_ready_and_everything_is_removed(hub: Hub) -> None:
    client = _client(hub)
    sink = CollectingSink()
    seen: list[tuple[str, bool]] = []

    def probe(entry: str, user: str, server: str) -> list[ProbeResult]:
        state = client.server(user, server)
        seen.append((server, state.ready))
        return [ProbeResult("ready", state.ready, f"ready={state.ready}")]

    report = run_check(client, ["cpu"], sink, probe=probe, timeout=120)

    assert report.ok, report
    assert seen == [(server_name("cpu"), True)]
    [entry] = report.entries
    assert entry.started and entry.probes[0].ok
    progress = [e for e in sink.events if isinstance(e, StepProgress)]
    assert progress and all(e.item == "cpu" for e in progress)
    assert any("ready" in e.message.lower() for e in progress), [e.message for e in progress]
    assert [e.status for e in sink.events if isinstance(e, ItemFinished)] == ["ok"]
    _nothing_left(hub)
    assert not any(hub.token in str(e.to_dict()) for e in sink.events)


def test_a_failing_probe_fails_the_entry(hub: Hub) -> None:
    report = run_check(_client(hub), ["cpu"], CollectingSink(), timeout=120,
                       probe=lambda *_: [ProbeResult("uid", False, "id -u is 0", "set runAsUser")])
    assert not report.ok and report.failed == ["cpu"]
    _nothing_left(hub)


def test_a_spawn_that_fails_is_reported_with_a_hint(hub: Hub) -> None:
    sink = CollectingSink()
    report = run_check(_client(hub), ["broken"], sink, timeout=120)
    [entry] = report.entries
    assert not entry.started and report.failed == ["broken"]
    assert entry.error and entry.hint
    assert [e.status for e in sink.events if isinstance(e, ItemFinished)] == ["failed"]
    _nothing_left(hub)


def test_a_spawn_that_never_becomes_ready_times_out_and_is_stopped(hub: Hub) -> None:
    report = run_check(_client(hub), ["hang", "cpu"], CollectingSink(), timeout=3)
    hang, cpu = report.entries
    assert not hang.started and "in time" in hang.error
    assert cpu.entry == "cpu"  # the next entry still ran
    _nothing_left(hub)


def test_a_wrong_token_is_refused_with_a_hint_and_not_shown(hub: Hub) -> None:
    client = HubClient(hub.url, "not-the-token-1234")
    with pytest.raises(HubApiError) as caught:
        run_check(client, ["cpu"], CollectingSink())
    assert caught.value.status == 403
    assert "scopes" in caught.value.hint
    assert "not-the-token-1234" not in str(caught.value)


def test_a_hub_that_is_down_is_a_clear_error_with_exit_code_1() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HubUnreachable) as caught:
        run_check(HubClient(url, "token"), ["cpu"], CollectingSink())
    assert url in str(caught.value) and caught.value.hint
    assert exit_code_for(caught.value) == ExitCode.STEP_FAILED


def test_ctrl_c_during_a_spawn_leaves_no_user_or_server(hub: Hub) -> None:
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("interrupted_child.py")), hub.url],
                             env={**os.environ, "HUB_TOKEN": hub.token, "PYTHONPATH": str(REPO)}, cwd=REPO)
    try:
        for _ in range(600):  # until the server is pending: the spawn is under way
            if TEST_USER in hub.users():
                model = hub.api("GET", f"/users/{TEST_USER}")
                assert isinstance(model, dict)
                if model.get("servers"):
                    break
            assert child.poll() is None
            time.sleep(0.1)
        else:
            pytest.fail("the check never started its server")
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=120) == 130
    finally:
        if child.poll() is None:
            child.kill()
    _nothing_left(hub)


def test_the_servers_go_through_a_short_lived_user_token_that_is_revoked_at_the_end(hub: Hub) -> None:
    client = _client(hub)
    secrets: list[str] = []
    seen: list[dict[str, object]] = []

    def probe(entry: str, user: str, server: str) -> list[ProbeResult]:
        answer = hub.api("GET", f"/users/{user}/tokens")  # the service's own look (read:tokens on the test user)
        assert isinstance(answer, dict)
        seen.extend(answer["api_tokens"])
        return []

    report = run_check(client, ["cpu"], CollectingSink(), probe=probe, timeout=120, secret=secrets.append)

    assert report.ok, report
    [token] = secrets
    assert token != hub.token
    # the check's token among the test user's (its running server has one of its own)
    mine = [m for m in seen if "acceptance check" in str(m["note"])]
    assert len(mine) == 1, seen
    [model] = mine
    assert model["expires_at"], model  # it expires by itself
    assert model["last_activity"], model  # the start and the progress went through it
    scopes = model["scopes"]
    assert isinstance(scopes, list) and f"start:servers!user={TEST_USER}" in scopes, model
    assert all(s.endswith(f"!user={TEST_USER}") and not s.startswith("admin") for s in scopes), model
    with pytest.raises(HubApiError) as caught:  # revoked (and the user removed): it opens nothing any more
        HubClient(hub.url, token).call("GET", f"/users/{TEST_USER}")
    assert caught.value.status == 403
    _nothing_left(hub)
