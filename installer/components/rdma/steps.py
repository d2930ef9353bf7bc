"""RDMA shared device plugin steps: apply the generated manifests, then wait for ``rdma/<resource>``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

from installer.components.bundled import load_bundle_manifest, pin_to_bundle
from installer.components.kube import KUBECTL, WaitForNodeResourceStep, parse_json, probe
from installer.components.rdma.manifests import (
    DAEMONSET,
    HASH_ANNOTATION,
    NAMESPACE,
    image_ref,
    manifest_hash,
    rdma_manifests,
    selectors,
)
from installer.components.rdma.settings import RdmaSettings
from installer.components.release_images import ContainerdTarget, parse_documents, pod_images, require_images
from installer.engine.plan import Step, StepContext
from installer.errors import BundleError
from installer.preflight.step import host_facts

_LOGGER: Final = logging.getLogger(__name__)

MANIFEST_FILE: Final = "rdma-shared-dev-plugin.yaml"


def plugin_image(settings: RdmaSettings, bundle_dir: Path) -> str:
    """The plugin image the bundle holds (the profile's tag, or the bundle's when it pinned another).

    Raises:
        BundleError: a bundle manifest exists and holds no plugin image.
    """
    manifest = load_bundle_manifest(bundle_dir)
    pinned = pin_to_bundle({"plugin": image_ref(settings)}, manifest, ["rdma"])
    if "plugin" not in pinned:
        msg = f"the bundle has no RDMA shared device plugin image ({image_ref(settings)})"
        raise BundleError(msg, "Rebuild the bundle with RDMA enabled, or set rdma.image_tag to the tag it holds.")
    return pinned["plugin"]


class RdmaPluginStep(Step):
    """``kubectl apply`` the plugin's ConfigMap and DaemonSet generated for this host."""

    id = "rdma.plugin"
    title = "Deploy the RDMA shared device plugin"
    component = "rdma"

    def __init__(self, bundle_dir: Path, settings: RdmaSettings, *, images: ContainerdTarget | None = None) -> None:
        self.bundle_dir = bundle_dir
        self.settings = settings
        self.images = images
        """With it, every image of the manifests must be in this containerd before they are applied."""

    def inputs(self) -> Any:
        """The profile section (the host's ports are compared on the cluster itself)."""
        return {"id": self.id, "settings": self.settings.model_dump(mode="json")}

    def manifests(self, ctx: StepContext) -> tuple[str, str]:
        """``(yaml, hash)`` for this host's active ports."""
        ports = host_facts(ctx).infiniband
        image = plugin_image(self.settings, self.bundle_dir)
        return rdma_manifests(self.settings, ports, image), manifest_hash(self.settings, ports, image)

    def is_done(self, ctx: StepContext) -> bool:
        """The DaemonSet exists with the hash of exactly this configuration and image."""
        result = probe(ctx, [*KUBECTL, "-n", NAMESPACE, "get", "daemonset", DAEMONSET, "-o", "json"])
        data = parse_json(result.stdout) if result.ok else None
        if not isinstance(data, dict):
            return False
        current = ((data.get("metadata") or {}).get("annotations") or {}).get(HASH_ANNOTATION)
        return current == self.manifests(ctx)[1]

    def run(self, ctx: StepContext) -> None:
        """Write the manifests next to the other generated files and apply them."""
        facts = host_facts(ctx)
        if not any(p.active for p in facts.infiniband):
            ctx.log("no active InfiniBand/RoCE port was found: the plugin will advertise 0 devices until one is up",
                    "warning")
        chosen = selectors(self.settings, facts.infiniband)
        ctx.log("RDMA selectors: " + "; ".join(f"{k}={','.join(v)}" for k, v in chosen.items()))
        text, _ = self.manifests(ctx)
        if self.images is not None:
            uses = pod_images(parse_documents(text, f"the RDMA manifests ({MANIFEST_FILE})"))
            require_images(ctx, self.component, self.images, uses, bundle_dir=self.bundle_dir)
        path = ctx.files.write(ctx.state_dir / MANIFEST_FILE, text, mode=0o644)
        ctx.runner.run([*KUBECTL, "apply", "-f", str(path)], timeout=120,
                       hint=f"Check {path} and `microk8s kubectl -n {NAMESPACE} describe daemonset {DAEMONSET}`.")


class RdmaWaitStep(WaitForNodeResourceStep):
    """Wait until the node advertises ``rdma/<resource_name>``."""

    id = "rdma.wait"
    title = "Wait until the node advertises RDMA devices"
    component = "rdma"

    def __init__(self, settings: RdmaSettings, *, poll_interval: float = 5.0, **kwargs: Any) -> None:
        hint = (f"See `microk8s kubectl -n {NAMESPACE} logs daemonset/{DAEMONSET}`: capacity stays 0 when the "
                "selectors (rdma.vendors, rdma.interfaces, rdma.link_types) match no device or no port is ACTIVE.")
        super().__init__(f"rdma/{settings.resource_name}", settings.wait_timeout, hint,
                         poll_interval=poll_interval, **kwargs)
