"""The new node's join plan: check the member's manifest and this node's needs, fetch the snaps, fetch
and import the images one archive at a time, ``microk8s join``, then wait until the member sees it.

Steps of phase "host" (they run before any cluster exists on this node), idempotent like every step:
present images are skipped before anything is fetched, a joined node is not joined again (the
single-use token would be refused: microk8s-cluster-agent@1.32 pkg/snap/snap.go ConsumeClusterToken).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from installer.bundle.importer import MICROK8S_SOCKET, ContainerdStore, ImageImporter, items_from_manifest
from installer.bundle.manifest import Manifest, SnapEntry, parse_manifest
from installer.engine.plan import ImportedImages, Step, StepContext
from installer.errors import StepFailed
from installer.nodes.fetch import download, fetch_manifest
from installer.nodes.needs import NodeNeeds, node_needs, require_in_manifest
from installer.preflight.report import BundleEstimate, ImageTarget
from installer.preflight.step import PreflightStep

if TYPE_CHECKING:
    from installer.config.profile import Profile

SNAP_DATA: Final = "/var/snap/microk8s/current"
CLUSTERED_LOCK: Final = f"{SNAP_DATA}/var/lock/clustered.lock"
"""microk8s@1.32 scripts/wrappers/join.py mark_worker_node: written when a node joins as a worker."""
JOINED_RECORD: Final = "joined.json"


@dataclass(frozen=True)
class JoinTarget:
    """Where to join and fetch from (from the command ``add-node`` printed)."""

    connection: str
    """``ADDR:PORT/TOKEN[/CHECK]`` (the token is a secret: redacted everywhere)."""
    bundle_url: str
    manifest_sha256: str
    worker: bool
    node_name: str
    spool: Path
    """Where this node keeps the fetched manifest, snaps, and the one archive being imported."""
    socket: Path = MICROK8S_SOCKET
    namespace: str = "k8s.io"
    wait_timeout: float = 600.0


def local_manifest(target: JoinTarget) -> Manifest:
    """The manifest the first step fetched and checked."""
    path = target.spool / "manifest.yaml"
    return parse_manifest(path.read_text(), path)


def node_profile(profile: Profile, needs: NodeNeeds) -> Profile:
    """``profile`` with the components this node does not run turned off (their checks do not apply here)."""
    changes = {key: getattr(profile, key).model_copy(update={"enabled": False}) for key in needs.skipped}
    return profile.model_copy(update=changes)


class NodePreflightStep(PreflightStep):
    """The install's preflight, for what this node will run (a CPU worker of a GPU cluster needs no GPU)."""

    title = "Check this node"
    component = "nodes"

    def __init__(self, target: JoinTarget) -> None:
        super().__init__(target.spool, images_target=ImageTarget(target.socket, target.namespace))
        self.target = target

    def run(self, ctx: StepContext) -> None:
        """Probe, then the checks with the node's own profile."""
        from installer.preflight.facts import host_facts

        needs = node_needs(ctx.profile, host_facts(ctx))
        manifest = local_manifest(self.target)
        wanted = set(needs.refs)
        sizes = [e.content_size or e.size for _, e in manifest.images() if set(e.all_refs()) & wanted]
        self.bundle = BundleEstimate(sum(sizes) if sizes else None, manifest.find_snap("microk8s") is not None)
        whole = ctx.profile
        ctx.profile = node_profile(whole, needs)
        try:
            super().run(ctx)
        finally:
            ctx.profile = whole


class CheckMemberStep(Step):
    """Fetch the manifest, check its sha256, and check the bundle holds every image this node needs."""

    id = "nodes.manifest"
    title = "Check the member's bundle against this node"
    component = "nodes"

    def __init__(self, target: JoinTarget) -> None:
        self.target = target

    def is_done(self, ctx: StepContext) -> bool:
        """Never: it changes nothing and guards every later step, so it runs on every run."""
        return False

    def run(self, ctx: StepContext) -> None:
        """Fetch and check; the manifest is kept in the spool for the later steps."""
        from installer.preflight.facts import host_facts

        manifest, data = fetch_manifest(self.target.bundle_url, self.target.manifest_sha256)
        needs = node_needs(ctx.profile, host_facts(ctx))
        require_in_manifest(needs, manifest, self.target.bundle_url)
        if not ctx.dry_run:
            self.target.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
            (self.target.spool / "manifest.yaml").write_bytes(data)
        ctx.log(f"this node runs {', '.join(needs.components)}"
                + (f"; not {', '.join(needs.skipped)} (no such hardware here)" if needs.skipped else "")
                + f": {len(needs.refs)} image(s)")


class FetchSnapsStep(Step):
    """Fetch the snaps (and their assertions) the MicroK8s install step then installs from the spool."""

    id = "nodes.snaps"
    title = "Fetch the MicroK8s snaps from the member"
    component = "nodes"

    def __init__(self, target: JoinTarget) -> None:
        self.target = target

    def is_done(self, ctx: StepContext) -> bool:
        """MicroK8s is installed already."""
        from installer.components.microk8s.steps import installed_snap_revision

        return installed_snap_revision(ctx, "microk8s") is not None

    def run(self, ctx: StepContext) -> None:
        """Each listed snap and assertion, resumed and checked like the images."""
        manifest = local_manifest(self.target)
        for _, _, entry in manifest.files():
            if not isinstance(entry, SnapEntry) or ctx.dry_run:
                continue
            download(self.target.bundle_url, entry.file, entry.size, entry.sha256, self.target.spool / entry.file,
                     cancel=ctx.cancel)
            download(self.target.bundle_url, entry.assert_file, entry.assert_size, entry.assert_sha256,
                     self.target.spool / entry.assert_file, cancel=ctx.cancel)


class FetchImagesStep(Step):
    """Fetch, verify and import the node's images one archive at a time (only one on disk at once).

    The import is the local import's (:class:`ImageImporter`): the same progress events, skip of
    what containerd holds with the same image ID, retries, and pinning.
    """

    id = "nodes.images"
    title = "Fetch and import this node's images from the member"
    component = "nodes"

    def __init__(self, target: JoinTarget) -> None:
        self.target = target

    def _needs(self, ctx: StepContext) -> NodeNeeds:
        from installer.preflight.facts import host_facts

        return node_needs(ctx.profile, host_facts(ctx))

    def _importer(self, ctx: StepContext) -> ImageImporter:
        store = ContainerdStore(ctx.runner, self.target.socket, self.target.namespace)
        return ImageImporter(store, sink=ctx.sink, step_id=self.id, jobs=1, cancel=ctx.cancel)

    def _items(self, ctx: StepContext) -> list[Any]:
        manifest = local_manifest(self.target)
        wanted = set(self._needs(ctx).refs)
        entries = [(c, e) for c, e in manifest.images() if set(e.all_refs()) & wanted]
        return items_from_manifest(self.target.spool, entries)

    def is_done(self, ctx: StepContext) -> bool | None:
        """Every needed image is in containerd with the manifest's image ID."""
        try:
            items = self._items(ctx)
        except OSError:
            return None
        return bool(items) and not self._importer(ctx).missing(items)

    def run(self, ctx: StepContext) -> None:
        """Fetch then import each missing archive; its file is removed once imported."""
        importer = self._importer(ctx)
        todo = importer.missing(self._items(ctx))
        total = sum(i.size for i in todo)
        imported = failed = 0
        fetched_before = 0
        for item in todo:
            ctx.check_cancelled()
            if ctx.dry_run:
                ctx.log(f"would fetch and import {item.name} ({item.size} bytes)")
                continue
            assert item.sha256 is not None

            def progress(done: int, size: int, item_name: str = item.name, base: int = fetched_before) -> None:
                ctx.progress(done, size, item=item_name, overall_done=base + done, overall_total=total,
                             message="fetching")

            download(self.target.bundle_url, item.name, item.size, item.sha256, item.path, on_bytes=progress,
                     cancel=ctx.cancel)
            fetched_before += item.size
            report = importer.run([item])
            item.path.unlink(missing_ok=True)
            imported += report.count("ok")
            if not report.ok:
                failed += 1
                first = report.failed[0]
                msg = f"importing {item.name} ({item.label}) failed: {first.reason}"
                raise StepFailed(msg, "Fix the cause named above and run the same join command again.")
        ctx.results.images = ImportedImages(imported=imported, failed=failed, bytes_imported=fetched_before)


class JoinStep(Step):
    """``microk8s join ADDR:PORT/TOKEN [--worker]``; skipped once this node has joined."""

    id = "nodes.join"
    title = "Join the cluster"
    component = "nodes"

    def __init__(self, target: JoinTarget) -> None:
        self.target = target

    def inputs(self) -> Any:
        """The member's address (never the token) and the role."""
        return {"id": self.id, "member": self.target.connection.split("/", 1)[0], "worker": self.target.worker}

    def is_done(self, ctx: StepContext) -> bool:
        """A worker has MicroK8s's clustered lock; a control-plane node our record of its join."""
        if (ctx.host_root / CLUSTERED_LOCK.lstrip("/")).exists():
            return True
        return (ctx.state_dir / JOINED_RECORD).exists()

    def run(self, ctx: StepContext) -> None:
        """Join; the record lets a re-run skip it."""
        ctx.runner.redact.add(self.target.connection.split("/", 1)[1])
        argv = ["microk8s", "join", self.target.connection] + (["--worker"] if self.target.worker else [])
        ctx.runner.run(argv, timeout=600, hint=(
            "A token works once (and until its time ends): run `./install.sh add-node` on the member again for a "
            "new command. 'invalid token' means it was used or expired."))
        if not ctx.dry_run:
            record = {"member": self.target.connection.split("/", 1)[0], "worker": self.target.worker,
                      "joined": time.time()}
            ctx.files.write(ctx.state_dir / JOINED_RECORD, json.dumps(record) + "\n", mode=0o600)


def member_status(bundle_url: str, node: str, needs: NodeNeeds, worker: bool) -> dict[str, Any] | None:
    """What the member's ``add-node`` server says of ``node`` (None: it does not list it yet)."""
    query = f"gpus={needs.gpus}&infiniband={needs.infiniband}&role={'worker' if worker else 'control-plane'}"
    try:
        with urllib.request.urlopen(f"{bundle_url}/nodes/{node}?{query}", timeout=30) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def wanted_resources(needs: NodeNeeds) -> list[str]:
    """Extended resources the node must advertise: ``nvidia.com/gpu``, ``rdma/...`` when those run here."""
    wanted = []
    if "gpu_operator" in needs.components:
        wanted.append("nvidia.com/gpu")
    if "rdma" in needs.components:
        wanted.append("rdma/")
    return wanted


class WaitSeenStep(Step):
    """Wait until the member lists this node Ready, labelled, advertising its GPUs / RDMA devices."""

    id = "nodes.ready"
    title = "Wait until the member sees this node Ready"
    component = "nodes"

    def __init__(self, target: JoinTarget) -> None:
        self.target = target

    def is_done(self, ctx: StepContext) -> bool:
        """Never: the member is asked again on every run (a re-run confirms the node is still Ready)."""
        return False

    def run(self, ctx: StepContext) -> None:
        """Poll the member's server every 2 s up to the timeout."""
        if ctx.dry_run:
            ctx.log(f"would wait until the member lists {self.target.node_name} Ready")
            return
        from installer.preflight.facts import host_facts

        needs = node_needs(ctx.profile, host_facts(ctx))
        wanted = wanted_resources(needs)
        end = time.monotonic() + self.target.wait_timeout
        last = "the member does not list it yet"
        while True:
            ctx.check_cancelled()
            try:
                status = member_status(self.target.bundle_url, self.target.node_name, needs, self.target.worker)
            except (urllib.error.URLError, OSError) as exc:
                status, last = None, f"the member's server does not answer ({getattr(exc, 'reason', exc)})"
            if status is not None:
                resources = status.get("allocatable") or {}
                lacking = [w for w in wanted if not any(k.startswith(w) for k in resources)]
                if status.get("ready") and not lacking:
                    ctx.log(f"the member lists {self.target.node_name} Ready"
                            + (f", advertising {', '.join(k for k in resources if '/' in k)}" if wanted else ""))
                    return
                last = "NotReady" if not status.get("ready") else f"Ready, but not advertising {', '.join(lacking)}"
            if time.monotonic() > end:
                msg = f"the member does not see {self.target.node_name} ready: {last}"
                raise StepFailed(msg, "On the member: `microk8s kubectl describe node` names the reason; then run "
                                      "the same join command again (finished steps are skipped).")
            time.sleep(2)
