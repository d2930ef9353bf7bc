"""The twin's add-node and join follow the cluster agent's token rules (docs/upstream-facts.md, Clustering)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fakehost import base_host
from twin.fixture import Twin, make_twin

from installer.demo.twin.nodes import CLUSTERED_LOCK, TOKENS
from installer.demo.twin.state import lay_out_microk8s, start_containerd

pytestmark = [pytest.mark.containerd]


def _pair(tmp_path: Path, containerd: Any) -> tuple[Twin, Twin]:
    peers = tmp_path / "peers.json"
    member = make_twin(tmp_path / "m", containerd, base_host, node_name="member-1", node_ip="10.0.0.5",
                       peers=str(peers))
    node = make_twin(tmp_path / "n", containerd, base_host, node_name="node-2", node_ip="10.0.0.6", peers=str(peers))
    peers.write_text(json.dumps({"10.0.0.5": str(member.config.state_dir)}))
    for twin in (member, node):
        with twin.store.edit() as state:
            state["snaps"]["microk8s"] = {"revision": "1", "notes": "classic"}
            lay_out_microk8s(twin.config, "1")
            start_containerd(twin.config, state)
    return member, node


def test_a_token_without_expiry_works_once(tmp_path: Path, clean_containerd: Any) -> None:
    member, node = _pair(tmp_path, clean_containerd)
    made = member.run("microk8s", "add-node", "--format", "json")
    url = json.loads(made.stdout)["urls"][0]
    assert url.startswith("10.0.0.5:25000/") and len(url.split("/")[1]) == 32 and len(url.split("/")[2]) == 12
    first = node.run("microk8s", "join", url, "--worker")
    assert first.returncode == 0, first.stdout
    assert node.config.host(CLUSTERED_LOCK).exists()
    assert member.config.host(TOKENS).read_text() == ""  # consumed
    again = node.run("microk8s", "join", url, "--worker")
    assert again.returncode == 6 and "Connection failed. invalid token (500)." in again.stdout
    on_worker = node.run("microk8s", "kubectl", "get", "nodes")
    assert "acting as a node in a cluster" in on_worker.stdout
    listed = member.run("microk8s", "kubectl", "get", "nodes", "-o", "json")
    names = [n["metadata"]["name"] for n in json.loads(listed.stdout)["items"]]
    assert names == ["member-1", "node-2"]


def test_a_token_with_a_ttl_serves_many_until_it_expires(tmp_path: Path, clean_containerd: Any) -> None:
    member, node = _pair(tmp_path, clean_containerd)
    url = json.loads(member.run("microk8s", "add-node", "--token-ttl", "600", "--format", "json").stdout)["urls"][0]
    token = url.split("/")[1]
    assert node.run("microk8s", "join", url).returncode == 0
    assert token in member.config.host(TOKENS).read_text()  # kept: it has a TTL
    member.config.host(TOKENS).write_text(f"{token}|{int(time.time()) - 1}\n")  # its time is up
    late = node.run("microk8s", "join", url)
    assert late.returncode == 6 and "invalid token" in late.stdout


def test_join_refuses_what_upstream_refuses(tmp_path: Path, clean_containerd: Any) -> None:
    member, node = _pair(tmp_path, clean_containerd)
    url = json.loads(member.run("microk8s", "add-node", "--format", "json").stdout)["urls"][0]
    address, token, check = url.split("/")
    assert node.run("microk8s", "join", f"{address}/{token[:20]}").stdout.startswith("Invalid connection:")
    assert node.run("microk8s", "join", f"{address}/{token}/{'0' * 12}").returncode == 4
    assert node.run("microk8s", "join", f"10.0.0.9:25000/{token}/{check}").returncode == 5
    worker = node.run("microk8s", "join", url, "--worker")
    assert worker.returncode == 0
    assert node.run("microk8s", "add-node").returncode == 1  # a worker adds no nodes
