"""The hub's REST API as the twin's ``kubectl port-forward service/proxy-public`` serves it (issue 14).

No JupyterHub runs in the twin, so the forwarded port answers the few calls the
acceptance check makes, derived from the installed release's values and the twin's
cluster, never scripted per test:

* the API token must be a ``hub.services`` entry's ``apiToken`` of the deployed values, or a user
  token that service minted (``POST /users/{name}/tokens`` with ``expires_in``), which opens only
  that user's servers until it expires or is revoked (``DELETE /users/{name}/tokens/{id}``, or the
  user's deletion), as JupyterHub's ``APIToken.find`` ignores expired tokens (403 otherwise);
* a start looks up the ``profile`` slug in ``singleuser.profileList`` (an unknown slug fails,
  as KubeSpawner's ``_load_profile`` raises) and creates the user pod and its PVC as
  KubeSpawner 7.1.0 does for z2jh 4.2.0 (``pod_name_template`` ``jupyter-{user_server}``,
  ``pvc_name_template`` ``claim-{user_server}``, home volume ``volume-{user_server}`` at
  ``homeMountPath``, ``uid`` 1000, the profile's ``kubespawner_override``: image, limits,
  ``extra_resource_limits``, node selector, tolerations; the chart's extra volumes);
* the progress stream follows that pod's phase as the twin's scheduler computes it (GPUs,
  RDMA resources, images, the PVC's binding) and fails after ``singleuser.startTimeout``;
* removing a named server or the user deletes its pod and, KubeSpawner's ``delete_pvc``
  (default True, ``delete_forever``) unless ``hub.config.KubeSpawner.delete_pvc`` is false, its PVC.

The REST client itself is proven against a real JupyterHub (tests/check); this stand-in
only lets a twin install end with the check.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from installer.demo.twin import cluster, images
from installer.demo.twin.state import Config, Store

VERSION: Final = "5.3.0"
"""z2jh 4.2.0's appVersion (JupyterHub 5.3.0)."""
RELEASE: Final = "jupyterhub"
NOTEBOOK_PORT: Final = 8888
"""KubeSpawner's ``port``: where the single-user server listens in the pod."""


def release_values(state: dict[str, Any], namespace: str) -> dict[str, Any] | None:
    """The deployed hub release's values, or None."""
    history = state["releases"].get(f"{namespace}/{RELEASE}") or []
    deployed = [r for r in history if r["status"] == "deployed"]
    return deployed[-1]["values"] if deployed else None


def _tokens(values: dict[str, Any]) -> set[str]:
    services = ((values.get("hub") or {}).get("services") or {})
    return {str(s.get("apiToken")) for s in services.values() if isinstance(s, dict) and s.get("apiToken")}


def _digest(token: str) -> str:
    """What the state file keeps of a user token (as JupyterHub keeps a hash, never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def user_server(user: str, server: str) -> str:
    """KubeSpawner's ``{user_server}`` for names that are already safe slugs (the check's are)."""
    return f"{user}--{server}" if server else user


def user_objects(values: dict[str, Any], namespace: str, user: str, server: str,
                 slug: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pod and PVC KubeSpawner makes for ``user``'s ``server`` with profile ``slug``.

    Raises:
        ValueError: no such profile in ``singleuser.profileList``.
    """
    single = values.get("singleuser") or {}
    profiles = single.get("profileList") or []
    profile = next((p for p in profiles if p.get("slug") == slug), None)
    if profile is None and profiles:
        msg = f"No such profile: {slug}. Options include: {', '.join(str(p.get('slug')) for p in profiles)}"
        raise ValueError(msg)
    override = (profile or {}).get("kubespawner_override") or {}
    default_image = single.get("image") or {}
    image = override.get("image") or f"{default_image.get('name')}:{default_image.get('tag')}"
    limits: dict[str, str] = {}
    if override.get("cpu_limit") is not None:
        limits["cpu"] = str(override["cpu_limit"])
    if override.get("mem_limit") is not None:
        limits["memory"] = str(override["mem_limit"])
    limits.update({k: str(v) for k, v in (override.get("extra_resource_limits") or
                                          ((single.get("extraResource") or {}).get("limits") or {})).items()})
    name = user_server(user, server)
    storage = single.get("storage") or {}
    claim = f"claim-{name}"
    volume = f"volume-{name}"
    prefix = f"/user/{user}/{server}/" if server else f"/user/{user}/"
    container = {"name": "notebook", "image": image,
                 "imagePullPolicy": override.get("image_pull_policy") or default_image.get("pullPolicy")
                 or "IfNotPresent",
                 "resources": {"limits": limits},
                 "env": [{"name": "JUPYTERHUB_SERVICE_PREFIX", "value": prefix},
                         {"name": "JUPYTERHUB_SERVICE_URL", "value": f"http://0.0.0.0:{NOTEBOOK_PORT}{prefix}"}],
                 "volumeMounts": [{"name": volume, "mountPath": storage.get("homeMountPath") or "/home/jovyan"},
                                  *(storage.get("extraVolumeMounts") or [])]}
    spec: dict[str, Any] = {"containers": [container], "securityContext": {"runAsUser": single.get("uid", 1000)},
                            "volumes": [{"name": volume, "persistentVolumeClaim": {"claimName": claim}},
                                        *(storage.get("extraVolumes") or [])],
                            "nodeSelector": override.get("node_selector") or single.get("nodeSelector") or {},
                            "tolerations": override.get("tolerations") or []}
    metadata_block = (single.get("cloudMetadata") or {}).get("blockWithIptables", True)
    tools = ((single.get("networkTools") or {}).get("image") or {})
    if metadata_block and tools.get("name"):  # z2jh's block-cloud-metadata init container
        spec["initContainers"] = [{"name": "block-cloud-metadata", "image": f"{tools['name']}:{tools.get('tag')}",
                                   "imagePullPolicy": tools.get("pullPolicy") or "IfNotPresent"}]
    labels = {"component": "singleuser-server", "app": "jupyterhub", "hub.jupyter.org/username": user,
              "hub.jupyter.org/servername": server}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"jupyter-{name}", "namespace": namespace,
                                                           "labels": labels}, "spec": spec}
    dynamic = storage.get("dynamic") or {}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": claim, "namespace": namespace, "labels": {"hub.jupyter.org/username": user}},
           "spec": {"accessModes": dynamic.get("storageAccessModes") or ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": storage.get("capacity") or "10Gi"}},
                    **({"storageClassName": dynamic["storageClass"]} if dynamic.get("storageClass") else {})}}
    return pod, pvc


def _delete_pvc(values: dict[str, Any]) -> bool:
    return ((values.get("hub") or {}).get("config") or {}).get("KubeSpawner", {}).get("delete_pvc", True) is not False


class HubStandIn:
    """The hub's state and answers, kept in the twin's state file (``state["hub"]``)."""

    def __init__(self, config: Config, namespace: str) -> None:
        self.config = config
        self.store = Store(config)
        self.namespace = namespace

    def _pod(self, state: dict[str, Any], pod_name: str) -> cluster.PodState | None:
        images.present.cache_clear()
        return next((p for p in cluster.pods(self.config, state) if p.name == pod_name
                     and p.namespace == self.namespace), None)

    def user_model(self, state: dict[str, Any], user: str) -> dict[str, Any] | None:
        """``GET /users/{name}`` with server states (``admin:server_state``)."""
        record = (state.get("hub") or {}).get("users", {}).get(user)
        if record is None:
            return None
        servers = {}
        for server, entry in record["servers"].items():
            pod = self._pod(state, entry["pod"]) if entry.get("active") else None
            ready = pod is not None and pod.phase == "Running"
            servers[server] = {"name": server, "ready": ready,
                               "pending": "spawn" if entry.get("active") and not ready else None,
                               "url": f"/user/{user}/{server}/",
                               "state": {"pod_name": entry["pod"], "namespace": self.namespace,
                                         "pvc_name": entry["pvc"]} if entry.get("active") else {}}
        return {"kind": "user", "name": user, "admin": False, "servers": servers}

    def stop(self, state: dict[str, Any], user: str, server: str, *, remove: bool) -> None:
        """Delete the server's pod; with ``remove`` its entry and (``delete_forever``) its PVC."""
        record = state["hub"]["users"][user]
        entry = record["servers"].get(server)
        if entry is None:
            return
        cluster.delete(state, "Pod", self.namespace, entry["pod"])
        entry["active"] = False
        if remove:
            values = release_values(state, self.namespace) or {}
            if _delete_pvc(values):
                cluster.delete(state, "PersistentVolumeClaim", self.namespace, entry["pvc"])
            del record["servers"][server]


class Handler(BaseHTTPRequestHandler):
    """One request to the forwarded port."""

    hub: HubStandIn

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: kubectl port-forward prints only its own lines."""

    def _answer(self, status: int, body: Any = None) -> None:
        """Keep the answer: it is sent once the state change is written (:meth:`_route`)."""
        self._pending.append((status, body))

    def _send(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._answer(status, {"status": status, "message": message})

    def _route(self, method: str) -> None:
        self._pending: list[tuple[int, Any]] = []
        self._handle(method)
        for status, body in self._pending[:1]:
            self._send(status, body)

    def _handle(self, method: str) -> None:
        path = urllib.parse.urlsplit(self.path).path
        if not path.startswith("/hub/api"):
            self._error(404, "Not Found")
            return
        rest = path[len("/hub/api"):].rstrip("/")
        if method == "GET" and rest == "":
            self._answer(200, {"version": VERSION})
            return
        state = self.hub.store.read()
        values = release_values(state, self.hub.namespace)
        token = (self.headers.get("Authorization") or "").removeprefix("token ").strip()
        if values is None:
            self._error(503, "the hub release is not deployed")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        tokens = re.fullmatch(r"/users/([^/]+)/tokens(?:/([^/]+))?", rest)
        match = re.fullmatch(r"/users/([^/]+)(?:/servers/([^/]+)(/progress)?)?", rest)
        owner = self._owner(state, token)
        service = token in _tokens(values)
        if not service and not (owner and match and match.group(2) and urllib.parse.unquote(match.group(1)) == owner):
            self._error(403, "Action is not authorized with current scopes; requires any of [admin:users]")
            return
        if tokens is not None:
            self._tokens(method, urllib.parse.unquote(tokens.group(1)), tokens.group(2), body)
            return
        if match is None:
            self._error(404, "Not Found")
            return
        user, server, progress = (urllib.parse.unquote(g) if g else g for g in match.groups())
        if progress:
            self._progress(user, server)
        elif server:
            self._server(method, user, server, body)
        else:
            self._user(method, user)

    @staticmethod
    def _owner(state: dict[str, Any], token: str) -> str | None:
        """The user whose minted token this is, while it has not expired or been revoked."""
        record = ((state.get("hub") or {}).get("tokens") or {}).get(_digest(token)) if token else None
        return str(record["user"]) if record and record["expires"] > time.time() else None

    def _tokens(self, method: str, user: str, token_id: str | None, body: Any) -> None:
        """Mint (``POST .../tokens``) or revoke (``DELETE .../tokens/{id}``) a token of ``user``."""
        with self.hub.store.edit() as state:
            hub = state.setdefault("hub", {})
            kept = hub.setdefault("tokens", {})
            if user not in hub.setdefault("users", {}):
                self._error(404, f"No such user: {user}")
            elif method == "POST" and token_id is None:
                expires_in = (body or {}).get("expires_in") if isinstance(body, dict) else None
                if not isinstance(expires_in, int):  # the check always sets one (JupyterHub allows null: never)
                    self._error(400, f"token expires_in must be null or integer, not {expires_in!r}")
                    return
                token = secrets.token_hex(16)
                number = 1 + max((int(r["id"][1:]) for r in kept.values()), default=0)
                kept[_digest(token)] = {"user": user, "id": f"a{number}", "expires": time.time() + expires_in}
                self._answer(201, {"kind": "api_token", "id": f"a{number}", "token": token, "user": user,
                                   "scopes": list(body.get("scopes") or []), "note": body.get("note")})
            elif method == "DELETE" and token_id:
                found = [k for k, r in kept.items() if r["user"] == user and r["id"] == token_id]
                if not found:
                    self._error(404, f"No such token {token_id} for user {user}")
                    return
                del kept[found[0]]
                self._answer(204)
            else:
                self._error(405, "Method Not Allowed")

    def _user(self, method: str, user: str) -> None:
        with self.hub.store.edit() as state:
            users = state.setdefault("hub", {}).setdefault("users", {})
            if method == "GET":
                model = self.hub.user_model(state, user)
                self._answer(200, model) if model else self._error(404, "No such user")
            elif method == "POST":
                if user in users:
                    self._error(409, f"User {user} already exists")
                    return
                users[user] = {"servers": {}}
                self._answer(201, {"kind": "user", "name": user, "servers": {}})
            elif method == "DELETE":
                if user not in users:
                    self._error(404, "No such user")
                    return
                for server in list(users[user]["servers"]):
                    self.hub.stop(state, user, server, remove=True)
                del users[user]
                kept = state["hub"].get("tokens") or {}
                for key in [k for k, r in kept.items() if r["user"] == user]:  # its tokens go with it
                    del kept[key]
                self._answer(204)

    def _server(self, method: str, user: str, server: str, body: Any) -> None:
        with self.hub.store.edit() as state:
            users = state.setdefault("hub", {}).setdefault("users", {})
            if user not in users:
                self._error(404, "No such user")
                return
            if method == "DELETE":
                remove = bool(isinstance(body, dict) and body.get("remove"))
                if server not in users[user]["servers"]:
                    self._error(404, f"{user} has no server named {server}")
                    return
                self.hub.stop(state, user, server, remove=remove)
                self._answer(204)
                return
            slug = str((body or {}).get("profile") or "") if isinstance(body, dict) else ""
            values = release_values(state, self.hub.namespace) or {}
            try:
                pod, pvc = user_objects(values, self.hub.namespace, user, server, slug)
            except ValueError as error:
                self._error(500, f"Unhandled error starting {user}'s server {server}: {error}")
                return
            if cluster.get(state, "PersistentVolumeClaim", self.hub.namespace, pvc["metadata"]["name"]) is None:
                cluster.put(state, pvc)
            cluster.put(state, pod)
            users[user]["servers"][server] = {"pod": pod["metadata"]["name"], "pvc": pvc["metadata"]["name"],
                                              "active": True, "started": time.time(), "profile": slug}
            self._answer(202)

    def _send_event(self, event: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.flush()

    def _progress(self, user: str, server: str) -> None:
        """Server-sent events from the pod's phase until it runs or ``singleuser.startTimeout`` passes."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self._send_event({"progress": 0, "message": "Server requested"})
        seen = ""
        while True:
            state = self.hub.store.read()
            entry = (state.get("hub") or {}).get("users", {}).get(user, {}).get("servers", {}).get(server)
            if entry is None or not entry.get("active"):
                self._send_event({"progress": 100, "failed": True, "message": "Spawn failed: the server was stopped"})
                return
            values = release_values(state, self.hub.namespace) or {}
            timeout = float((values.get("singleuser") or {}).get("startTimeout", 300))
            pod = self.hub._pod(state, entry["pod"])
            if pod is not None and pod.phase == "Running":
                self._send_event({"progress": 100, "ready": True, "message": f"Server ready at /user/{user}/{server}/",
                                  "url": f"/user/{user}/{server}/"})
                return
            said = f"pod {entry['pod']}: {pod.reason}: {pod.message}" if pod is not None and pod.reason else \
                f"pod {entry['pod']} requested"
            if said != seen:
                self._send_event({"progress": 50, "message": said})
                seen = said
            if time.time() - entry["started"] > timeout * self.hub.config.time_scale:
                with self.hub.store.edit() as changing:
                    self.hub.stop(changing, user, server, remove=False)
                self._send_event({"progress": 100, "failed": True,
                                  "message": f"Spawn failed: pod {self.hub.namespace}/{entry['pod']} did not start "
                                             f"in {timeout:.0f} seconds! ({said})"})
                return
            self.hub.config.sleep(1)

    def do_GET(self) -> None:
        """GET."""
        self._route("GET")

    def do_POST(self) -> None:
        """POST."""
        self._route("POST")

    def do_DELETE(self) -> None:
        """DELETE."""
        self._route("DELETE")


def port_forward(config: Config, namespace: str, service: str, address: str) -> int:
    """``kubectl port-forward service/proxy-public [--address A] :80``: serve until killed."""
    state = Store(config).read()
    if cluster.get(state, "Service", namespace, service) is None:
        print(f'Error from server (NotFound): services "{service}" not found', file=sys.stderr)
        return 1
    proxy = [p for p in cluster.pods(config, state) if p.namespace == namespace and p.owner == "proxy"]
    if not proxy or not proxy[0].running:
        print("error: unable to forward port because pod is not running. Current status=Pending", file=sys.stderr)
        return 1
    handler = type("BoundHandler", (Handler,), {"hub": HubStandIn(config, namespace)})
    server = ThreadingHTTPServer((address, 0), handler)
    print(f"Forwarding from {address}:{server.server_address[1]} -> 8000", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
