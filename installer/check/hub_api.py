"""A small JupyterHub REST client on the standard library (the check must run on a bare server).

Only the calls the acceptance check needs: users, named servers, the spawn progress
stream. The API token goes in the ``Authorization`` header and nowhere else; the
caller registers it with the :class:`~installer.engine.commands.Redactor` so no
message or event can show it. Endpoints: JupyterHub's REST API
(``jupyterhub/apihandlers/users.py``, checked against jupyterhub 6.1.1).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from installer.errors import StepFailed

REQUEST_TIMEOUT: Final = 30.0
"""Seconds one plain API call may take."""


class HubUnreachable(StepFailed):
    """The hub does not answer at all (down, wrong URL, refused)."""

    title = "JupyterHub unreachable"


class HubApiError(StepFailed):
    """The hub answered with an HTTP error."""

    title = "JupyterHub API error"

    def __init__(self, message: str, hint: str = "", *, status: int = 0) -> None:
        super().__init__(message, hint)
        self.status = status


class SpawnTimeout(StepFailed):
    """A server did not become ready in time."""

    title = "Server did not start in time"


@dataclass(frozen=True)
class ServerState:
    """What the hub says about one named server (``ready``, ``pending`` is ``spawn``/``stop``/None)."""

    exists: bool
    ready: bool = False
    pending: str | None = None
    url: str = ""
    state: dict[str, Any] | None = None
    """The spawner's saved state (scope ``admin:server_state``): KubeSpawner's ``pod_name`` and ``namespace``."""


class HubClient:
    """Calls the hub's API at ``{hub_url}/hub/api`` with a token.

    Args:
        hub_url: the hub's base URL (``http://host:port`` or with a base path).
        token: an API token with the ``admin:users`` and ``admin:servers`` scopes.
    """

    def __init__(self, hub_url: str, token: str, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self.api = hub_url.rstrip("/") + "/hub/api"
        self._token = token
        self.timeout = timeout

    def _open(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        request.add_header("Authorization", f"token {self._token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as error:
            detail = _error_message(error)
            hint = ("the API token is wrong, expired or lacks the admin:users/admin:servers/tokens scopes "
                    "(hub.services and hub.loadRoles in the values: run the install again to renew them)"
                    if error.code in (401, 403) else "")
            raise HubApiError(f"{method} {self.api}{path}: HTTP {error.code} {detail}".rstrip(), hint,
                              status=error.code) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise HubUnreachable(f"JupyterHub at {self.api} does not answer ({reason})",
                                 "check that the hub pod is running (microk8s kubectl get pods -n jupyterhub) "
                                 "and that the URL is right") from None

    def with_token(self, token: str) -> HubClient:
        """The same hub with another token (the test user's own)."""
        return HubClient(self.api.removesuffix("/hub/api"), token, timeout=self.timeout)

    def create_token(self, user: str, *, expires_in: int, scopes: Sequence[str], note: str) -> tuple[str, str]:
        """``POST /users/{user}/tokens`` (scope ``tokens`` on ``user``): a token of ``user`` that expires in
        ``expires_in`` seconds, limited to ``scopes``; its id (for :meth:`revoke_token`) and its secret."""
        answer = self.call("POST", f"/users/{_q(user)}/tokens",
                           {"expires_in": expires_in, "scopes": list(scopes), "note": note})
        if not isinstance(answer, dict) or not answer.get("token") or not answer.get("id"):
            raise HubApiError(f"POST {self.api}/users/{user}/tokens: the answer holds no token",
                              "is this a JupyterHub (3.0 or newer)?")
        return str(answer["id"]), str(answer["token"])

    def revoke_token(self, user: str, token_id: str) -> None:
        """``DELETE /users/{user}/tokens/{id}``; a token (or user) already gone is fine."""
        try:
            self.call("DELETE", f"/users/{_q(user)}/tokens/{_q(token_id)}")
        except HubApiError as error:
            if error.status != 404:
                raise

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; the decoded JSON answer, or None when it has no body."""
        with self._open(method, path, body) as response:
            raw = response.read()
        return json.loads(raw) if raw.strip() else None

    def version(self) -> str:
        """The hub's version (``GET /hub/api``, no scope needed): tells whether the hub answers."""
        answer = self.call("GET", "/")
        return str(answer.get("version", "")) if isinstance(answer, dict) else ""

    def create_user(self, name: str) -> None:
        """``POST /users/{name}``; a user that already exists is fine (a re-run after a crash)."""
        try:
            self.call("POST", f"/users/{_q(name)}")
        except HubApiError as error:
            if error.status != 409:
                raise

    def delete_user(self, name: str) -> None:
        """``DELETE /users/{name}``; a user already gone is fine."""
        try:
            self.call("DELETE", f"/users/{_q(name)}")
        except HubApiError as error:
            if error.status != 404:
                raise

    def user_exists(self, name: str) -> bool:
        """Whether the hub knows ``name``."""
        try:
            self.call("GET", f"/users/{_q(name)}")
        except HubApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def server(self, user: str, server: str) -> ServerState:
        """The named server's state as the user model lists it."""
        model = self.call("GET", f"/users/{_q(user)}")
        servers = model.get("servers") or {} if isinstance(model, dict) else {}
        entry = servers.get(server)
        if not isinstance(entry, dict):
            return ServerState(exists=False)
        state = entry.get("state")
        return ServerState(exists=True, ready=bool(entry.get("ready")), pending=entry.get("pending"),
                           url=str(entry.get("url") or ""), state=state if isinstance(state, dict) else None)

    def start_server(self, user: str, server: str, profile: str) -> None:
        """``POST /users/{user}/servers/{server}`` with ``user_options`` ``{"profile": slug}`` (KubeSpawner's key)."""
        self.call("POST", f"/users/{_q(user)}/servers/{_q(server)}", {"profile": profile})

    def stop_server(self, user: str, server: str, *, remove: bool = True) -> None:
        """``DELETE /users/{user}/servers/{server}`` (``remove`` deletes the named server's entry and state too).

        The hub interrupts a pending start itself; a server already gone is fine.
        """
        try:
            self.call("DELETE", f"/users/{_q(user)}/servers/{_q(server)}", {"remove": remove})
        except HubApiError as error:
            if error.status != 404:
                raise

    def progress(self, user: str, server: str, deadline: float) -> Iterator[dict[str, Any]]:
        """The spawn's progress events (server-sent events), one dict per ``data:`` message, until the stream ends.

        Raises:
            SpawnTimeout: ``deadline`` (a ``time.monotonic()`` value) passed before the stream ended.
        """
        path = f"/users/{_q(user)}/servers/{_q(server)}/progress"
        left = deadline - time.monotonic()
        if left <= 0:
            raise SpawnTimeout(f"server {server!r} of {user!r} did not become ready in time")
        # The hub sends a keep-alive comment every 8 s (SpawnProgressAPIHandler.keepalive_interval), so
        # a read times out only once the deadline has passed or the hub has stalled.
        response = self._open("GET", path, timeout=min(left + 1.0, 20.0))
        with response:
            data: list[str] = []
            while True:
                if time.monotonic() >= deadline:
                    raise SpawnTimeout(f"server {server!r} of {user!r} did not become ready in time")
                try:
                    raw = response.readline()
                except TimeoutError:
                    raise SpawnTimeout(f"server {server!r} of {user!r} did not become ready in time") from None
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    try:
                        event = json.loads("\n".join(data))
                    except json.JSONDecodeError:
                        event = {"message": "\n".join(data)}
                    data = []
                    if isinstance(event, dict):
                        yield event


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
    except (json.JSONDecodeError, OSError):
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""
