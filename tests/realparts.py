"""Start real containerd, dockerd and a loopback registry in temp folders.

These are what the installer talks to on a real host (``microk8s ctr`` is ``ctr``
against MicroK8s's containerd socket), so the import and export tests run against
them instead of fakes. Each daemon is private: its own socket, root and state
under a temp folder; nothing root-wide is touched. Used by the test fixtures and
the benchmark scripts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


class MissingBinary(RuntimeError):
    """A daemon's program is not installed (tests skip, or fail under CI)."""


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        msg = (f"'{program}' is not installed "
               "(tests/run.sh installs it: apt-get install containerd docker.io docker-registry skopeo)")
        raise MissingBinary(msg)
    return path


def _wait_for(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    msg = f"{what} did not start within {timeout:g} s; its log ends with:\n{tail}"
    raise RuntimeError(msg)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _rmtree(path: Path) -> None:
    # containerd leaves overlay mounts behind on a crash; unmount before removing.
    with contextlib.suppress(OSError):
        mounts = Path("/proc/mounts").read_text().splitlines()
        for line in reversed(mounts):
            target = line.split()[1]
            if target.startswith(str(path)):
                subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class Containerd:
    """A private containerd; ``ctr()`` talks to it like ``microk8s ctr`` does."""

    root: Path
    socket: Path
    proc: subprocess.Popen[bytes]
    namespace: str = "k8s.io"
    log: Path = field(default=Path())

    def ctr(self, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``ctr -a SOCKET -n NAMESPACE ARGS``."""
        argv = ["ctr", "-a", str(self.socket), "-n", self.namespace, *args]
        if input is not None:
            done = subprocess.run(argv, input=input, capture_output=True, check=False)
            result = subprocess.CompletedProcess(argv, done.returncode, done.stdout.decode(), done.stderr.decode())
        else:
            result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            msg = f"{' '.join(argv)} failed: {result.stderr}"
            raise RuntimeError(msg)
        return result

    def images(self) -> list[str]:
        """Refs present (without the ``sha256:`` aliases)."""
        out = self.ctr("images", "ls", "-q").stdout.split()
        return sorted(r for r in out if not r.startswith("sha256:"))

    def reset(self) -> None:
        """Remove every image so a test starts from an empty store."""
        refs = self.ctr("images", "ls", "-q").stdout.split()
        if refs:
            self.ctr("images", "rm", "--sync", *refs, check=False)

    def stop(self) -> None:
        """Stop the daemon and remove its folder."""
        _stop(self.proc)
        _rmtree(self.root)


def start_containerd(base: Path | None = None) -> Containerd:
    """Start a private containerd and wait until it answers."""
    binary = _need("containerd")
    _need("ctr")
    root = Path(tempfile.mkdtemp(prefix="ctrd-", dir=base))
    sock = root / "containerd.sock"
    config = root / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{root}/root"\n'
        f'state = "{root}/state"\n'
        "[grpc]\n"
        f'  address = "{sock}"\n'
        '[plugins."io.containerd.grpc.v1.cri"]\n'
        "  disable_apparmor = true\n"
    )
    log = root / "containerd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "--config", str(config)], stdout=out, stderr=out)
    daemon = Containerd(root, sock, proc, log=log)

    def ready() -> bool:
        if proc.poll() is not None:
            msg = f"containerd exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            raise RuntimeError(msg)
        return sock.exists() and daemon.ctr("version", check=False).returncode == 0

    _wait_for(ready, 30, "containerd", log)
    return daemon


@dataclass
class Dockerd:
    """A private dockerd; ``client`` is a ``docker.DockerClient`` bound to its socket."""

    root: Path
    socket: Path
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """``unix://`` URL of the socket (for ``--docker-host`` and the SDK)."""
        return f"unix://{self.socket}"

    @property
    def client(self):
        """A Docker SDK client for this daemon."""
        import docker

        return docker.DockerClient(base_url=self.url, timeout=120)

    def stop(self) -> None:
        """Stop the daemon and remove its folder."""
        _stop(self.proc)
        _rmtree(self.root)


def start_dockerd(base: Path | None = None) -> Dockerd:
    """Start a private dockerd (no bridge, no iptables) and wait until it answers."""
    binary = _need("dockerd")
    root = Path(tempfile.mkdtemp(prefix="dockerd-", dir=base))
    sock = root / "docker.sock"
    log = root / "dockerd.log"
    argv = [binary, "--data-root", f"{root}/data", "--exec-root", f"{root}/exec", "-H", f"unix://{sock}",
            "--pidfile", f"{root}/docker.pid", "--iptables=false", "--ip6tables=false", "--bridge=none"]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=out)
    daemon = Dockerd(root, sock, proc, log)

    def ready() -> bool:
        if proc.poll() is not None:
            msg = f"dockerd exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            raise RuntimeError(msg)
        if not sock.exists():
            return False
        try:
            return bool(daemon.client.ping())
        except Exception:  # noqa: BLE001 - not up yet
            return False

    _wait_for(ready, 60, "dockerd", log)
    return daemon


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    """A Docker registry on 127.0.0.1; ``push_archive`` puts a docker-archive into it."""

    root: Path
    address: str
    proc: subprocess.Popen[bytes]
    log: Path

    def push_archive(self, archive: Path, name: str) -> str:
        """Copy ``archive`` (docker-archive tar) to ``<address>/<name>``; returns the full ref."""
        _need("skopeo")
        ref = f"{self.address}/{name}"
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{ref}"],
            check=True, capture_output=True,
        )
        return ref

    def stop(self) -> None:
        """Stop the registry and remove its storage."""
        _stop(self.proc)
        _rmtree(self.root)


def start_registry(base: Path | None = None) -> Registry:
    """Start ``docker-registry`` on a free loopback port."""
    binary = _need("docker-registry")
    root = Path(tempfile.mkdtemp(prefix="registry-", dir=base))
    port = _free_port()
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root}/data\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = root / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=out)
    registry = Registry(root, f"127.0.0.1:{port}", proc, log)

    def ready() -> bool:
        if proc.poll() is not None:
            msg = f"docker-registry exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}"
            raise RuntimeError(msg)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
        return False

    _wait_for(ready, 30, "docker-registry", log)
    return registry


@contextlib.contextmanager
def running(starter, *args) -> Iterator:
    """Start a daemon for the duration of a ``with`` block."""
    daemon = starter(*args)
    try:
        yield daemon
    finally:
        daemon.stop()


def in_ci() -> bool:
    """True under CI, where a missing daemon must fail the run rather than skip."""
    return bool(os.environ.get("CI"))
