"""The plan step that imports the chosen components' images into MicroK8s's containerd."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from installer.bundle.contents import BundleContents
from installer.bundle.importer import (
    DEFAULT_NAMESPACE,
    MICROK8S_SOCKET,
    WOULD_IMPORT,
    ContainerdStore,
    ImageImporter,
    ImportItem,
    ImportReport,
    items_from_manifest,
    items_from_scan,
)
from installer.bundle.requirements import component_needs
from installer.bundle.source import run_bundle
from installer.components.microk8s.sandbox import configured_sandbox_image
from installer.engine.plan import ImportedImages, Step, StepContext
from installer.errors import BundleError, InstallerError, Interrupted, StepFailed

_LOGGER: Final = logging.getLogger(__name__)


def _decimal_size(count: int) -> str:
    """``7400000`` -> ``7.4 MB`` (decimal units, as the import summary counts)."""
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.1f} MB"


def select_items(bundle: BundleContents, components: Sequence[str] | None) -> list[ImportItem]:
    """The archives holding the images of ``components`` (all archives when None)."""
    if bundle.manifest is not None:
        entries = bundle.manifest.images(list(components) if components is not None else None)
        return items_from_manifest(bundle.path, entries)
    assert bundle.scan is not None
    return items_from_scan(bundle.scan)


class ImportImagesStep(Step):
    """Verify and import the bundle's images for the given components, skipping what is present.

    Args:
        components: component keys whose images to import (``microk8s``, ``jupyterhub``...).
        jobs: parallel import lanes.
        socket, namespace, ctr: the containerd to import into (MicroK8s's by default).
    """

    title = "Import container images"
    component = "bundle"

    def __init__(self, components: Sequence[str], *, jobs: int = 2, socket: Path = MICROK8S_SOCKET,
                 namespace: str = DEFAULT_NAMESPACE, ctr: str | None = None, step_id: str = "import-images") -> None:
        self.components = tuple(components)
        self.jobs = jobs
        self.socket = Path(socket)
        self.namespace = namespace
        self.ctr = ctr
        self.id = step_id

    def inputs(self) -> Any:
        """The components and the target decide the result."""
        return {"id": self.id, "components": self.components, "socket": str(self.socket), "namespace": self.namespace}

    def _items(self, ctx: StepContext) -> list[ImportItem]:
        """The archives of the components' own manifest sections, plus any other holding an image they need.

        An image exported by hand (``--image``, filed under ``extra``) that the catalog
        offers, or the pause image the installed MicroK8s names, is imported too.
        """
        bundle = run_bundle(ctx).contents(jobs=self.jobs)
        wanted = {ref for c in self.components for ref in component_needs(ctx.profile, c).images}
        sandbox = configured_sandbox_image(ctx.host_root) if "microk8s" in self.components else None
        if sandbox is not None:
            wanted.add(sandbox.ref)
        own = set(self.components) if bundle.manifest is not None else set()
        return [item for item in select_items(bundle, None) if item.component in own or set(item.refs) & wanted]

    def _store(self, ctx: StepContext) -> ContainerdStore:
        return ContainerdStore(ctx.runner, self.socket, self.namespace, self.ctr)

    def is_done(self, ctx: StepContext) -> bool | None:
        """True when every image is present with the expected ID (one ``ctr images ls``)."""
        try:
            items = self._items(ctx)
            importer = ImageImporter(self._store(ctx), sink=ctx.sink, step_id=self.id, jobs=self.jobs,
                                     cancel=ctx.cancel)
            return bool(items) and not importer.missing(items) and self._missing_sandbox(ctx) is None
        except InstallerError:
            return False  # run() reports the reason

    @staticmethod
    def _say_prediction(ctx: StepContext, report: ImportReport) -> None:
        """One line: how many archives a real run would import, and how much."""
        would = [r for r in report.results if r.status == "skipped" and r.reason == WOULD_IMPORT]
        present = sum(1 for r in report.results if r.status == "skipped") - len(would)
        size = sum(r.bytes for r in would)
        ctx.log(f"would import {len(would)} image archive(s) ({_decimal_size(size)}) into {report.target}"
                + (f"; {present} already present" if present else "")
                + (f"; {len(report.failed)} damaged or missing" if report.failed else ""))

    def _missing_sandbox(self, ctx: StepContext) -> BundleError | None:
        """The error when the installed MicroK8s's pause image is neither in containerd nor in the bundle."""
        if "microk8s" not in self.components:
            return None
        sandbox = configured_sandbox_image(ctx.host_root)
        if sandbox is None or self._store(ctx).present([sandbox.ref]):
            return None
        bundle = run_bundle(ctx).loaded()
        held = (f"; the bundle holds {', '.join(sorted(r for r in bundle.image_refs() if '/pause:' in r))}"
                if bundle is not None else "")
        msg = (f"MicroK8s starts every pod with {sandbox.ref} (sandbox image in {sandbox.source}), and neither "
               f"containerd nor the bundle has it{held}")
        return BundleError(msg, f"Without it every pod stays in ContainerCreating. On the connected machine add "
                                f"it (`./install.sh export --profile P --out DIR --image {sandbox.ref}`), copy "
                                "the bundle again and run again; imported images are skipped.")

    def run(self, ctx: StepContext) -> None:
        """Import; raise when an archive failed (after trying every one)."""
        bundle = run_bundle(ctx).loaded()
        if bundle is not None:
            for warning in bundle.warnings:
                ctx.log(warning, "warning")
        items = self._items(ctx)
        importer = ImageImporter(self._store(ctx), sink=ctx.sink, step_id=self.id, jobs=self.jobs, cancel=ctx.cancel)
        if ctx.dry_run:  # nothing is imported, so nothing can be checked after an import: predict instead
            report = importer.predict(items)
            self._say_prediction(ctx, report)
        else:
            report = importer.run(items)
        would = [r for r in report.results if r.status == "skipped" and r.reason == WOULD_IMPORT]
        ctx.results.images = ImportedImages(
            imported=report.count("ok"), present=report.count("skipped") - len(would), failed=report.count("failed"),
            cancelled=report.cancelled, bytes_imported=sum(r.bytes for r in report.results if r.status == "ok"),
            would_import=len(would), bytes_to_import=sum(r.bytes for r in would))
        if report.cancelled:
            msg = f"image import cancelled: {report.summary()}"
            raise Interrupted(msg, "Run the same command again; images already imported are skipped.")
        if report.failed:
            lines = "\n".join(f"  {r.item.name}: {r.reason}" for r in report.failed)
            msg = f"{len(report.failed)} image archive(s) could not be imported:\n{lines}"
            error = BundleError if report.exit_code == 2 else StepFailed
            raise error(msg, "Fix or replace these files (see `./install.sh verify`), then run again; "
                             "imported images are skipped.")
        missing_sandbox = self._missing_sandbox(ctx)
        if missing_sandbox is not None:
            raise missing_sandbox


class BundleCheckStep(Step):
    """Stop before anything changes on the host when the bundle lacks what the profile needs.

    Images, charts and snaps are all checked at once so the operator fixes the USB disk in
    one trip. The checksums are verified later, file by file, as each image is imported.
    """

    id = "bundle-check"
    title = "Check the offline bundle has everything"
    component = "bundle"

    def is_done(self, ctx: StepContext) -> bool | None:
        """Always re-checked: the bundle can change between runs."""
        return False

    def run(self, ctx: StepContext) -> None:
        """Check the signature first, then load the bundle (scan it when it has no manifest) and require every
        artifact."""
        from installer.bundle.manifest import MANIFEST_NAME
        from installer.bundle.requirements import check_sections, chosen_components, require_artifacts

        self._check_signature(ctx)
        bundle = run_bundle(ctx).contents()
        if bundle.manifest is not None:
            check_sections(bundle.manifest, bundle.path / MANIFEST_NAME)
        for warning in bundle.warnings:
            ctx.log(warning, "warning")
        require_artifacts(ctx.profile, bundle, chosen_components(ctx.profile))
        ctx.log(f"the bundle {bundle.path} has every artifact the chosen components need")

    @staticmethod
    def _check_signature(ctx: StepContext) -> None:
        """Who signed the manifest: refused when trust is configured and it is not a trusted key.

        A trust file from the profile is kept in the state folder, so every later run (and
        ``import``) requires it too; the verdict is kept there for ``status``.
        """
        from installer.bundle.signature import check_signature, keep_trust, record_signature, resolve_trust

        path = run_bundle(ctx).path
        trust = resolve_trust(None, ctx.profile.bundle_trust(), ctx.state_dir)
        signature = check_signature(path, trust, ctx.runner)
        warning = signature.warning()
        ctx.log(f"bundle {path}: {signature.describe()}")
        if warning:
            ctx.log(warning, "warning")
        if not ctx.dry_run:
            if trust is not None:
                keep_trust(trust, ctx.state_dir)
            record_signature(signature, path, ctx.state_dir)
