"""Two hosts on this machine: network namespaces joined by a veth pair, each with its own twin and containerd.

The member (``add-node``, its bundle server) runs in one namespace, the new node (``join``) in the
other; they talk over real TCP on addresses that exist only inside the namespaces. Each host is a
MicroK8s twin with its own state, fake host tree and REAL containerd; the node's ``microk8s join``
finds the member's twin through the peers file (the twin's stand-in for the cluster agent's TCP call).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import base_host
from realparts import in_ci, start_containerd
from twin.charts import build_bundle
from twin.fixture import Twin, make_twin

from installer.config.profile import Profile, load_profile
from installer.demo.twin.state import lay_out_microk8s
from installer.demo.twin.state import start_containerd as start_twin_containerd

REPO = Path(__file__).resolve().parents[2]
MEMBER_IP, NODE_IP = "10.231.16.1", "10.231.16.2"
IP = shutil.which("ip") or "/usr/sbin/ip"
"""The real ``ip`` (a twin's environment puts the twin's own ``ip`` first on PATH)."""


def _ip(*args: str) -> None:
    subprocess.run([IP, *args], check=True, capture_output=True, text=True)


@dataclass
class Hosts:
    """The two namespaces, their twins, the profile and the member's bundle."""

    member_ns: str
    node_ns: str
    member: Twin
    node: Twin
    profile: Profile
    profile_path: Path
    bundle: Path
    tmp: Path

    def env(self, twin: Twin) -> dict[str, str]:
        """A child's environment: the twin's, the repository importable."""
        return {**twin.env(), "PYTHONPATH": str(REPO)}

    def in_ns(self, ns: str, argv: list[str]) -> list[str]:
        return [IP, "netns", "exec", ns, *argv]

    def add_node(self, *extra: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
        """Start ``add-node --json`` in the member namespace; returns the process and its JSON document."""
        argv = self.in_ns(self.member_ns, [sys.executable, "-m", "installer", "add-node", "--json", "--worker",
                                           "--bundle", str(self.bundle), "--profile", str(self.profile_path),
                                           "--port", "0", *extra])
        proc = subprocess.Popen(argv, cwd=REPO, env=self.env(self.member), stdout=subprocess.PIPE,
                                stderr=(self.tmp / "add-node.err").open("a"), text=True)
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.rstrip() == "}":
                break
        assert lines, (self.tmp / "add-node.err").read_text()
        return proc, json.loads("".join(lines))

    def join(self, connection: str, url: str, sha: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """``join`` in the node namespace, as root, against the node's twin and containerd."""
        argv = self.in_ns(self.node_ns, [sys.executable, "-m", "installer", "join", connection, "--bundle-from", url,
                                         "--manifest-sha256", sha, "--worker", "--profile", str(self.profile_path),
                                         "--state-dir", str(self.tmp / "node-state"),
                                         "--host-root", str(self.node.host.root),
                                         "--containerd-socket", str(self.node.containerd.socket),
                                         "--log-file", str(self.tmp / "join.log"), "--wait-timeout", "20",
                                         "--output", "jsonl", *extra])
        return subprocess.run(argv, cwd=REPO, env=self.env(self.node), capture_output=True, text=True,
                              timeout=600, check=False)

    def run_in_node_ns(self, code: str) -> str:
        """Python code run in the node's namespace (a client on the new node); its stdout."""
        done = subprocess.run(self.in_ns(self.node_ns, [sys.executable, "-c", code]), capture_output=True,
                              text=True, timeout=120, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        return done.stdout


def _need_root_and_ip() -> None:
    problem = ("the two-host tests need root" if os.geteuid() != 0 else
               "the two-host tests need `ip` (iproute2)" if shutil.which("ip") is None else None)
    if problem:
        if in_ci():
            pytest.fail(f"CI must run them: {problem}", pytrace=False)
        pytest.skip(problem)


def write_profile(path: Path, bundle: Path) -> Path:
    """The shipped cpu profile pointed at ``bundle`` (the hub's images go to every node)."""
    data = yaml.safe_load((REPO / "profiles" / "cpu.yaml").read_text())
    data["bundle"] = str(bundle)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def make_hosts(tmp_path: Path, member_containerd: Any, node_containerd: Any,
               leave_out: tuple[str, ...] = ()) -> Iterator[Hosts]:
    """Namespaces, veth, twins and bundle; everything removed afterwards."""
    _need_root_and_ip()
    tag = f"{os.getpid() % 100000}"
    member_ns, node_ns = f"jh16m{tag}", f"jh16n{tag}"
    veth_m, veth_n = f"j16m{tag}", f"j16n{tag}"
    _ip("netns", "add", member_ns)
    _ip("netns", "add", node_ns)
    try:
        _ip("link", "add", veth_m, "type", "veth", "peer", "name", veth_n)
        _ip("link", "set", veth_m, "netns", member_ns)
        _ip("link", "set", veth_n, "netns", node_ns)
        for ns, dev, address in ((member_ns, veth_m, MEMBER_IP), (node_ns, veth_n, NODE_IP)):
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        peers = tmp_path / "peers.json"
        member = make_twin(tmp_path / "member", member_containerd, base_host, node_name="member-1",
                           node_ip=MEMBER_IP, peers=str(peers))
        node = make_twin(tmp_path / "node", node_containerd, base_host, node_name=socket.gethostname(),
                         node_ip=NODE_IP, peers=str(peers))
        peers.write_text(json.dumps({MEMBER_IP: str(member.config.state_dir)}))
        with member.store.edit() as state:  # the member runs MicroK8s already (its install is another test's)
            state["snaps"]["microk8s"] = {"revision": "1", "notes": "classic"}
            lay_out_microk8s(member.config, "1")
            start_twin_containerd(member.config, state)
        bundle = tmp_path / "offline-images"
        profile_path = write_profile(tmp_path / "cpu.yaml", bundle)
        profile = load_profile(profile_path)
        build_bundle(bundle, profile, leave_out=leave_out)
        yield Hosts(member_ns, node_ns, member, node, profile, profile_path, bundle, tmp_path)
    finally:
        subprocess.run([IP, "netns", "del", member_ns], check=False, capture_output=True)
        subprocess.run([IP, "netns", "del", node_ns], check=False, capture_output=True)


@pytest.fixture
def node_containerd(tmp_path: Path) -> Iterator[Any]:
    """The new node's own real containerd."""
    _need_root_and_ip()
    daemon = start_containerd(tmp_path)
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def hosts(tmp_path: Path, clean_containerd: Any, node_containerd: Any) -> Iterator[Hosts]:
    """Member and node, the member's containerd being the session's (emptied)."""
    yield from make_hosts(tmp_path, clean_containerd, node_containerd)
