"""``status``'s survey of an installation: versions, nodes, releases, the hub, failing pods, the catalog.

Read-only probes through the command runner. MicroK8s's version comes from ``snap list
microk8s`` (what ``microk8s version`` prints it from: canonical/microk8s
``scripts/wrappers/version.py``), Kubernetes's from the API server (``kubectl version -o json``).
"""

from __future__ import annotations

from typing import Any

from installer.components.jupyterhub.steps import hub_url
from installer.components.kube import KUBECTL, node_address, nodes, parse_json, probe
from installer.config.profile import Profile
from installer.daytwo.catalog import catalog_rows
from installer.daytwo.cluster import pods, releases
from installer.engine.plan import StepContext
from installer.nodes.listing import rows_from_json


def microk8s_version(ctx: StepContext) -> str | None:
    """The snap's version and revision (``v1.30.5 rev 7449``), or ``None`` when it is not installed."""
    result = probe(ctx, ["snap", "list", "microk8s"], timeout=30)
    lines = result.stdout.splitlines() if result.ok else []
    fields = lines[1].split() if len(lines) > 1 else []
    return f"{fields[1]} rev {fields[2]}" if len(fields) >= 3 and fields[0] == "microk8s" else None


def kubernetes_version(ctx: StepContext) -> str | None:
    """The API server's ``gitVersion``, or ``None`` when it does not answer."""
    result = probe(ctx, [*KUBECTL, "version", "-o", "json"], timeout=30)
    data = parse_json(result.stdout) if result.ok else None
    server = data.get("serverVersion") if isinstance(data, dict) else None
    found = server.get("gitVersion") if isinstance(server, dict) else None
    return found if isinstance(found, str) else None


def _node_rows(ctx: StepContext) -> list[dict[str, Any]]:
    """Each node's name, readiness, role, address and advertised hardware (the listing ``add-node`` users read)."""
    return [row.to_dict() for row in rows_from_json({"items": nodes(ctx)})]


def survey(ctx: StepContext, profile: Profile | None) -> dict[str, Any]:
    """Everything ``status`` shows, and ``healthy`` (every node ready, release deployed and pod running)."""
    report: dict[str, Any] = {"microk8s": microk8s_version(ctx), "kubernetes": kubernetes_version(ctx)}
    report["nodes"] = _node_rows(ctx) if report["kubernetes"] else []
    listed = releases(ctx) if report["kubernetes"] else None
    report["releases"] = [{"name": r.get("name"), "namespace": r.get("namespace"), "chart": r.get("chart"),
                           "app_version": r.get("app_version"), "status": r.get("status"),
                           "revision": str(r.get("revision", ""))} for r in listed or []]
    found = pods(ctx) if report["kubernetes"] else None
    report["failing_pods"] = [{"namespace": p.namespace, "name": p.name, "phase": p.phase, "reason": p.reason,
                               "message": p.message, "user": p.user} for p in found or [] if not p.healthy]
    report["hub_url"] = (hub_url(profile.jupyterhub, node_address(ctx)) if profile is not None and report["kubernetes"]
                         else None)
    report["catalog"] = catalog_rows(profile) if profile is not None else []
    problems = []
    if report["microk8s"] is None:
        problems.append("MicroK8s is not installed")
    elif report["kubernetes"] is None:
        problems.append("the Kubernetes API server does not answer")
    elif listed is None:  # no answer is not "no release": status must not call that healthy
        problems.append("helm did not list the releases (`microk8s helm3 list -A` failed)")
    elif found is None:
        problems.append("kubectl did not list the pods (`microk8s kubectl get pods -A` failed)")
    problems += [f"node {n['name']} is not Ready" for n in report["nodes"] if not n["ready"]]
    problems += [f"release {r['namespace']}/{r['name']} is {r['status']}" for r in report["releases"]
                 if r["status"] != "deployed"]
    problems += [f"pod {p['namespace']}/{p['name']} is {p['phase'] or 'unknown'}"
                 + (f": {p['reason']}" if p["reason"] else "") + (f" ({p['message']})" if p["message"] else "")
                 for p in report["failing_pods"]]
    report["problems"] = problems
    report["healthy"] = not problems
    return report
