"""More than one node: ``microk8s add-node`` on a member and ``microk8s join`` on a new node, as upstream.

Each node is its own twin (its own state folder, fake host and real containerd). A node finds the
member it joins through ``Config.peers`` (a JSON file ``{ip: member state folder}``), standing in for
the TCP call to the member's cluster agent; the token rules are the agent's:

- add-node: ``token_hex(16)`` (32 hex characters) or ``--token``; shorter than 32 is refused; appended
  to ``$SNAP_DATA/credentials/cluster-tokens.txt`` as ``TOKEN|EXPIRY`` with ``--token-ttl`` (default
  -1: no expiry, single use); refused on a node that joined another (``clustered.lock``); prints
  ``IP:PORT/TOKEN/CHECK``, CHECK the first 12 hex of the server certificate's sha256
  (microk8s@1.32 scripts/wrappers/add_token.py, microk8s-add-node.wrapper, actions/common/utils.sh
  server_cert_check, cluster_agent_port; the twin's "certificate" is the member's node name).
- join: the connection checked by get_valid_connection_parts (scripts/wrappers/join.py); the agent
  accepts a token from persistent-cluster-tokens.txt, or from cluster-tokens.txt while unexpired, and
  removes a token without expiry once used (microk8s-cluster-agent@1.32 pkg/snap/snap.go
  ConsumeClusterToken, pkg/util/token.go IsValidToken); "invalid token" is HTTP 500 and join.py prints
  ``Connection failed. invalid token (500).`` and exits 6 (join_request, extract_error); a CHECK that
  is not a prefix of the member's certificate hash exits 4; a node with the member's own IP is refused
  (pkg/api/v2/join.go, 503). A worker gets ``var/lock/clustered.lock`` and ``no-k8s-dqlite``
  (join.py mark_worker_node) and the kubelet label ``node.kubernetes.io/microk8s-worker``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from installer.demo.twin import cluster, images
from installer.demo.twin.state import SNAP_DATA, Config, Store

TOKENS = f"{SNAP_DATA}/credentials/cluster-tokens.txt"
PERSISTENT_TOKENS = f"{SNAP_DATA}/credentials/persistent-cluster-tokens.txt"
CLUSTERED_LOCK = f"{SNAP_DATA}/var/lock/clustered.lock"
NO_DQLITE = f"{SNAP_DATA}/var/lock/no-k8s-dqlite"
AGENT_PORT = 25000
WORKER_LABEL = "node.kubernetes.io/microk8s-worker"


def load_config(state_dir: Path) -> Config:
    """Another node's twin config (``Config.load`` reads this process's own)."""
    data = json.loads((state_dir / "config.json").read_text())
    data["state_dir"] = state_dir
    for key in ("state_dir", "host_root", "containerd_socket"):
        data[key] = Path(data[key])
    return Config(**data)


def cert_check(config: Config) -> str:
    """The twin's server_cert_check: 12 hex of a sha256 that is the member's own."""
    return hashlib.sha256(f"twin-server-cert:{config.node_name}".encode()).hexdigest()[:12]


def add_node(config: Config, argv: list[str]) -> int:
    """``microk8s add-node [--token-ttl S] [--token T] [--format F]``."""
    if config.host(CLUSTERED_LOCK).exists():
        print("This MicroK8s deployment is acting as a node in a cluster. Please use the microk8s add-node on "
              "the master.")
        return 1
    ttl, token, fmt = -1, None, "pretty"
    it = iter(argv)
    for arg in it:
        if arg in ("--token-ttl", "-l"):
            ttl = int(next(it))
        elif arg in ("--token", "-t"):
            token = next(it)
        elif arg == "--format":
            fmt = next(it)
    token = token if token is not None else secrets.token_hex(16)
    if len(token) < 32:
        print("Invalid token size.  It must be 32 characters long.")
        return 1
    path = config.host(TOKENS)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(f"{token}|{round(time.time()) + ttl}\n" if ttl != -1 else f"{token}\n")
    check = cert_check(config)
    url = f"{config.node_ip}:{AGENT_PORT}/{token}/{check}"
    if fmt == "json":
        print(json.dumps({"token": f"{token}/{check}", "urls": [url]}, indent=2))
    elif fmt == "token-check":
        print(f"{token}/{check}")
    else:
        print(f"From the node you wish to join to this cluster, run the following:\nmicrok8s join {url}\n")
    return 0


def _valid(token: str, path: Path) -> tuple[bool, bool]:
    """pkg/util/token.go IsValidToken: (valid, has TTL)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return False, False
    for line in lines:
        known, _, expiry = line.strip().partition("|")
        if known != token.strip():
            continue
        if not expiry:
            return True, False
        return (expiry.isdigit() and time.time() < int(expiry)), True
    return False, False


def consume(member: Config, token: str) -> bool:
    """pkg/snap/snap.go ConsumeClusterToken."""
    if _valid(token, member.host(PERSISTENT_TOKENS))[0]:
        return True
    tokens = member.host(TOKENS)
    valid, has_ttl = _valid(token, tokens)
    if valid and not has_ttl:
        kept = [line for line in tokens.read_text().splitlines() if line.strip() != token]
        tokens.write_text("".join(f"{line}\n" for line in kept))
    return valid


def _connection_error(text: str) -> str | None:
    """join.py get_valid_connection_parts, as its messages say."""
    parts = text.split("/")
    if len(parts) not in (2, 3):
        return "Expected format: <master_IP>:<master_PORT>/<token>[/<fingerprint>]"
    endpoint = parts[0].split(":")
    if len(endpoint) != 2:
        return "Expected format: <master_IP>:<master_PORT>/<token>[/<fingerprint>]"
    try:
        ipaddress.ip_address(endpoint[0])
    except ValueError:
        return "Invalid master IP"
    if not endpoint[1].isdigit():
        return "Master PORT not a number"
    if not 1 <= int(endpoint[1]) <= 65535:
        return "Master PORT not in range 1:65535"
    if len(parts[1]) < 32:
        return "Cluster token size should be at least 32 bytes"
    if len(parts) == 3 and len(parts[2]) < 12:
        return "Fingerprint should be at least 12 bytes"
    return None


def join(config: Config, argv: list[str]) -> int:
    """``microk8s join IP:PORT/TOKEN[/CHECK] [--worker]``."""
    worker = "--worker" in argv
    rest = [a for a in argv if not a.startswith("--")]
    connection = rest[0] if rest else ""
    problem = _connection_error(connection)
    if problem:
        print("Invalid connection:", problem)
        return 1
    parts = connection.split("/")
    ip, port = parts[0].split(":")
    print(f"Contacting cluster at {ip}")
    peers = json.loads(Path(config.peers).read_text()) if config.peers and Path(config.peers).exists() else {}
    if ip not in peers or int(port) != AGENT_PORT:
        print(f"Connecting to cluster failed with HTTPConnectionPool(host='{ip}', port={port}): Max retries "
              "exceeded (Connection refused).")
        return 5
    member = load_config(Path(peers[ip]))
    if len(parts) == 3 and not cert_check(member).startswith(parts[2]):
        print(f"Joining cluster failed. Could not verify the identity of {ip}. Use '--skip-verify' to skip server "
              "certificate check.")
        return 4
    if config.node_ip == member.node_ip:
        print(f"Connection failed. the joining node has the same IP ({ip}) as the node we contact (503).")
        return 6
    with Store(member).edit() as member_state:
        if not consume(member, parts[1]):
            print("Connection failed. invalid token (500).")
            return 6
        member_state.setdefault("joined", {})[config.node_name] = {
            "ip": config.node_ip, "worker": worker, "state_dir": str(config.state_dir), "labels": {}}
    if worker:
        for lock in (CLUSTERED_LOCK, NO_DQLITE):
            config.host(lock).parent.mkdir(parents=True, exist_ok=True)
            config.host(lock).touch()
        print("\nThe node has joined the cluster and will appear in the nodes list in a few seconds.\n")
    return 0


def _node_ready(node: Config) -> tuple[bool, str]:
    """A joined node turns Ready as the member's own does: calico's CNI and the pause image in ITS containerd."""
    state = Store(node).read()
    if not cluster.installed(state):
        return False, "MicroK8s is not installed on the node"
    cni, _, _ = node.images()
    if not images.has(node, cni):
        return False, "container runtime network not ready: cni plugin not initialized"
    pause = cluster.sandbox_image(node)
    if pause is None or not images.has(node, pause):
        return False, f'failed to get sandbox image "{pause}": not found in containerd (offline: import it)'
    return True, "kubelet is posting ready status"


def _daemonset_runs_on(member: Config, member_state: dict[str, Any], node: Config, name_part: str) -> bool:
    """A DaemonSet of the member named ``name_part`` runs there, and its images are in the node's containerd."""
    if not cluster.running(member, member_state, None, name_part):
        return False
    for owner, template in cluster._pod_templates(member, member_state):
        if owner["kind"] == "DaemonSet" and name_part in owner["metadata"]["name"]:
            spec = template.get("spec") or {}
            containers = (spec.get("initContainers") or []) + (spec.get("containers") or [])
            if not all(images.has(node, c.get("image") or "") for c in containers):
                return False
    return True


def joined_json(member: Config, member_state: dict[str, Any]) -> list[dict[str, Any]]:
    """Each joined node as ``kubectl get nodes -o json`` lists it on the member."""
    found = []
    for name, entry in sorted((member_state.get("joined") or {}).items()):
        node = load_config(Path(entry["state_dir"]))
        images.present.cache_clear()
        ready, why = _node_ready(node)
        resources = {"cpu": "64", "memory": "527951828Ki", "pods": "110"}
        if ready and cluster.gpu_count(node) and _daemonset_runs_on(member, member_state, node,
                                                                     "nvidia-device-plugin-daemonset"):
            resources["nvidia.com/gpu"] = cluster.format_quantity(cluster.gpu_count(node))
        if ready and cluster.rdma_devices(node) and _daemonset_runs_on(member, member_state, node, "rdma-shared-dp"):
            config_map = cluster.get(member_state, "ConfigMap", "kube-system", "rdma-devices") or {}
            data = json.loads((config_map.get("data") or {}).get("config.json") or "{}")
            for item in data.get("configList") or []:
                if any(cluster.rdma_selected(item, d) for d in cluster.rdma_devices(node)):
                    prefix = item.get("resourcePrefix") or "rdma"
                    resources[f"{prefix}/{item['resourceName']}"] = str(int(item.get("rdmaHcaMax", 0)))
        labels = {"kubernetes.io/hostname": name, "microk8s.io/cluster": "true", **entry.get("labels", {})}
        if entry.get("worker"):
            labels[WORKER_LABEL] = "microk8s-worker"
        found.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                      "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                 "reason": "KubeletReady" if ready else "KubeletNotReady",
                                                 "message": why}],
                                 "addresses": [{"type": "InternalIP", "address": entry["ip"]},
                                               {"type": "Hostname", "address": name}],
                                 "allocatable": resources, "capacity": resources}})
    return found


def label_joined(store: Store, name: str, items: list[str], overwrite: bool) -> int | None:
    """``kubectl label node NAME ...`` for a joined node; None when ``name`` is not one."""
    with store.edit() as state:
        entry = (state.get("joined") or {}).get(name)
        if entry is None:
            return None
        labels = entry.setdefault("labels", {})
        for item in items:
            if item.endswith("-"):
                labels.pop(item[:-1], None)
                continue
            key, _, value = item.partition("=")
            if key in labels and labels[key] != value and not overwrite:
                print(f"error: '{key}' already has a value ({labels[key]}), and --overwrite is false", file=sys.stderr)
                return 1
            labels[key] = value
    print(f"node/{name} labeled")
    return 0
