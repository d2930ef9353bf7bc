"""Talking to the cluster MicroK8s runs: kubectl and Helm probes, waits, and base steps.

Every command is an argv list through ``ctx.runner`` starting with ``microk8s
kubectl`` or ``microk8s helm3``, so a recording runner can stand in for the cluster
in tests. The components build their steps on :class:`HelmChartStep` (a chart
from the bundle with generated values) and :class:`WaitForNodeResourceStep`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Final

import yaml

from installer.components.bundled import bundle_chart, require_chart
from installer.components.release_images import ContainerdTarget, ImageUse, parse_documents, pod_images, require_images
from installer.engine.commands import CommandResult
from installer.engine.plan import Step, StepContext
from installer.engine.safeparse import load_json
from installer.errors import StepFailed

KUBECTL: Final = ("microk8s", "kubectl")
HELM: Final = ("microk8s", "helm3")
PROBE_TIMEOUT: Final = 60.0
MAX_PROBE_JSON_BYTES: Final = 64 << 20
"""Largest JSON a probe may answer (``kubectl get nodes -o json`` of one node, Helm values: well under 1 MiB)."""
MAX_PROBE_JSON_NODES: Final = 2_000_000
"""Most values in a probe's JSON (a node lists every image it holds, with all their names)."""


def probe(ctx: StepContext, argv: Sequence[str], timeout: float = PROBE_TIMEOUT, *,
          secret_output: bool = False) -> CommandResult:
    """A read-only command: never raises, and a dry-run still runs it."""
    return ctx.runner.run(list(argv), timeout=timeout, check=False, mutates=False, secret_output=secret_output)


def parse_json(text: str) -> Any:
    """JSON output of a probe, or ``None`` when it is empty, not JSON, or beyond the bounds.

    Bounded (:func:`load_json`) like every document the installer did not write: a
    deeply nested answer is "no answer", never a ``RecursionError`` traceback.
    """
    try:
        return load_json(text, "command output", max_bytes=MAX_PROBE_JSON_BYTES,
                         max_nodes=MAX_PROBE_JSON_NODES) if text.strip() else None
    except ValueError:  # not JSON, or a DocumentLimit
        return None


def nodes(ctx: StepContext) -> list[dict[str, Any]]:
    """The cluster's nodes (``kubectl get nodes -o json``); empty when the API does not answer."""
    data = parse_json(probe(ctx, [*KUBECTL, "get", "nodes", "-o", "json"]).stdout)
    items = data.get("items") if isinstance(data, dict) else None
    return [n for n in items or [] if isinstance(n, dict)]


_QUANTITY: Final = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
                              r"(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_SUFFIXES: Final = {"": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
                    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
                    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20,
                    "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60}


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity (``1k``, ``1.5Gi``, ``500m``, ``12e6``) as an exact number; ``None`` if it is not one.

    The grammar is apimachinery's (kubernetes/apimachinery ``pkg/api/resource/quantity.go``):
    a signed decimal, then a binary suffix (``Ki``..``Ei``), a decimal one (``n u m k M G T P E``)
    or an exponent (``e3``/``E3``; a lone ``E`` is exa). The API server and the kubelet
    rewrite amounts into canonical form (``1000`` comes back as ``1k``), so reading them
    with ``int()`` is wrong.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return Decimal(number) * (Decimal(10) ** int(suffix[1:]))
    return Decimal(number) * _SUFFIXES[suffix]


def quantity_count(value: Any) -> int:
    """A count of an extended resource (``"8"``, ``"1k"``) as int, rounded down; anything unreadable counts as 0."""
    amount = parse_quantity(value)
    if amount is None or amount <= 0:
        return 0
    return int(amount.to_integral_value(rounding=ROUND_FLOOR))


def advertised(ctx: StepContext, resource: str) -> int:
    """How many of ``resource`` (``nvidia.com/gpu``, ``rdma/...``) the nodes advertise, summed."""
    return sum(quantity_count(((n.get("status") or {}).get("allocatable") or {}).get(resource, 0))
               for n in nodes(ctx))


def node_address(ctx: StepContext) -> str | None:
    """The first node's InternalIP, for the URL shown at the end."""
    for node in nodes(ctx):
        for address in (node.get("status") or {}).get("addresses") or []:
            if address.get("type") == "InternalIP" and address.get("address"):
                return str(address["address"])
    return None


_KUBE_VERSION: Final = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.+-]*)?$")


def kube_version(ctx: StepContext) -> str:
    """The Kubernetes version ``helm template`` must render for: the API server's, else the profile's track.

    ``helm template`` never asks the cluster; it renders for the version compiled into
    Helm (helm v3.9.1 ``pkg/chartutil/capabilities.go`` ``DefaultCapabilities``, set by
    the ``Makefile`` from its client-go v0.24.2 to v1.24.0). MicroK8s 1.30 builds that
    helm with ``make`` (canonical/microk8s branch 1.30 ``build-scripts/components/helm/``
    ``version.sh``, ``build.sh``), so without ``--kube-version`` a chart that requires a
    newer Kubernetes (z2jh 4.2.0 ``Chart.yaml``: ``kubeVersion: ">=1.28.0-0"``) never
    renders there. The API server's ``gitVersion`` (``kubectl version -o json``) is the
    truth; when it does not answer (a dry-run before MicroK8s is installed) the track's
    first release stands in for it.
    """
    result = probe(ctx, [*KUBECTL, "version", "-o", "json"], timeout=30)
    data = parse_json(result.stdout) if result.ok else None
    server = data.get("serverVersion") if isinstance(data, dict) else None
    found = server.get("gitVersion") if isinstance(server, dict) else None
    if isinstance(found, str) and _KUBE_VERSION.match(found):
        return found if found.startswith("v") else f"v{found}"
    fallback = f"v{ctx.profile.microk8s.channel}.0"
    ctx.log(f"the API server did not tell its version: Helm renders for Kubernetes {fallback} "
            f"(microk8s.channel {ctx.profile.microk8s.channel})", "info")
    return fallback


def helm_error(stderr: str) -> str:
    """Helm's own reason from its stderr: the last ``Error: ...`` line, not the advice printed after it.

    ``helm template`` ends a failed render with "Use --debug flag to render out invalid YAML"
    (helm ``cmd/helm/template.go``), which says nothing about the cause.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or ["no output"])[-1]


def dump_values(values: dict[str, Any]) -> str:
    """Helm values as YAML; strings that look like numbers stay quoted strings.

    Long strings are never folded across lines: a folded password would slip past
    the redactor, which masks whole values.
    """
    return yaml.safe_dump(values, sort_keys=False, default_flow_style=False, width=1 << 30)


def normalise_for_compare(ctx: StepContext, values: Any) -> Any:
    """``values`` as Helm would return them through our runner: JSON types, secrets masked."""
    return json.loads(ctx.runner.redact(json.dumps(values)))


@dataclass(frozen=True)
class HelmRelease:
    """What ``helm list -o json`` says about one release."""

    name: str
    namespace: str
    revision: str
    status: str
    chart: str


def helm_release(ctx: StepContext, release: str, namespace: str) -> HelmRelease | None:
    """The release named ``release`` in ``namespace`` whatever its status, or ``None``.

    ``--all``: without it ``helm list`` hides ``pending-*`` releases, the very ones an
    interrupted run leaves behind.
    """
    result = probe(ctx, [*HELM, "list", "--namespace", namespace, "--filter", f"^{re.escape(release)}$", "--all",
                         "-o", "json"])
    data = parse_json(result.stdout) if result.ok else None
    for item in data or []:
        if isinstance(item, dict) and item.get("name") == release:
            return HelmRelease(release, namespace, str(item.get("revision", "")), str(item.get("status", "")),
                               str(item.get("chart", "")))
    return None


def wait_until(ctx: StepContext, what: str, check: Callable[[], bool], *, timeout: float, interval: float,
               hint: str, clock: Callable[[], float] = time.monotonic) -> None:
    """Poll ``check`` until it is true; raise :class:`StepFailed` naming ``what`` after ``timeout`` s.

    Cancellation is honoured between polls. In a dry-run nothing is waited for: the
    cluster was not changed, so the wait is only described.
    """
    if ctx.dry_run:
        ctx.log(f"would wait up to {timeout:g} s until {what}")
        return
    start = clock()
    while True:
        if check():
            return
        elapsed = clock() - start
        if elapsed >= timeout:
            msg = f"timed out after {timeout:g} s waiting until {what}"
            raise StepFailed(msg, hint)
        ctx.progress(int(elapsed), int(timeout), unit="s", message=f"waiting until {what}")
        ctx.check_cancelled()
        ctx.cancel.wait(interval)
        ctx.check_cancelled()


# --- steps the components build on -------------------------------------------------------


def chart_names(name: str, version: str) -> set[str]:
    """How ``helm list`` may spell the chart of a release (``gpu-operator-v25.3.4``)."""
    bare = version.lstrip("v")
    return {f"{name}-{version}", f"{name}-{bare}", f"{name}-v{bare}"}


class HelmChartStep(Step):
    """``helm upgrade --install`` of a chart archive from the bundle with generated values.

    Done when the release is deployed from the same chart version with exactly the
    generated values (``helm get values -o json``), so a changed profile re-applies.
    The values file is written mode 0600 under the state folder: it can hold secrets.

    With ``images`` (the containerd the import step filled) the release is rendered
    first and every image it will run must be there, or nothing is installed.
    """

    release: str = ""
    chart_name: str = ""
    values_file: str = ""
    helm_timeout: int = 900
    render_timeout: int = 300

    def __init__(self, bundle_dir: Path, namespace: str, chart_version: str, *,
                 images: ContainerdTarget | None = None) -> None:
        self.bundle_dir = bundle_dir
        self.namespace = namespace
        self.chart_version = chart_version
        self.images = images

    def values(self, ctx: StepContext) -> dict[str, Any]:
        """The Helm values for this host and profile."""
        raise NotImplementedError

    def inputs(self) -> Any:
        """Release, namespace and chart version (the values are compared on the host itself)."""
        return {"id": self.id, "release": self.release, "namespace": self.namespace, "chart": self.chart_version}

    def is_done(self, ctx: StepContext) -> bool:
        """The release is deployed from this chart version with exactly these values."""
        found = helm_release(ctx, self.release, self.namespace)
        if found is None or found.status != "deployed" or found.chart not in chart_names(self.chart_name,
                                                                                         self.chart_version):
            return False
        # The deployed values hold the hub's and the registry's passwords, maybe older ones than
        # this profile's (which the redactor knows): compare them, never show them.
        result = probe(ctx, [*HELM, "get", "values", self.release, "--namespace", self.namespace, "-o", "json"],
                       secret_output=True)
        current = parse_json(result.stdout) if result.ok else None
        return bool(current == normalise_for_compare(ctx, self.values(ctx)))

    def values_path(self, ctx: StepContext) -> Path:
        """Where the values file goes."""
        return ctx.state_dir / self.values_file

    def recover_interrupted(self, ctx: StepContext) -> None:
        """Clear a ``pending-*`` release left by a run that was killed while Helm worked.

        Helm refuses any further upgrade of such a release ("another operation
        (install/upgrade/rollback) is in progress") and never clears it by itself. The
        install lock guarantees no other installer runs, and a killed installer's
        commands die with it, so the pending operation is known to be dead: a
        never-deployed release is uninstalled, an upgrade is rolled back to the
        previous revision; the upgrade that follows then applies the wanted values.
        """
        found = helm_release(ctx, self.release, self.namespace)
        if found is None or not found.status.startswith("pending-"):
            return
        hint = (f"Run `microk8s helm3 -n {self.namespace} history {self.release}`; if it stays {found.status}, "
                f"`microk8s helm3 -n {self.namespace} rollback {self.release}` (or uninstall) "
                "and run the install again.")
        if found.status == "pending-install":
            ctx.log(f"the release {self.release} was left {found.status} (revision {found.revision}) by an interrupted "
                    "run: uninstalling it before installing again", "warning")
            ctx.runner.run([*HELM, "uninstall", self.release, "--namespace", self.namespace], timeout=600, hint=hint)
        else:
            ctx.log(f"the release {self.release} was left {found.status} (revision {found.revision}) by an interrupted "
                    "run: rolling it back to the previous revision before upgrading", "warning")
            ctx.runner.run([*HELM, "rollback", self.release, "--namespace", self.namespace], timeout=600, hint=hint)

    def extra_helm_args(self, ctx: StepContext) -> list[str]:
        """Arguments this chart needs on ``helm upgrade --install`` besides the shared ones (none here)."""
        return []

    def render(self, ctx: StepContext, chart: Path, values_path: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
        """The release's documents from ``helm template`` with the very values file the upgrade uses.

        ``template`` renders hooks too (pre-install Jobs run their images), not the chart's
        tests (``helm test`` only). The output holds the release's Secrets: it is parsed in
        memory and never logged, and taken unmasked (a masked password inside an image name
        would change the name). A dry-run has written no values file, so it hands Helm the
        same YAML on stdin (``--values -``). ``--kube-version`` names the cluster's version
        (:func:`kube_version`): MicroK8s 1.30's helm would otherwise render for v1.24.0.
        """
        argv = [*HELM, "template", self.release, str(chart), "--namespace", self.namespace, "--skip-tests",
                "--kube-version", kube_version(ctx), "--values", "-" if ctx.dry_run else str(values_path)]
        stdin = dump_values(values).encode() if ctx.dry_run else None
        result = ctx.runner.run(argv, timeout=self.render_timeout, check=False, mutates=False, stdin=stdin,
                                secret_output=True, raw_stdout=True)
        source = f"the rendered release {self.release} (`microk8s helm3 template`)"
        if not result.ok:
            msg = f"cannot render the release {self.release} from {chart.name}: {helm_error(result.stderr)}"
            raise StepFailed(msg, "Nothing was installed. Run `microk8s helm3 template` with the values file "
                                  f"{values_path} to see the whole error.")
        documents = parse_documents(result.stdout, source)
        if not any("kind" in d for d in documents):
            first = ctx.runner.redact((result.stdout.strip().splitlines() or ["nothing"])[0][:200])
            msg = f"{source} holds no Kubernetes object (it printed: {first})"
            raise StepFailed(msg, "Run `microk8s helm3 template` by hand; on a MicroK8s cluster node use the "
                                  "control-plane node.")
        return documents

    def runtime_images(self, ctx: StepContext, documents: list[dict[str, Any]],
                       values: dict[str, Any]) -> list[ImageUse]:
        """Images the release starts later by itself, not as rendered pods (none by default)."""
        return []

    def check_images(self, ctx: StepContext, chart: Path, values_path: Path, values: dict[str, Any]) -> None:
        """Render the release and require every image it will run in containerd (a dry-run only warns)."""
        if self.images is None:
            return
        documents: list[dict[str, Any]] = []
        if chart.is_file():
            try:
                documents = self.render(ctx, chart, values_path, values)
            except StepFailed as exc:
                if not ctx.dry_run:
                    raise
                ctx.log(f"{exc.message}: the chart's images were not checked", "warning")
        uses = pod_images(documents) + self.runtime_images(ctx, documents, values)
        require_images(ctx, self.component or self.release, self.images, uses, bundle_dir=self.bundle_dir)

    def run(self, ctx: StepContext) -> None:
        """Write the values (0600), check every image is there, then upgrade or install the release."""
        values = self.values(ctx)
        path = ctx.files.write(self.values_path(ctx), dump_values(values), mode=0o600)
        chart = bundle_chart(self.bundle_dir, self.chart_name, self.chart_version)
        require_chart(ctx, chart)
        self.check_images(ctx, chart, path, values)
        self.recover_interrupted(ctx)
        ctx.runner.run([*HELM, "upgrade", "--install", self.release, str(chart), "--namespace", self.namespace,
                        "--create-namespace", "--values", str(path), "--timeout", f"{self.helm_timeout}s",
                        *self.extra_helm_args(ctx)],
                       timeout=self.helm_timeout + 120,
                       hint=f"See `microk8s kubectl -n {self.namespace} get pods` and `microk8s helm3 -n "
                            f"{self.namespace} history {self.release}`; fix the cause and run the install again.")


class WaitForNodeResourceStep(Step):
    """Wait until a node advertises an extended resource (``nvidia.com/gpu``, ``rdma/...``)."""

    poll_interval: float = 5.0

    def __init__(self, resource: str, timeout: int, hint: str, *, poll_interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.resource = resource
        self.timeout = timeout
        self.hint = hint
        self.poll_interval = poll_interval
        self.clock = clock

    def inputs(self) -> Any:
        """The resource waited for."""
        return {"id": self.id, "resource": self.resource}

    def is_done(self, ctx: StepContext) -> bool:
        """A node already advertises at least one."""
        return advertised(ctx, self.resource) > 0

    def run(self, ctx: StepContext) -> None:
        """Poll the nodes' allocatable resources."""
        wait_until(ctx, f"a node advertises {self.resource}", lambda: advertised(ctx, self.resource) > 0,
                   timeout=self.timeout, interval=self.poll_interval, hint=self.hint, clock=self.clock)
        if not ctx.dry_run:
            ctx.log(f"the node advertises {advertised(ctx, self.resource)} × {self.resource}")
