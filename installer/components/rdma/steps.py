"""RDMA shared device plugin steps: apply the generated manifests, then wait for ``rdma/<resource>``."""

from __future__ import annotations

import logging
import re
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
from installer.errors import BundleError, StepFailed
from installer.preflight.facts import host_facts
from installer.probes.hostfs import HostFS

_LOGGER: Final = logging.getLogger(__name__)

MANIFEST_FILE: Final = "rdma-shared-dev-plugin.yaml"
CONTAINERD_ENV: Final = "/var/snap/microk8s/current/args/containerd-env"
"""Sourced by MicroK8s's ``run-containerd-with-args`` before containerd starts (microk8s 1.30-1.35)."""
CONTAINERD_SERVICE: Final = "snap.microk8s.daemon-containerd"
MEMLOCK_LINE: Final = "ulimit -l unlimited || true"
_ULIMIT_L: Final = re.compile(r"^\s*ulimit\s+-l\s+(\S+)")


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
    applied_manifest = MANIFEST_FILE
    """The file in the state folder this step applies (the uninstall deletes what it holds)."""

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


def memlock_setting(text: str) -> str | None:
    """The value of the last active ``ulimit -l`` line of a containerd-env file (``None`` when there is none)."""
    found = None
    for line in text.splitlines():
        match = _ULIMIT_L.match(line)
        if match:
            found = match.group(1)
    return found


def with_unlimited_memlock(text: str) -> str:
    """``text`` with every active ``ulimit -l`` line set to unlimited, or the line added when there is none."""
    lines = [MEMLOCK_LINE if _ULIMIT_L.match(line) else line for line in text.splitlines()]
    if memlock_setting(text) is None:
        lines += ["", "# jupyterhub-offline-installer: RDMA (NCCL's ibv_reg_mr) needs more locked memory", MEMLOCK_LINE]
    return "\n".join(lines) + "\n"


def running_memlock(ctx: StepContext) -> str | None:
    """The soft ``Max locked memory`` of MicroK8s's running containerd (``unlimited``, bytes).

    ``None`` if unknown.
    """
    result = probe(ctx, ["systemctl", "show", "--property", "MainPID", "--value", CONTAINERD_SERVICE])
    pid = result.stdout.strip() if result.ok else ""
    if not pid.isdigit() or pid == "0":
        return None
    for line in (HostFS(ctx.host_root).read(f"/proc/{pid}/limits") or "").splitlines():
        if line.startswith("Max locked memory"):
            fields = line[len("Max locked memory"):].split()
            return fields[0] if fields else None
    return None


class ContainerdMemlockStep(Step):
    """Let MicroK8s's containers lock unlimited memory, which RDMA memory registration needs.

    Upstream's ``default-args/containerd-env`` (microk8s 1.30-1.35) sets ``ulimit -l 16384``
    and says the limit is inherited by the containers; NCCL then fails in ``ibv_reg_mr``
    (NVIDIA/nccl-tests#206). Adding ``IPC_LOCK`` to the notebook instead does nothing: z2jh
    runs it as uid 1000, and a non-root container gets added capabilities only in its
    bounding/inheritable sets (kubernetes/kubernetes#56374). The file is edited in place and
    containerd restarted the way MicroK8s's own hooks do (``snapctl restart
    microk8s.daemon-containerd`` in ``snap/hooks/configure``; ``snap restart`` from outside).
    Running containers keep their limit: this runs before the notebooks exist.
    """

    id = "rdma.memlock"
    title = "Raise the locked-memory limit of MicroK8s's containers"
    component = "rdma"

    def is_done(self, ctx: StepContext) -> bool:
        """containerd-env says unlimited, and the running containerd has it (when that can be seen)."""
        text = HostFS(ctx.host_root).read(CONTAINERD_ENV)
        if text is None or memlock_setting(text) != "unlimited":
            return False
        return running_memlock(ctx) in (None, "unlimited")

    def run(self, ctx: StepContext) -> None:
        """Set ``ulimit -l unlimited`` in containerd-env (if not yet), then restart MicroK8s's containerd."""
        path = HostFS(ctx.host_root).path(CONTAINERD_ENV)
        text = HostFS(ctx.host_root).read(CONTAINERD_ENV)
        if text is None:
            if ctx.dry_run:
                ctx.log(f"would set `{MEMLOCK_LINE}` in {CONTAINERD_ENV} and restart microk8s.daemon-containerd")
                return
            msg = f"{path} does not exist, so the containers' locked-memory limit cannot be raised for RDMA"
            raise StepFailed(msg, "Is MicroK8s installed (`snap list microk8s`)? Run the install again once it is.")
        before = memlock_setting(text)
        if before != "unlimited":
            ctx.files.write(path, with_unlimited_memlock(path.read_text()), mode=path.stat().st_mode & 0o777)
            ctx.log(f"{CONTAINERD_ENV}: ulimit -l {before or '(unset)'} -> unlimited")
        ctx.runner.run(["snap", "restart", "microk8s.daemon-containerd"], timeout=300,
                       hint="See `journalctl -u snap.microk8s.daemon-containerd`; then run the install again.")
        now = None if ctx.dry_run else running_memlock(ctx)
        if now not in (None, "unlimited"):
            ctx.log(f"MicroK8s's containerd still locks at most {now} bytes after the restart: is its unit limited "
                    "(`systemctl show -p LimitMEMLOCK snap.microk8s.daemon-containerd`)? NCCL over RDMA may fail.",
                    "warning")
