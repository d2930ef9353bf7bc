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


def test_the_member_labels_a_ready_node_for_the_hardware_it_reported(tmp_path: Path, clean_containerd: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """NotReady (no calico/pause in the node's containerd): not labelled; once they are there: labelled."""
    from imagegen import make_image_archive
    from twin.fixture import use_twin

    from installer.engine.commands import RealRunner
    from installer.nodes.member import node_status

    member, node = _pair(tmp_path, clean_containerd)
    url = json.loads(member.run("microk8s", "add-node", "--format", "json").stdout)["urls"][0]
    assert node.run("microk8s", "join", url, "--worker").returncode == 0
    use_twin(monkeypatch, member)
    query = {"gpus": "8", "infiniband": "0", "role": "worker"}
    before = node_status(RealRunner(), "node-2", query)
    assert before is not None and not before["ready"]
    assert "jupyterhub-offline-installer/gpu" not in before["labels"]
    for seed, ref in enumerate(node.config.images()[:2]):
        archive = tmp_path / f"{seed}.tar"
        make_image_archive(archive, ref, seed=seed, size=1024)
        clean_containerd.ctr("images", "import", str(archive))
    after = node_status(RealRunner(), "node-2", query)
    assert after is not None and after["ready"] and after["role"] == "worker"
    listed = json.loads(member.run("microk8s", "kubectl", "get", "nodes", "node-2", "-o", "json").stdout)
    assert listed["metadata"]["labels"]["jupyterhub-offline-installer/gpu"] == "true"
    assert "jupyterhub-offline-installer/infiniband" not in listed["metadata"]["labels"]
    assert node_status(RealRunner(), "no-such-node", query) is None
