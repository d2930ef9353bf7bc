"""The member's bundle server: read-only HTTP, for a limited time, serving the verified bundle only.

Only names known when it starts are served: ``manifest.yaml``, each file the manifest lists
(checked against it before serving starts) and ``install.tar`` (the installer, built at start).
A request path is looked up in that table, never joined to a folder, so ``../`` reaches nothing;
each file is opened again through the bundle's link checks (:func:`bundle_path`,
:func:`open_regular`), so a file swapped for a link after the check is refused. GET and HEAD
only; ``Range: bytes=N-[M]`` for a fetch that resumes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from installer.bundle.manifest import load_manifest
from installer.bundle.safefile import UnsafeBundleFile, bundle_path, open_regular
from installer.bundle.verify import verify_bundle
from installer.errors import BundleError, StepFailed

_LOGGER: Final = logging.getLogger(__name__)

MANIFEST: Final = "manifest.yaml"
INSTALLER_TAR: Final = "install.tar"
CHUNK: Final = 1 << 20
_RANGE: Final = re.compile(r"^bytes=(\d+)-(\d*)$")
_LEFT_OUT: Final = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"}

NodeStatus = Callable[[str, dict[str, str]], dict[str, Any] | None]
"""``(node name, query) -> status document`` (None: no such node); what ``/nodes/NAME`` answers."""


def installer_tar(repo: Path, bundle: Path, target: Path) -> Path:
    """``install.tar``: the installer tree (no .git, .venv, bundle or private file) plus the bundle's Python wheels.

    The wheels let ``install.sh`` make its venv on the new node with no network; the images stay
    out (the node fetches those it needs itself).
    """
    bundle_real = Path(os.path.realpath(bundle))

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if any(p in _LEFT_OUT or p.endswith(".egg-info") for p in parts) or info.issym() or info.islnk():
            return None
        if info.isfile() and not info.mode & 0o044:  # private (a profile saved with its password): not served
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(target, "w") as tar:
        for child in sorted(repo.iterdir()):
            if (child.name in (*_LEFT_OUT, "offline-images") or child.name.endswith(".egg-info")
                    or Path(os.path.realpath(child)) == bundle_real):
                continue
            tar.add(child, arcname=child.name, filter=keep)
        wheels = bundle / "wheels"
        if wheels.is_dir() and not wheels.is_symlink():
            tar.add(wheels, arcname="offline-images/wheels", filter=keep)
    return target


@dataclass
class BundleServer:
    """Serve ``bundle`` on ``host:port`` until ``deadline`` (UNIX time), then stop by itself.

    Args:
        bundle: the offline-images folder (its manifest must verify).
        repo: the installer's own folder (for ``install.tar``); None serves no installer.
        node_status: answers ``/nodes/NAME`` (the member's view of a joining node).
    """

    bundle: Path
    host: str
    port: int
    seconds: float
    repo: Path | None = None
    node_status: NodeStatus | None = None
    files: dict[str, tuple[Path, str]] = field(default_factory=dict)
    """URL name -> (folder it is checked under, path relative to it)."""
    deadline: float = 0.0
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def prepare(self) -> str:
        """Check the bundle against its manifest and build ``install.tar``; returns the manifest's sha256.

        Raises:
            BundleError: no manifest, or a file that does not match it (named; nothing is served).
        """
        import hashlib

        manifest_path = self.bundle / MANIFEST
        manifest = load_manifest(manifest_path)
        report = verify_bundle(self.bundle, manifest)
        if not report.ok:
            first = report.failures[0]
            msg = f"the bundle does not match its manifest ({len(report.failures)} file(s)): {first.message}"
            raise BundleError(msg, "Run `./install.sh verify` and copy the named files again; nothing was served.")
        self.files = {MANIFEST: (self.bundle, MANIFEST)}
        for _, _, entry in manifest.files():
            self.files[entry.file] = (self.bundle, entry.file)
            assert_file = getattr(entry, "assert_file", None)
            if assert_file:
                self.files[assert_file] = (self.bundle, assert_file)
        if self.repo is not None:
            self._tmp = tempfile.TemporaryDirectory(prefix="bundle-server-")
            folder = Path(self._tmp.name)
            installer_tar(self.repo, self.bundle, folder / INSTALLER_TAR)
            self.files[INSTALLER_TAR] = (folder, INSTALLER_TAR)
        return hashlib.sha256(manifest_path.read_bytes()).hexdigest()

    def sha256_of(self, name: str) -> str:
        """The sha256 of a served file (``install.tar``: printed beside the curl line)."""
        import hashlib

        folder, relative = self.files[name]
        digest = hashlib.sha256()
        with open_regular(bundle_path(folder, relative)) as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def start(self) -> int:
        """Listen and serve in a thread; returns the port (a free one when asked for 0).

        Raises:
            StepFailed: the port is taken (or the address is not this host's).
        """
        handler = _handler(self)
        try:
            self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        except OSError as exc:
            msg = f"cannot serve the bundle on {self.host}:{self.port}: {exc.strerror or exc}"
            raise StepFailed(msg, "Another program uses that port (`ss -ltnp`): give --port N, or set "
                                  "microk8s.bundle_server_port in the profile.") from None
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.deadline = time.time() + self.seconds
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="bundle-server", daemon=True)
        self._thread.start()
        return self.port

    def wait(self, stop: threading.Event | None = None) -> None:
        """Block until the deadline (or ``stop``), then stop serving."""
        stop = stop or threading.Event()
        try:
            while not stop.wait(min(1.0, max(0.0, self.deadline - time.time()))):
                if time.time() >= self.deadline:
                    break
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop listening and remove ``install.tar``."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def open(self, name: str) -> tuple[Any, int] | None:
        """The open file and its size for a served name; None for anything else (or past the deadline)."""
        if time.time() >= self.deadline or name not in self.files:
            return None
        folder, relative = self.files[name]
        try:
            handle = open_regular(bundle_path(folder, relative))
        except (UnsafeBundleFile, OSError) as exc:
            _LOGGER.warning("refused %s: %s", name, exc)
            return None
        return handle, os.fstat(handle.fileno()).st_size


def _handler(server: BundleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """GET/HEAD of served names only; everything else is 404 or 405."""

        server_version = "offline-installer-bundle"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            _LOGGER.info("%s %s", self.address_string(), format % args)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _refuse(self, status: HTTPStatus) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            self._refuse(HTTPStatus.METHOD_NOT_ALLOWED)

        do_PUT = do_DELETE = do_PATCH = do_POST

        def _serve(self, *, body: bool) -> None:
            parts = urlsplit(self.path)
            name = unquote(parts.path).lstrip("/")
            if name.startswith("nodes/") and server.node_status is not None:
                self._node(name.removeprefix("nodes/"), parts.query, body=body)
                return
            _LOGGER.info("%s %s range=%s", self.command, name, self.headers.get("Range", "-"))
            opened = server.open(name)
            if opened is None:
                self._refuse(HTTPStatus.NOT_FOUND)
                return
            handle, size = opened
            with handle:
                start, end = 0, size - 1
                match = _RANGE.match(self.headers.get("Range", ""))
                if match:
                    start = int(match.group(1))
                    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
                    if start >= size or start > end:
                        self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(HTTPStatus.PARTIAL_CONTENT)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                else:
                    self.send_response(HTTPStatus.OK)
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if not body:
                    return
                handle.seek(start)
                left = end - start + 1
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    while left > 0:
                        chunk = handle.read(min(CHUNK, left))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        left -= len(chunk)

        def _node(self, name: str, query: str, *, body: bool) -> None:
            assert server.node_status is not None
            if time.time() >= server.deadline:
                self._refuse(HTTPStatus.NOT_FOUND)
                return
            fields = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            status = server.node_status(name, fields)
            if status is None:
                self._refuse(HTTPStatus.NOT_FOUND)
                return
            data = json.dumps(status).encode()
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


@contextlib.contextmanager
def serving(server: BundleServer) -> Iterator[BundleServer]:
    """Start ``server`` and stop it when the block ends (tests, and a Ctrl-C in ``add-node``)."""
    server.start()
    try:
        yield server
    finally:
        server.stop()
