"""What the cluster says, read-only, for ``status`` and the catalog: pods, users' servers, releases.

Every question is a probe through the command runner (``microk8s kubectl`` / ``microk8s
helm3`` argv lists), so the MicroK8s twin answers in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from installer.bundle.imageref import normalize_ref
from installer.components.kube import HELM, KUBECTL, parse_json, probe
from installer.engine.plan import StepContext

SERVER_COMPONENT: Final = "singleuser-server"
"""KubeSpawner labels every user server pod ``component: singleuser-server`` and annotates it with the
unescaped user name ``hub.jupyter.org/username`` (the label of that name holds the escaped one):
jupyterhub/kubespawner ``kubespawner/spawner.py`` ``_build_common_labels``/``_build_common_annotations``."""
USER_ANNOTATION: Final = "hub.jupyter.org/username"


@dataclass(frozen=True)
class PodView:
    """One pod: whether it runs, and if not, why (the waiting container's reason first)."""

    namespace: str
    name: str
    phase: str
    reason: str
    message: str
    images: tuple[str, ...]
    labels: dict[str, str]
    annotations: dict[str, str]

    @property
    def healthy(self) -> bool:
        """Running with every container ready, or a finished Job's pod."""
        return self.phase == "Succeeded" or (self.phase == "Running" and not self.reason)

    @property
    def user(self) -> str | None:
        """The user whose server this pod is, or ``None`` for any other pod."""
        if self.labels.get("component") != SERVER_COMPONENT:
            return None
        return self.annotations.get(USER_ANNOTATION) or self.labels.get(USER_ANNOTATION) or self.name


def _pod_view(item: dict[str, Any]) -> PodView:
    meta = item.get("metadata") or {}
    status = item.get("status") or {}
    spec = item.get("spec") or {}
    reason, message = str(status.get("reason") or ""), str(status.get("message") or "")
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = (container or {}).get("state") or {}
        waiting = state.get("waiting") or state.get("terminated")
        if isinstance(waiting, dict) and waiting.get("reason") and waiting.get("reason") != "Completed":
            reason, message = str(waiting["reason"]), str(waiting.get("message") or "")
            break
    images = tuple(str(c.get("image") or "") for c in (spec.get("initContainers") or []) + (spec.get("containers")
                                                                                             or []))
    return PodView(str(meta.get("namespace") or ""), str(meta.get("name") or ""), str(status.get("phase") or ""),
                   reason, message, images, dict(meta.get("labels") or {}), dict(meta.get("annotations") or {}))


def pods(ctx: StepContext, namespace: str | None = None) -> list[PodView] | None:
    """Every pod (in ``namespace`` when given); ``None`` when the API server does not answer."""
    scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
    result = probe(ctx, [*KUBECTL, "get", "pods", *scope, "-o", "json"])
    data = parse_json(result.stdout) if result.ok else None
    if not isinstance(data, dict):
        return None
    return [_pod_view(i) for i in data.get("items") or [] if isinstance(i, dict)]


def servers_using(ctx: StepContext, namespace: str, image: str) -> list[str] | None:
    """Users whose server (running or starting) runs ``image``; ``None`` when the cluster does not answer."""
    found = pods(ctx, namespace)
    if found is None:
        return None
    wanted = normalize_ref(image)
    return sorted({p.user for p in found if p.user and p.phase in ("Running", "Pending")
                   and any(normalize_ref(i) == wanted for i in p.images if i)})


def releases(ctx: StepContext) -> list[dict[str, Any]] | None:
    """``helm list --all-namespaces --all -o json`` rows; ``None`` when Helm does not answer."""
    result = probe(ctx, [*HELM, "list", "--all-namespaces", "--all", "-o", "json"])
    data = parse_json(result.stdout) if result.ok else None
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else None


def other_nodes_warning(ctx: StepContext, what: str) -> str | None:
    """A warning when the cluster has more nodes than this one: ``what`` reached this node's containerd only.

    Each MicroK8s node has its own containerd, and an offline node cannot pull: a server
    scheduled on another node would wait for an image it cannot get (ImagePullBackOff).
    """
    from installer.components.kube import nodes

    names = sorted(str((n.get("metadata") or {}).get("name", "")) for n in nodes(ctx))
    if len(names) < 2:  # one node is this one
        return None
    return (f"this cluster has {len(names)} nodes ({', '.join(names)}); {what} went into this node's containerd only. "
            "Import it on each other node that runs notebooks (`sudo ./install.sh import --bundle DIR` there), "
            "or servers placed there wait for an image they cannot pull.")
