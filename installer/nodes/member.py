"""The member's side of a join: the token from ``microk8s add-node``, the printed commands, and what
the bundle server answers about a joining node (after labelling it for its hardware).

``microk8s add-node --token-ttl S --format json`` prints ``{"token": "TOKEN/CHECK", "urls":
["IP:PORT/TOKEN/CHECK", ...]}`` (microk8s@1.32 scripts/wrappers/add_token.py get_output_dict; the
port is the cluster agent's, 25000 unless args/cluster-agent sets another: actions/common/utils.sh
cluster_agent_port). A token with a TTL stays valid until it expires, for every node that uses it
(microk8s-cluster-agent@1.32 pkg/util/token.go IsValidToken, pkg/snap/snap.go ConsumeClusterToken).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Final

from installer.engine.commands import CommandRunner
from installer.errors import StepFailed
from installer.nodes.listing import LABEL_PREFIX, rows_from_json

GPU_RESOURCE: Final = "nvidia.com/gpu"


@dataclass(frozen=True)
class JoinInfo:
    """What ``microk8s add-node`` gave: the connection strings, one per member address."""

    token: str
    """``TOKEN/CHECK`` (secret)."""
    urls: tuple[str, ...]

    def connection(self, address: str | None) -> str:
        """The ``ADDR:PORT/TOKEN/CHECK`` for ``address`` (the first one when None)."""
        if address is None:
            return self.urls[0]
        for url in self.urls:
            if url.split(":", 1)[0] == address:
                return url
        offered = ", ".join(u.split("/", 1)[0] for u in self.urls)
        msg = f"this member has no address {address}; microk8s add-node offers {offered}"
        raise StepFailed(msg, "Give --address one of those (the one the new node reaches).")


def add_node_token(runner: CommandRunner, ttl_seconds: int) -> JoinInfo:
    """Run ``microk8s add-node`` (a token valid for ``ttl_seconds``) and read its JSON."""
    result = runner.run(["microk8s", "add-node", "--token-ttl", str(ttl_seconds), "--format", "json"],
                        timeout=120, secret_output=True, raw_stdout=True,
                        hint="Run add-node on a member (a control-plane node) where `microk8s status` says running.")
    try:
        data = json.loads(result.stdout)
        token, urls = str(data["token"]), tuple(str(u) for u in data["urls"])
    except (ValueError, KeyError, TypeError):
        msg = "microk8s add-node printed no JSON token"
        raise StepFailed(msg, "Run `microk8s add-node --format json` by hand to see why.") from None
    runner.redact.add(token.split("/", 1)[0])
    if not urls:
        msg = "microk8s add-node offers no address to join through"
        raise StepFailed(msg, "Give this member an IPv4 address the new node reaches.")
    return JoinInfo(token, urls)


def join_command(connection: str, bundle_url: str, manifest_sha256: str, *, worker: bool,
                 profile: str | None) -> str:
    """The line the operator pastes on the new node."""
    argv = ["sudo", "./install.sh", "join", connection, "--bundle-from", bundle_url,
            "--manifest-sha256", manifest_sha256]
    if profile:
        argv += ["--profile", profile]
    if worker:
        argv.append("--worker")
    return shlex.join(argv)


def fetch_installer_command(bundle_url: str, tar_sha256: str) -> str:
    """The lines that bring the installer onto the new node (checked by its sha256 before it is unpacked)."""
    return (f"mkdir jupyterhub-installer && cd jupyterhub-installer && curl -fsSL {bundle_url}/install.tar "
            f"-o install.tar && echo '{tar_sha256}  install.tar' | sha256sum -c && tar xf install.tar")


def node_status(runner: CommandRunner, name: str, query: dict[str, str]) -> dict[str, Any] | None:
    """The member's view of node ``name``; once it is Ready, labelled for the hardware it reported."""
    result = runner.run(["microk8s", "kubectl", "get", "nodes", "-o", "json"], timeout=60, check=False,
                        mutates=False)
    if not result.ok:
        return None
    document = json.loads(result.stdout or "{}")
    rows = {r.name: r for r in rows_from_json(document)}
    row = rows.get(name) or next((r for r in rows.values() if r.address == name), None)
    if row is None:
        return None
    labels = {f"{LABEL_PREFIX}role": query.get("role", "worker")}
    if query.get("gpus", "0") not in ("", "0"):
        labels[f"{LABEL_PREFIX}gpu"] = "true"
    if query.get("infiniband", "0") not in ("", "0"):
        labels[f"{LABEL_PREFIX}infiniband"] = "true"
    node = next(n for n in document.get("items") or [] if n["metadata"]["name"] == row.name)
    have = node["metadata"].get("labels") or {}
    if row.ready and any(have.get(k) != v for k, v in labels.items()):
        runner.run(["microk8s", "kubectl", "label", "node", row.name, "--overwrite",
                    *(f"{k}={v}" for k, v in sorted(labels.items()))], timeout=60, check=False)
    return {"name": row.name, "ready": row.ready, "role": row.role,
            "labels": {**have, **(labels if row.ready else {})},
            "allocatable": node.get("status", {}).get("allocatable") or {}}
