"""A real JupyterHub on loopback for the check's REST tests (no Kubernetes, no node.js proxy).

The hub runs from the test venv's ``jupyterhub`` package with the dummy authenticator, the
local process spawner (each server a real ``jupyterhub-singleuser``), named servers on,
and a service whose API token has the scopes the installer's ``hub.services`` entry gets.
configurable-http-proxy (node.js) is not here: the config sets a ``Proxy`` subclass that
keeps routes in memory (``should_start = False``; JupyterHub's Proxy API is pluggable,
``jupyterhub/proxy.py``), and the tests talk to the hub's own port. The profile slug
picks what the spawner runs: ``broken`` exits at once (a failed spawn), ``hang`` never
listens (a spawn that never becomes ready), anything else is a real single-user server.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from installer.check.token import SCOPES, SERVICE  # the role the install gives the check: enough for the REST flow

CONFIG = '''
import sys
from jupyterhub.proxy import Proxy

class MemoryProxy(Proxy):
    """Routes in memory: the tests reach the hub and the servers directly."""
    should_start = False
    routes = {{}}
    async def add_route(self, routespec, target, data):
        self.routes[routespec] = {{"routespec": routespec, "target": target, "data": data}}
    async def delete_route(self, routespec):
        self.routes.pop(routespec, None)
    async def get_all_routes(self):
        return dict(self.routes)

def pick_command(spawner):
    profile = (spawner.user_options or {{}}).get("profile", "")
    if profile == "broken":
        spawner.cmd = [sys.executable, "-c", "import sys; sys.exit(3)"]
    elif profile == "hang":
        spawner.cmd = [sys.executable, "-c", "import time; time.sleep(3600)"]
    else:
        spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser", "--allow-root"]

c.JupyterHub.proxy_class = MemoryProxy
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {port}
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {public_port}
c.JupyterHub.db_url = "sqlite:///{dir}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{dir}/cookie_secret"
c.JupyterHub.pid_file = "{dir}/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{dir}/home/{{username}}"
c.Spawner.pre_spawn_hook = pick_command
c.Spawner.http_timeout = 600
c.Spawner.start_timeout = 600
c.JupyterHub.allow_named_servers = True
c.JupyterHub.cleanup_servers = True
c.JupyterHub.services = [{{"name": "{service}", "api_token": open("{dir}/token").read().strip()}}]
c.JupyterHub.load_roles = [{{"name": "{service}", "scopes": {scopes!r}, "services": ["{service}"]}}]
'''


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Hub:
    """A running hub: its URL, the service's token, its process and log."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, path: str) -> object:
        """One API call with the service token (for the tests' own look at the hub)."""
        import json
        request = urllib.request.Request(f"{self.url}/hub/api{path}", method=method)
        request.add_header("Authorization", f"token {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body.strip() else None

    def users(self) -> list[str]:
        """Names of every user the hub has."""
        answer = self.api("GET", "/users")
        assert isinstance(answer, list)
        return [u["name"] for u in answer]

    def stop(self) -> None:
        """Stop the hub (and its servers: cleanup_servers)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_hub(directory: Path) -> Hub:
    """Start ``jupyterhub`` in ``directory``; wait (up to a minute) until its API answers."""
    token = secrets.token_hex(24)
    (directory / "token").write_text(token)
    (directory / "token").chmod(0o600)
    (directory / "home").mkdir()
    port = free_port()
    config = directory / "jupyterhub_config.py"
    config.write_text(CONFIG.format(port=port, public_port=free_port(), dir=directory, service=SERVICE,
                                    scopes=list(SCOPES)))
    log = directory / "hub.log"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=directory,
                                   stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    hub = Hub(url=f"http://127.0.0.1:{port}", token=token, process=process, log=log)
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"jupyterhub exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            hub.api("GET", "/")
            return hub
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    hub.stop()
    raise RuntimeError(f"jupyterhub did not answer in a minute:\n{log.read_text()[-3000:]}")
