"""JupyterHub steps: check the notebook images, install the chart, wait for the hub, show its URL."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from installer.check.token import SERVICE, ensure_token, save_token, token_path
from installer.components.bundled import load_bundle_manifest, pin_to_bundle
from installer.components.gpu_sharing.artifacts import sharing
from installer.components.jupyterhub.artifacts import HubImages
from installer.components.jupyterhub.image_checks import check_notebook_images
from installer.components.jupyterhub.settings import JupyterHubSettings
from installer.components.jupyterhub.spawn_images import hub_values, spawn_images
from installer.components.jupyterhub.values import chart_images, jupyterhub_values
from installer.components.kube import HELM, KUBECTL, HelmChartStep, node_address, parse_json, probe, wait_until
from installer.components.release_images import ContainerdTarget, ImageUse
from installer.engine.plan import Step, StepContext
from installer.errors import BundleError

if TYPE_CHECKING:
    from installer.config.profile import Profile

_LOGGER: Final = logging.getLogger(__name__)

RELEASE: Final = "jupyterhub"
VALUES_FILE: Final = "jupyterhub-values.yaml"
HEALTH_PATH: Final = "hub/health"


def hub_images(settings: JupyterHubSettings, bundle_dir: Path) -> HubImages:
    """The chart's images pinned to what the bundle holds.

    Raises:
        BundleError: the chart version is unknown, or the bundle lacks one of them.
    """
    wanted = chart_images(settings)
    if wanted is None:
        msg = f"no image list for the JupyterHub chart {settings.chart_version}"
        raise BundleError(msg, "Set jupyterhub.chart_version to a supported version (4.2.0).")
    keys = {"hub": wanted.hub, "proxy": wanted.proxy, "network_tools": wanted.network_tools}
    pinned = pin_to_bundle(keys, load_bundle_manifest(bundle_dir), ["jupyterhub"])
    missing = [keys[k] for k in keys if k not in pinned]
    if missing:
        msg = f"the bundle lacks JupyterHub image(s): {', '.join(missing)}"
        raise BundleError(msg, "Rebuild the bundle for this profile (`./install.sh export --profile ...`).")
    return HubImages(pinned["hub"], pinned["proxy"], pinned["network_tools"])


def values_for(profile: Profile, bundle_dir: Path, *, check_token: str | None = None) -> dict[str, Any]:
    """The JupyterHub values of ``profile`` (RDMA limits only when the RDMA plugin is installed; the
    acceptance check's hub service when its token is given)."""
    rdma = profile.rdma.resource_name if profile.rdma.enabled else None
    return jupyterhub_values(profile.jupyterhub, hub_images(profile.jupyterhub, bundle_dir), rdma_resource=rdma,
                             check_token=check_token, sharing=sharing(profile).mode)


def check_token_for(ctx: StepContext, namespace: str) -> str:
    """The acceptance check's API token, masked everywhere from now on.

    Kept in the state folder (root-only, 0600) so ``./install.sh check`` finds it and a re-run
    keeps it. A state folder without one (lost, or a fresh one) takes the deployed release's, so
    the hub is not upgraded for a new token; a dry-run writes nothing and makes one for the run only.
    """
    path = token_path(ctx.state_dir)
    token = path.read_text(encoding="ascii").strip() if path.is_file() else ""
    if not token:
        token = _deployed_check_token(ctx, namespace)
        if token and not ctx.dry_run:
            save_token(ctx.state_dir, token)
    if not token:
        token = secrets.token_hex(32) if ctx.dry_run else ensure_token(ctx.state_dir)
    ctx.runner.redact.add(token)
    return token


def _deployed_check_token(ctx: StepContext, namespace: str) -> str:
    """The check's token in the deployed release's values (read, never shown), or ``""``."""
    result = probe(ctx, [*HELM, "get", "values", RELEASE, "--namespace", namespace, "-o", "json"],
                   secret_output=True)
    values = parse_json(result.stdout) if result.ok else None
    services = ((values or {}).get("hub") or {}).get("services") or {} if isinstance(values, dict) else {}
    entry = services.get(SERVICE) if isinstance(services, dict) else None
    token = entry.get("apiToken") if isinstance(entry, dict) else None
    return token if isinstance(token, str) else ""


def register_secrets(ctx: StepContext) -> None:
    """Make sure the hub password is masked everywhere before it is first written."""
    for secret in ctx.profile.secrets():
        ctx.runner.redact.add(secret)
        ctx.files.redact.add(secret)


class NotebookImageChecksStep(Step):
    """Warn, naming the image, about catalog images that run as another UID or lack ``jupyterhub-singleuser``."""

    id = "jupyterhub.image-checks"
    title = "Check the notebook images in the bundle"
    component = "jupyterhub"

    def __init__(self, bundle_dir: Path, settings: JupyterHubSettings) -> None:
        self.bundle_dir = bundle_dir
        self.settings = settings

    def inputs(self) -> Any:
        """The catalog and the archive files' sizes and times (a new archive is checked again)."""
        manifest = load_bundle_manifest(self.bundle_dir)
        files: list[str] = []
        for image in self.settings.images:
            found = manifest.find_image(image.image) if manifest is not None else None
            if found is not None:
                path = self.bundle_dir / found[1].file
                stat = path.stat() if path.exists() else None
                files.append(f"{found[1].file}:{stat.st_size if stat else 0}:{stat.st_mtime_ns if stat else 0}")
        return {"id": self.id, "images": [i.image for i in self.settings.images if i.enabled], "files": files}

    def is_done(self, ctx: StepContext) -> bool | None:
        """Cannot be told from the host: the journal decides (the inputs include the archives)."""
        return None

    def run(self, ctx: StepContext) -> None:
        """Report each check; never fails (a warning is the operator's call)."""
        results = check_notebook_images(self.settings, self.bundle_dir, load_bundle_manifest(self.bundle_dir))
        for result in results:
            ctx.sink.emit(result.to_event())
            if result.status == "warn":
                ctx.log(f"{result.title}: {result.found}. {result.hint}", "warning")


class JupyterHubStep(HelmChartStep):
    """``helm upgrade --install jupyterhub`` from the bundle's chart with values from the profile."""

    id = "jupyterhub.install"
    title = "Install JupyterHub"
    component = "jupyterhub"
    release = RELEASE
    chart_name = "jupyterhub"
    values_file = VALUES_FILE

    def __init__(self, bundle_dir: Path, settings: JupyterHubSettings, *,
                 images: ContainerdTarget | None = None) -> None:
        super().__init__(bundle_dir, settings.namespace, settings.chart_version, images=images)
        self.settings = settings

    def is_done(self, ctx: StepContext) -> bool:
        """As for any chart, with the check's token known to the redactor before the deployed values are read."""
        check_token_for(ctx, self.namespace)
        return super().is_done(ctx)

    def values(self, ctx: StepContext) -> dict[str, Any]:
        """Values from the profile and the bundle's images."""
        register_secrets(ctx)
        return values_for(ctx.profile, self.bundle_dir, check_token=check_token_for(ctx, self.namespace))

    def runtime_images(self, ctx: StepContext, documents: list[dict[str, Any]],
                       values: dict[str, Any]) -> list[ImageUse]:
        """The user servers' images, from the values the hub will read (its rendered Secret, else ours)."""
        read = hub_values(documents)
        if read is None:
            # Not rendered (a dry-run without MicroK8s): ours, with the chart's default metadata block.
            read = {**values, "singleuser": {"cloudMetadata": {"blockWithIptables": True},
                                             **(values.get("singleuser") or {})}}
        return spawn_images(read)

    def run(self, ctx: StepContext) -> None:
        """Warn about catalog entries the cluster cannot serve, then install."""
        for image in (i for i in self.settings.images if i.enabled):
            if image.gpus and not ctx.profile.gpu_operator.enabled:
                ctx.log(f"catalog entry '{image.name}' asks for {image.gpus} GPU(s) but gpu_operator is off: "
                        "its servers will stay Pending", "warning")
            mode = sharing(ctx.profile).mode
            if (image.gpu_memory is not None or image.gpu_cores is not None) and mode != "hami":
                ctx.log(f"catalog entry '{image.name}' has a sliced GPU size but gpu_sharing.mode is {mode}: its "
                        "servers get " + ("a time-shared GPU with no memory bound" if mode == "time-slicing"
                                          else "a whole GPU"), "warning")
            if image.rdma and not ctx.profile.rdma.enabled:
                ctx.log(f"catalog entry '{image.name}' asks for RDMA but rdma is off: it gets no RDMA device",
                        "warning")
        super().run(ctx)


def hub_answers(ctx: StepContext, namespace: str) -> bool:
    """The hub's health endpoint answers through the proxy (via the API server's service proxy)."""
    path = f"/api/v1/namespaces/{namespace}/services/proxy-public:http/proxy/{HEALTH_PATH}"
    return probe(ctx, [*KUBECTL, "get", "--raw", path], timeout=30).ok


class HubWaitStep(Step):
    """Wait until the hub and proxy are rolled out and the hub answers through the proxy."""

    id = "jupyterhub.wait"
    title = "Wait until JupyterHub answers"
    component = "jupyterhub"

    def __init__(self, settings: JupyterHubSettings, *, poll_interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.poll_interval = poll_interval
        self.clock = clock

    def inputs(self) -> Any:
        """The namespace."""
        return {"id": self.id, "namespace": self.settings.namespace}

    def is_done(self, ctx: StepContext) -> bool:
        """The hub already answers."""
        return hub_answers(ctx, self.settings.namespace)

    def run(self, ctx: StepContext) -> None:
        """``rollout status`` of hub and proxy, then poll the health endpoint."""
        namespace, timeout = self.settings.namespace, self.settings.ready_timeout
        hint = (f"See `microk8s kubectl -n {namespace} get pods` and `microk8s kubectl -n {namespace} logs "
                "deploy/hub`: images must be imported and the hub's volume bound (hostpath-storage).")
        for deployment in ("hub", "proxy"):
            ctx.runner.run([*KUBECTL, "-n", namespace, "rollout", "status", f"deployment/{deployment}",
                            f"--timeout={timeout}s"], timeout=timeout + 60, hint=hint)
        wait_until(ctx, "the hub answers on /hub/health", lambda: hub_answers(ctx, namespace),
                   timeout=timeout, interval=self.poll_interval, hint=hint, clock=self.clock)


PORT_FORWARD_URL: Final = "http://127.0.0.1:8080/"
"""A ClusterIP hub answers on no node address: only through ``kubectl port-forward ... 8080:80``."""


def hub_url(settings: JupyterHubSettings, address: str | None) -> str:
    """How users reach the hub (LoadBalancer is refused by the profile: MicroK8s has none without metallb)."""
    host = address or "<node-ip>"
    if settings.service.type == "NodePort":
        return f"http://{host}:{settings.service.node_port}/"
    return PORT_FORWARD_URL


class HubUrlStep(Step):
    """Show where the hub is and how the first admin gets in (always runs: it only reports)."""

    id = "jupyterhub.url"
    title = "Show the JupyterHub address"
    component = "jupyterhub"

    def __init__(self, settings: JupyterHubSettings) -> None:
        self.settings = settings

    def is_done(self, ctx: StepContext) -> bool:
        """Never: the address is shown at the end of every run."""
        return False

    def run(self, ctx: StepContext) -> None:
        """Log the URL and hand it back in ``ctx.results`` for the summary (the Done screen, the JSON lines)."""
        url = hub_url(self.settings, None if ctx.dry_run else node_address(ctx))
        ctx.results.hub_url = url
        ctx.log(f"JupyterHub {'will be' if ctx.dry_run else 'is'} at {url}")
        if self.settings.service.type == "ClusterIP":
            ctx.log(f"the hub is ClusterIP only: `microk8s kubectl -n {self.settings.namespace} port-forward "
                    "service/proxy-public 8080:80` reaches it")
        admins = ", ".join(self.settings.admin_users)
        if self.settings.auth.type == "native":
            ctx.log(f"first login: sign up as {admins} (admins are approved at once), then approve other users "
                    "at /hub/authorize")
        else:
            ctx.log(f"log in as {admins} (or an allowed user) with the shared password from the profile")
