"""The steps of an upgrade and an uninstall (the install's own steps do the rest).

Each one can tell from the host whether its work is done (a release gone, a namespace gone,
an image unpinned), so an interrupted run resumes by skipping them; the journal answers only
for the bundle check, which reads no host state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from installer.bundle.importer import PINNED_LABEL, default_ctr
from installer.bundle.manifest import Manifest
from installer.components.kube import HELM, KUBECTL, helm_release, probe
from installer.config.profile import Profile
from installer.engine.plan import Step, StepContext
from installer.errors import BundleError, StepFailed
from installer.lifecycle.installed import UNINSTALLED_DIR, installed_dir, save_installed

UNPIN: Final = f"{PINNED_LABEL}="
"""``ctr images label REF KEY=`` with an empty value clears the label: ctr sets the field path
``labels.KEY`` to the empty value, which the image store drops (containerd cmd/ctr/commands/images/
images.go ``setLabelsCommand``; metadata/images.go keeps only non-empty labels). Checked against the
real containerd by tests/twin/test_lifecycle.py."""


class VerifyBundleStep(Step):
    """Check every file of the new bundle against its manifest before anything changes."""

    id = "upgrade.verify"
    title = "Verify the new bundle"
    component = "bundle"

    def __init__(self, bundle: Path, manifest: Manifest, manifest_text: bytes, jobs: int = 2) -> None:
        self.bundle = bundle
        self.manifest = manifest
        self.digest = hashlib.sha256(manifest_text).hexdigest()
        self.jobs = jobs

    def inputs(self) -> Any:
        """The bundle and its manifest's content: a resumed upgrade of the same bundle need not read it again."""
        return {"id": self.id, "bundle": str(self.bundle), "manifest": self.digest}

    def run(self, ctx: StepContext) -> None:
        """Hash every file; a file that does not match stops the upgrade naming it."""
        from installer.bundle.verify import verify_bundle

        report = verify_bundle(self.bundle, self.manifest, jobs=self.jobs, cancel=ctx.cancel,
                               on_progress=ctx.progress)
        ctx.check_cancelled()
        if not report.ok:
            first = report.failures[0].message if report.failures else "unlisted files"
            msg = f"the new bundle {self.bundle} does not match its manifest: {first}"
            raise BundleError(msg, f"Run `./install.sh verify --bundle {self.bundle}` for every file, and copy the "
                                   "bundle again.")
        ctx.log(f"every file of {self.bundle} matches its manifest")


class UnpinImagesStep(Step):
    """Clear the pin of images nothing needs any more, so the kubelet's image GC may remove them.

    The kubelet frees disk by removing unused images that are not pinned, once usage passes its
    high threshold (kubernetes pkg/kubelet/images/image_gc_manager.go skips ``image.Pinned``);
    containerd's CRI reports an image pinned when it carries ``io.cri-containerd.pinned=pinned``.
    """

    id = "upgrade.unpin"
    title = "Release images no longer needed"
    component = "bundle"

    def __init__(self, refs: Sequence[str], socket: Path, namespace: str) -> None:
        self.refs = tuple(refs)
        self.socket = socket
        self.namespace = namespace

    def inputs(self) -> Any:
        """The refs released."""
        return {"id": self.id, "refs": self.refs}

    def _ctr(self, ctx: StepContext, *args: str) -> list[str]:
        return [default_ctr(ctx.runner), "-a", str(self.socket), "-n", self.namespace, *args]

    def _pinned(self, ctx: StepContext) -> list[str]:
        """The refs of the list that are present and pinned (one ``ctr images ls``)."""
        if not self.socket.exists() and ctx.dry_run:
            return []
        result = ctx.runner.run(self._ctr(ctx, "images", "ls"), timeout=60, check=False, mutates=False,
                                raw_stdout=True)
        if not result.ok:
            msg = f"cannot list the images of containerd at {self.socket}: {result.stderr.strip()[-200:]}"
            raise StepFailed(msg, "Is MicroK8s running? `microk8s status --wait-ready`, then run the upgrade again.")
        pinned = set()
        for line in result.stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 4 and f"{PINNED_LABEL}=pinned" in parts[-1].split(","):
                pinned.add(parts[0])
        return [ref for ref in self.refs if ref in pinned]

    def is_done(self, ctx: StepContext) -> bool:
        """No ref of the list is present and pinned."""
        return not self._pinned(ctx)

    def run(self, ctx: StepContext) -> None:
        """``ctr images label REF io.cri-containerd.pinned=`` for each one still pinned."""
        for ref in self._pinned(ctx):
            ctx.runner.run(self._ctr(ctx, "images", "label", ref, UNPIN), timeout=60,
                           hint="Is MicroK8s running? `microk8s status --wait-ready`, then run the upgrade again.")
            ctx.log(f"unpinned {ref}: the kubelet's image GC may now remove it")


class RecordInstalledStep(Step):
    """Save the profile and the bundle's manifest as what the host runs now (the next upgrade's base)."""

    component = "bundle"

    def __init__(self, profile: Profile, bundle: Path, *, step_id: str = "upgrade.record",
                 title: str = "Record what is installed") -> None:
        self.profile = profile
        self.bundle = bundle
        self.id = step_id
        self.title = title

    def is_done(self, ctx: StepContext) -> bool:
        """Always written again (small and cheap)."""
        return False

    def run(self, ctx: StepContext) -> None:
        """Write ``installed/`` in the state folder (nothing in a dry-run)."""
        if ctx.dry_run:
            ctx.log(f"would record {self.bundle} as installed in {installed_dir(ctx.state_dir)}")
            return
        save_installed(ctx.state_dir, self.profile, self.bundle)


class UninstallReleaseStep(Step):
    """``helm uninstall`` one release: Helm deletes the objects the release rendered, nothing else.

    Objects others created in its namespace stay: the users' volumes (KubeSpawner creates a
    ``claim-<user>`` PVC per user, z2jh 4.2.0 ``files/hub/jupyterhub_config.py`` ``storage_pvc_ensure``)
    are not the release's, which is why z2jh's own teardown (docs/source/jupyterhub/uninstall.md)
    deletes the namespace as a second step to remove them.
    """

    def __init__(self, component: str, release: str, namespace: str) -> None:
        self.component = component
        self.release = release
        self.namespace = namespace
        self.id = f"{component}.uninstall"
        self.title = f"Remove the Helm release {release}"

    def inputs(self) -> Any:
        """The release."""
        return {"id": self.id, "release": self.release, "namespace": self.namespace}

    def is_done(self, ctx: StepContext) -> bool:
        """The release is gone (whatever state it was left in)."""
        return helm_release(ctx, self.release, self.namespace) is None

    def run(self, ctx: StepContext) -> None:
        """Uninstall it and wait for its objects to go."""
        ctx.runner.run([*HELM, "uninstall", self.release, "--namespace", self.namespace, "--wait",
                        "--timeout", "600s"], timeout=720,
                       hint=f"See `microk8s helm3 -n {self.namespace} status {self.release}`; run the uninstall again.")


class DeleteManifestStep(Step):
    """``kubectl delete -f`` a manifest the installer applied (the RDMA plugin's), then drop the file."""

    def __init__(self, component: str, path: Path) -> None:
        self.component = component
        self.path = path
        self.id = f"{component}.delete-manifest"
        self.title = f"Remove what {path.name} applied"

    def inputs(self) -> Any:
        """The manifest file."""
        return {"id": self.id, "path": str(self.path)}

    def is_done(self, ctx: StepContext) -> bool:
        """The file is gone (it is removed once its objects are)."""
        return not self.path.is_file()

    def run(self, ctx: StepContext) -> None:
        """Delete its objects (those already gone are fine), then the file."""
        ctx.runner.run([*KUBECTL, "delete", "-f", str(self.path), "--ignore-not-found"], timeout=300,
                       hint=f"Check `microk8s kubectl get -f {self.path}`; run the uninstall again.")
        if not ctx.dry_run:
            self.path.unlink(missing_ok=True)


class DeleteNamespaceStep(Step):
    """Delete the hub's namespace, and with it every object left there: the users' volumes.

    Kubernetes deletes every object of a namespace being deleted (its namespace controller), the
    PVCs included; z2jh's teardown relies on that to remove the users' disks.
    """

    def __init__(self, component: str, namespace: str) -> None:
        self.component = component
        self.namespace = namespace
        self.id = f"{component}.delete-data"
        self.title = f"Delete the namespace {namespace} with the users' volumes"

    def inputs(self) -> Any:
        """The namespace."""
        return {"id": self.id, "namespace": self.namespace}

    def is_done(self, ctx: StepContext) -> bool:
        """The namespace no longer exists."""
        return not probe(ctx, [*KUBECTL, "get", "namespace", self.namespace, "-o", "name"]).ok

    def run(self, ctx: StepContext) -> None:
        """``kubectl delete namespace NS`` (waits until it is gone)."""
        ctx.runner.run([*KUBECTL, "delete", "namespace", self.namespace, "--wait=true", "--timeout=600s"],
                       timeout=720, hint=f"See `microk8s kubectl get namespace {self.namespace} -o yaml`.")


class RemoveMicrok8sStep(Step):
    """``snap remove --purge microk8s``: the cluster, its containerd and every image go with the snap.

    ``--purge`` keeps snapd from saving a snapshot of the snap's data (snapd cmd/snap/cmd_remove.go),
    which would otherwise hold the whole image store on disk.
    """

    id = "microk8s.remove"
    title = "Remove MicroK8s"
    component = "microk8s"

    def is_done(self, ctx: StepContext) -> bool:
        """The snap is not installed."""
        return not probe(ctx, ["snap", "list", "microk8s"]).ok

    def run(self, ctx: StepContext) -> None:
        """Remove the snap."""
        ctx.runner.run(["snap", "remove", "--purge", "microk8s"], timeout=900,
                       hint="See `snap changes`; run the uninstall again.")


class ForgetInstalledStep(Step):
    """Move the installed record aside: an upgrade must not start from an installation that is gone.

    It goes to ``uninstalled/``, so a later ``uninstall --delete-data`` still knows the hub's namespace.
    """

    id = "uninstall.forget"
    title = "Forget the installation"
    component = "bundle"

    def is_done(self, ctx: StepContext) -> bool:
        """No record left."""
        return not installed_dir(ctx.state_dir).exists()

    def run(self, ctx: StepContext) -> None:
        """Rename ``installed/`` to ``uninstalled/`` in the state folder."""
        target = ctx.state_dir / UNINSTALLED_DIR
        if ctx.dry_run:
            ctx.log(f"would move {installed_dir(ctx.state_dir)} to {target}")
            return
        import shutil

        shutil.rmtree(target, ignore_errors=True)
        installed_dir(ctx.state_dir).rename(target)
