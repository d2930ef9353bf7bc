"""Before a release is installed, every image it will run must already be in containerd.

On an air-gapped node a missing image is found only after a long ``helm --wait``, as
``ImagePullBackOff``. So each Helm step renders its release first with the exact values
(``microk8s helm3 template``; MicroK8s ships Helm, and ``template`` needs no API), reads
the image of every container, init container and ephemeral container of the rendered
pods (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs, also
inside a ``List``), adds the images the release starts later by itself (the hub's user
servers, the GPU Operator's operands), and asks containerd which of them it holds.

Names are compared the way the kubelet's CRI lookup does: containerd's CRI plugin
resolves ``docker.ParseDockerRef(ref)`` in its store of image names
(containerd v1.7.34 ``pkg/cri/server/helpers.go`` ``localResolve``; distribution
``reference/normalize.go`` ``ParseDockerRef``), so ``busybox`` is
``docker.io/library/busybox:latest`` and ``repo:tag@sha256:...`` is ``repo@sha256:...``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from installer.engine.plan import StepContext
from installer.errors import BundleError, StepFailed

_LOGGER: Final = logging.getLogger(__name__)

MAX_RENDER_BYTES: Final = 16 << 20
"""A rendered release larger than this is refused rather than parsed (charts render to a few hundred KB)."""
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (10x faster), else the pure-Python one: never a full loader."""
MAX_DOCUMENTS: Final = 20_000
"""Documents (and ``List`` items) read from one render at most."""
POD_SPEC_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Where each workload kind keeps its pod spec (Kubernetes API types)."""
CONTAINER_FIELDS: Final = ("initContainers", "containers", "ephemeralContainers")
EXPORT_COMMAND: Final = "./install.sh export --profile {profile} --out offline-images"


@dataclass(frozen=True)
class ImageUse:
    """One image a release runs, and where (for the message)."""

    ref: str
    """As the pod spec or values write it."""
    where: str


@dataclass(frozen=True)
class ContainerdTarget:
    """The containerd the images must be in: MicroK8s's (what ``microk8s ctr`` talks to) unless told otherwise."""

    socket: Path
    namespace: str = "k8s.io"
    ctr: str | None = None


def cri_name(ref: str) -> str:
    """The name containerd's CRI plugin looks ``ref`` up by (``ParseDockerRef``).

    Normalised, the tag dropped beside a digest.
    """
    from installer.bundle.imageref import normalize_ref

    if ref.startswith("sha256:"):
        return ref  # an image ID: the CRI plugin keeps it as a name of its own
    name = normalize_ref(ref)
    base, at, digest = name.partition("@")
    if at:
        slash, colon = base.rfind("/"), base.rfind(":")
        return f"{base[:colon] if colon > slash else base}@{digest}"
    return name


# --- reading a render ----------------------------------------------------------------------


def parse_documents(text: str, source: str) -> list[dict[str, Any]]:
    """The mappings of a multi-document YAML stream, ``List`` items flattened; safe loader, bounded.

    Raises:
        StepFailed: the text is too large, not YAML, or has too many documents.
    """
    if len(text) > MAX_RENDER_BYTES:
        msg = f"{source} is {len(text) / 1e6:.0f} MB, more than the {MAX_RENDER_BYTES >> 20} MiB read at most"
        raise StepFailed(msg, "Check the chart and values: a release never renders to that much.")
    documents: list[dict[str, Any]] = []
    try:
        for document in yaml.load_all(text, Loader=_LOADER):
            _collect(document, documents, depth=0)
            if len(documents) > MAX_DOCUMENTS:
                msg = f"{source} has more than {MAX_DOCUMENTS} documents"
                raise StepFailed(msg, "Check the chart and values.")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        msg = f"{source} is not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"
        raise StepFailed(msg, "Render it yourself to see why: `microk8s helm3 template ...`.") from None
    return documents


def _collect(document: Any, into: list[dict[str, Any]], depth: int) -> None:
    if not isinstance(document, dict):
        return
    items = document.get("items")
    if str(document.get("kind", "")).endswith("List") and isinstance(items, list) and depth < 4:
        for item in items[: MAX_DOCUMENTS + 1]:
            _collect(item, into, depth + 1)
        return
    into.append(document)


def _dig(document: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def pod_images(documents: Iterable[Mapping[str, Any]]) -> list[ImageUse]:
    """Every container image of the workloads in ``documents``, in order."""
    uses: list[ImageUse] = []
    for document in documents:
        kind = str(document.get("kind", ""))
        path = POD_SPEC_PATHS.get(kind)
        spec = _dig(document, path) if path else None
        if not isinstance(spec, dict):
            continue
        name = _dig(document, ("metadata", "name")) or "?"
        for field in CONTAINER_FIELDS:
            for container in spec.get(field) or []:
                if isinstance(container, dict) and isinstance(container.get("image"), str) and container["image"]:
                    label = {"containers": "container", "initContainers": "init container",
                             "ephemeralContainers": "ephemeral container"}[field]
                    uses.append(ImageUse(container["image"].strip(),
                                         f"{kind}/{name} {label} {container.get('name', '?')}"))
    return uses


# --- the check -----------------------------------------------------------------------------


def missing_images(ctx: StepContext, target: ContainerdTarget, uses: Sequence[ImageUse]) -> list[ImageUse]:
    """The uses whose image containerd does not hold under the name the kubelet asks for (one listing)."""
    from installer.bundle.importer import ContainerdStore

    wanted = {cri_name(use.ref) for use in uses}
    if not wanted:
        return []
    present = ContainerdStore(ctx.runner, target.socket, target.namespace, target.ctr).present(wanted)
    return [use for use in uses if cri_name(use.ref) not in present]


def _bundle_holds(bundle_dir: Path | None, refs: Iterable[str]) -> dict[str, bool | None]:
    """For each ref, whether the bundle's manifest lists it (``None``: no manifest to tell)."""
    manifest = None
    if bundle_dir is not None:
        from installer.components.bundled import load_bundle_manifest

        manifest = load_bundle_manifest(bundle_dir)
    return {ref: None if manifest is None else manifest.find_image(ref) is not None for ref in refs}


def describe_missing(missing: Sequence[ImageUse], held: Mapping[str, bool | None], *, dry_run: bool = False) -> str:
    """One line per image: the ref, containerd's name for it when different, where it is used, what the bundle has."""
    lines: list[str] = []
    by_ref: dict[str, list[str]] = {}
    for use in missing:
        by_ref.setdefault(use.ref, []).append(use.where)
    in_bundle = ("; in the bundle, imported by the import step" if dry_run
                 else "; the bundle has it but it was not imported")
    for ref, wheres in by_ref.items():
        name = cri_name(ref)
        shown = ref if name == ref else f"{ref} (containerd name {name})"
        note = {True: in_bundle, False: "; not in the bundle", None: ""}[held.get(ref)]
        lines.append(f"  {shown}: {', '.join(dict.fromkeys(wheres))}{note}")
    return "\n".join(lines)


def export_hint(ctx: StepContext, refs: Sequence[str], *, imported_by_import: bool = False) -> str:
    """The ``export --image`` command that adds ``refs`` to the bundle (and ``import`` for those it has)."""
    profile = str(ctx.profile.source) if ctx.profile.source is not None else "PROFILE.yaml"
    images = " ".join(f"--image {ref}" for ref in dict.fromkeys(refs))
    parts = []
    if refs:
        parts.append(f"On the connected machine add them to the bundle: `{EXPORT_COMMAND.format(profile=profile)} "
                     f"{images}`, copy the bundle to this server again and run the install again (images already "
                     "imported are skipped).")
    if imported_by_import:
        parts.append("Those the bundle has: `./install.sh import`, then run the install again.")
    return " ".join(parts)


def require_images(ctx: StepContext, component: str, target: ContainerdTarget, uses: Sequence[ImageUse], *,
                   bundle_dir: Path | None = None) -> None:
    """Stop (or, in a dry-run, warn) when containerd lacks an image of ``uses``, naming each.

    Raises:
        BundleError: an image is missing and this is not a dry-run; nothing was installed.
    """
    missing = missing_images(ctx, target, uses)
    checked = len({cri_name(u.ref) for u in uses})
    if not missing:
        ctx.log(f"{component}: all {checked} image(s) checked are in containerd")
        return
    refs = list(dict.fromkeys(use.ref for use in missing))
    held = _bundle_holds(bundle_dir, refs)
    to_export = [ref for ref in refs if held[ref] is not True]
    if ctx.dry_run:
        # Nothing was imported: those the bundle has arrive with the import step; only the others need the operator.
        brought = [ref for ref in refs if held[ref] is True]
        if brought:
            ctx.log(f"{component}: {len(brought)} image(s) not in containerd yet come with the import step: "
                    + ", ".join(brought))
        if to_export:
            lines = describe_missing([u for u in missing if u.ref in to_export], held, dry_run=True)
            ctx.log(f"{component}: {len(to_export)} of {checked} image(s) the release runs are not in containerd "
                    f"now{' and not in the bundle' if all(held[r] is False for r in to_export) else ''} "
                    f"(a real install would stop here):\n{lines}\n{export_hint(ctx, to_export)}", "warning")
        return
    msg = (f"{component}: {len(refs)} image(s) the release would run are not in {target.socket} (containerd):\n"
           + describe_missing(missing, held))
    hint = "Nothing was installed. " + export_hint(ctx, to_export, imported_by_import=len(to_export) < len(refs))
    raise BundleError(msg, hint)
