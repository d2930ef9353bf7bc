"""The cluster's nodes as rows (for ``./install.sh status`` and the Done screen): name, role, hardware, Ready.

Read from ``microk8s kubectl get nodes -o json`` on a member. The role comes from the label MicroK8s
puts on workers (microk8s@1.32 scripts/wrappers/join.py update_cert_auth_kubelet:
``node.kubernetes.io/microk8s-worker``); the hardware from the labels ``add-node`` sets and the
extended resources the device plugins advertise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Final

from installer.engine.commands import CommandRunner

WORKER_LABEL: Final = "node.kubernetes.io/microk8s-worker"
LABEL_PREFIX: Final = "jupyterhub-offline-installer/"


@dataclass(frozen=True)
class NodeRow:
    """One node as the operator sees it."""

    name: str
    role: str
    """``worker`` or ``control-plane``."""
    ready: bool
    address: str
    gpus: int
    """``nvidia.com/gpu`` the node advertises."""
    rdma: tuple[str, ...]
    """``rdma/...`` resources it advertises."""
    hardware: tuple[str, ...]
    """From the installer's labels: ``gpu``, ``infiniband``."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def rows_from_json(document: dict[str, Any]) -> list[NodeRow]:
    """``kubectl get nodes -o json`` -> rows, sorted by name."""
    rows = []
    items = document.get("items")
    for node in items if isinstance(items, list) else [document]:  # a list (maybe empty), or one node
        meta, status = node.get("metadata") or {}, node.get("status") or {}
        labels = meta.get("labels") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        address = next((a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"),
                       "")
        resources = status.get("allocatable") or {}
        gpu_text = str(resources.get("nvidia.com/gpu", "0"))
        gpus = int(gpu_text) if gpu_text.isdigit() else 0
        hardware = tuple(sorted(k.removeprefix(LABEL_PREFIX) for k, v in labels.items()
                                if k.startswith(LABEL_PREFIX) and k != f"{LABEL_PREFIX}role" and v == "true"))
        role = "worker" if WORKER_LABEL in labels else "control-plane"
        rows.append(NodeRow(meta.get("name", ""), role, ready, address, gpus,
                            tuple(sorted(k for k in resources if k.startswith("rdma/"))), hardware))
    return sorted(rows, key=lambda r: r.name)


def node_rows(runner: CommandRunner) -> list[NodeRow]:
    """The cluster's nodes now (one read-only ``kubectl``).

    Raises:
        CommandFailed: MicroK8s does not answer (the message names the command).
    """
    result = runner.run(["microk8s", "kubectl", "get", "nodes", "-o", "json"], timeout=60, mutates=False,
                        hint="Run this on a member of the cluster (a worker has no API); `microk8s status` says why.")
    return rows_from_json(json.loads(result.stdout or "{}"))


def format_rows(rows: list[NodeRow]) -> list[str]:
    """Plain text lines: one header, one line per node."""
    lines = [f"{'NODE':<24} {'ROLE':<14} {'READY':<6} {'ADDRESS':<16} HARDWARE"]
    for row in rows:
        hardware = ", ".join([*row.hardware, *([f"{row.gpus} × nvidia.com/gpu"] if row.gpus else []), *row.rdma])
        lines.append(f"{row.name:<24} {row.role:<14} {'yes' if row.ready else 'no':<6} {row.address:<16} "
                     f"{hardware or '-'}")
    return lines
