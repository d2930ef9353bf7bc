"""The twin hub's user tokens (installer/demo/twin/hub.py) as JupyterHub treats them: minted by the check's
service, they open only their user's servers, and stop working once expired, revoked or their user is gone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from installer.check.hub_api import HubApiError, HubClient
from installer.check.token import SERVICE
from installer.demo.twin.hub import Handler, HubStandIn
from installer.demo.twin.state import Config, Store

NS = "jupyterhub"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[HubClient]:
    """The twin hub with a deployed release whose values give the check's service its token."""
    config = Config(state_dir=tmp_path, host_root=tmp_path / "host", containerd_socket=tmp_path / "sock")
    with Store(config).edit() as state:
        state["releases"][f"{NS}/jupyterhub"] = [{"status": "deployed", "values": {
            "hub": {"services": {SERVICE: {"apiToken": "service-token"}}}}}]
    handler = type("BoundHandler", (Handler,), {"hub": HubStandIn(config, NS)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HubClient(f"http://127.0.0.1:{server.server_address[1]}", "service-token")
    finally:
        server.shutdown()
        server.server_close()


def _refused(client: HubClient, user: str) -> bool:
    try:
        client.stop_server(user, "nothing")  # 404 (no such server) is fine for an allowed token
    except HubApiError as error:
        return error.status == 403
    return False


def test_a_user_token_opens_its_users_servers_until_revoked(service: HubClient) -> None:
    service.create_user("tester")
    service.create_user("other")
    token_id, token = service.create_token("tester", expires_in=600, scopes=["servers!user"], note="check")
    own = service.with_token(token)
    assert not _refused(own, "tester")
    assert _refused(own, "other")
    with pytest.raises(HubApiError) as caught:  # not the service: cannot remove users or mint tokens
        own.delete_user("tester")
    assert caught.value.status == 403
    service.revoke_token("tester", token_id)
    assert _refused(own, "tester")
    service.revoke_token("tester", token_id)  # already gone: fine


def test_an_expired_token_and_a_deleted_users_token_are_refused(service: HubClient) -> None:
    service.create_user("tester")
    _, expired = service.create_token("tester", expires_in=0, scopes=["servers!user"], note="check")
    assert _refused(service.with_token(expired), "tester")
    _, token = service.create_token("tester", expires_in=600, scopes=["servers!user"], note="check")
    service.delete_user("tester")
    service.create_user("tester")  # a new user of the same name does not inherit the old one's token
    assert _refused(service.with_token(token), "tester")
