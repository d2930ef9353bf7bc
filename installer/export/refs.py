"""Which images go into the bundle, and under which component.

An export collects image references from four places, in this order (a ref keeps
the first component that names it):

1. the profile's enabled components (each descriptor's ``images`` lists what it pulls,
   including every enabled notebook image of the JupyterHub catalog);
2. ``--image REF`` (repeatable);
3. ``--images-file FILE``: one ref per line, ``#`` comments and blank lines ignored;
4. ``--helm-values FILE``: every image a Helm values file names, for charts the
   installer does not know. Charts spell images in a few shapes, all handled here:
   ``image: "repo:tag"``, ``{repository, tag}``, ``{registry, repository, tag}``,
   ``{name, tag}`` (z2jh), ``{repository, image, version}`` (NVIDIA GPU Operator)
   and ``{registry, image, tag}``, each with an optional ``digest``.

Every ref is normalised the way containerd names images (``docker.io/library/``
for short names, ``:latest`` when no tag is given), so the manifest, the import
and ``ctr images ls`` all agree on one spelling.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from installer.bundle.imageref import parse_ref
from installer.bundle.manifest import EXTRA
from installer.components import registry
from installer.config.profile import Profile
from installer.engine.safeparse import DocumentLimit, load_yaml
from installer.errors import UsageError

_LOGGER: Final = logging.getLogger(__name__)


MAX_IMAGES_FILE_BYTES: Final = 4 << 20


def file_stem(ref: str) -> str:
    """A file name for ``ref``: ``quay.io/jupyterhub/k8s-hub:4.2.0`` -> ``quay.io_jupyterhub_k8s-hub_4.2.0``."""
    return re.sub(r"[/:@]", "_", ref)


@dataclass(frozen=True)
class WantedImage:
    """One image the bundle must hold, with why (shown when it cannot be exported)."""

    ref: str
    """Normalised reference."""
    component: str
    """Manifest section: a component name or ``extra``."""
    source: str
    """Where the ref came from: ``profile``, ``--image``, ``FILE:LINE``, ``FILE: key.path``."""


@dataclass
class ImageSelection:
    """The images to export, in order, plus values entries that named no usable image."""

    images: list[WantedImage] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    """Helm values entries skipped because their tag is empty (the chart fills it in), with the key."""

    def add(self, wanted: Iterable[WantedImage]) -> None:
        """Add images; a ref already present keeps its first component."""
        seen = {w.ref for w in self.images}
        for item in wanted:
            if item.ref not in seen:
                seen.add(item.ref)
                self.images.append(item)

    def by_component(self) -> dict[str, list[WantedImage]]:
        """Images grouped by manifest section, in insertion order."""
        groups: dict[str, list[WantedImage]] = {}
        for item in self.images:
            groups.setdefault(item.component, []).append(item)
        return groups


# --- the profile -----------------------------------------------------------------------


def profile_images(profile: Profile) -> list[WantedImage]:
    """Every image the profile's enabled components need, notebook catalog included."""
    wanted: list[WantedImage] = []
    seen: set[str] = set()
    for component in registry.enabled_components(profile):
        for ref in component.images(profile):
            try:
                normal = str(parse_ref(ref))
            except ValueError as exc:
                msg = f"component {component.key} names a bad image: {exc}"
                raise UsageError(msg, "Fix the image in the profile (jupyterhub.images) or the component.") from None
            if normal not in seen:
                seen.add(normal)
                wanted.append(WantedImage(normal, component.key, "profile"))
    return wanted


def profile_files(profile: Profile) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Charts ``(component, name, version)`` and snaps ``(component, name)`` the enabled components need.

    Export cannot fetch these (they come as files: ``helm pull``, ``snap download``),
    so it only reports the ones the bundle lacks.
    """
    charts: list[tuple[str, str, str]] = []
    snaps: list[tuple[str, str]] = []
    for component in registry.enabled_components(profile):
        charts += [(component.key, name, version) for name, version in component.charts(profile)]
        snaps += [(component.key, name) for name in component.snaps(profile)]
    return charts, snaps


# --- --image and --images-file ---------------------------------------------------------


def command_line_images(refs: Iterable[str]) -> list[WantedImage]:
    """``--image REF`` values."""
    wanted = []
    for ref in refs:
        try:
            wanted.append(WantedImage(str(parse_ref(ref)), EXTRA, "--image"))
        except ValueError as exc:
            msg = f"--image: {exc}"
            raise UsageError(msg, "Give a reference like quay.io/jupyter/scipy-notebook:2024-12-09.") from None
    return wanted


def _read_text(path: Path, option: str) -> str:
    try:
        if path.stat().st_size > MAX_IMAGES_FILE_BYTES:
            msg = f"{option} {path}: over {MAX_IMAGES_FILE_BYTES >> 20} MiB; expected a short text file"
            raise UsageError(msg, f"Check that {option} names the right file.")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"{option}: {path} does not exist"
        raise UsageError(msg, f"Give the path of an existing file to {option}.") from None
    except IsADirectoryError:
        msg = f"{option}: {path} is a folder"
        raise UsageError(msg, f"Give a file to {option}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{option}: cannot read {path}: {exc}"
        raise UsageError(msg, "Check the file's permissions and that it is UTF-8 text.") from None


def images_file_images(path: Path) -> list[WantedImage]:
    """One ref per line; ``#`` starts a comment; blank lines are skipped.

    Raises:
        UsageError: naming the file and line of the first bad ref.
    """
    wanted = []
    for number, line in enumerate(_read_text(path, "--images-file").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            wanted.append(WantedImage(str(parse_ref(text)), EXTRA, f"{path}:{number}"))
        except ValueError as exc:
            msg = f"{path}:{number}: {exc}"
            raise UsageError(msg, "Put one image reference per line; '#' starts a comment.") from None
    return wanted


# --- --helm-values ----------------------------------------------------------------------


@dataclass(frozen=True)
class ValuesImage:
    """An image found in a values file: the ref as the chart spells it and the key that sets it."""

    ref: str | None
    key: str
    problem: str = ""
    """Why ``ref`` is None (an empty tag: the chart fills in its appVersion)."""


_NULLS: Final = {"", "~", "null", "Null", "NULL"}
"""YAML's spellings of "no value": the values file is read without type resolution."""


def _scalar(mapping: dict[str, Any], key: str) -> str:
    value = mapping.get(key)
    text = value.strip() if isinstance(value, str) else ""
    return "" if text in _NULLS else text


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p)


def _from_mapping(node: dict[str, Any]) -> tuple[str, str, str] | None:
    """``(name, tag, digest)`` when ``node`` spells an image in one of the known shapes."""
    registry, repository = _scalar(node, "registry"), _scalar(node, "repository")
    image, name = _scalar(node, "image"), _scalar(node, "name")
    tag = _scalar(node, "tag") or _scalar(node, "version")
    digest = _scalar(node, "digest")
    if not ("tag" in node or "version" in node or "digest" in node):
        return None
    if repository:  # {registry?, repository, tag}; GPU Operator: {repository: nvcr.io/nvidia, image: gpu-operator}
        return _join(registry, repository, image), tag, digest
    if image:  # {registry?, image, tag} (ingress-nginx and others)
        return _join(registry, image), tag, digest
    if name and "tag" in node:  # z2jh: {name: quay.io/jupyterhub/k8s-hub, tag: "4.2.0"}
        return _join(registry, name), tag, digest
    return None


def _walk(node: Any, key: str) -> Iterator[ValuesImage]:
    if isinstance(node, dict):
        shape = _from_mapping(node)
        if shape is not None:
            name, tag, digest = shape
            if not tag and not digest:
                yield ValuesImage(None, key, f"{name}: the tag is empty (the chart uses its appVersion); "
                                  "add that image with --image")
            else:
                yield ValuesImage(name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else ""), key)
        for child_key, value in node.items():
            child = f"{key}.{child_key}" if key else str(child_key)
            if child_key == "image" and isinstance(value, str):
                if shape is None and value.strip():
                    yield ValuesImage(value.strip(), child)
                continue
            if shape is not None and child_key in ("registry", "repository", "name", "tag", "version", "digest"):
                continue
            yield from _walk(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{key}[{index}]")


def values_images(document: Any) -> list[ValuesImage]:
    """Every image spelled in a loaded values document, in file order."""
    return list(_walk(document, ""))


def helm_values_images(path: Path) -> tuple[list[WantedImage], list[str]]:
    """Images named in a Helm values file, and the entries that could not be resolved.

    Scalars are read as strings (YAML's base loader), so ``tag: 4.20`` stays ``4.20``
    and does not become the float ``4.2``.

    Raises:
        UsageError: the file is not YAML, or names a malformed image (with the key).
    """
    text = _read_text(path, "--helm-values")
    try:
        document = load_yaml(text, f"--helm-values {path}", max_bytes=MAX_IMAGES_FILE_BYTES, loader=yaml.BaseLoader)
    except DocumentLimit as exc:
        raise UsageError(str(exc), "Give the chart's values.yaml (or your override file).") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        msg = f"--helm-values {where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"
        raise UsageError(msg, "Give the chart's values.yaml (or your override file).") from None
    wanted: list[WantedImage] = []
    unresolved: list[str] = []
    for found in values_images(document):
        if found.ref is None:
            unresolved.append(f"{path}: {found.key}: {found.problem}")
            continue
        try:
            wanted.append(WantedImage(str(parse_ref(found.ref)), EXTRA, f"{path}: {found.key}"))
        except ValueError as exc:
            msg = f"--helm-values {path}: {found.key}: {exc}"
            raise UsageError(msg, "Fix the image in the values file, or leave that file out and use --image.") from None
    return wanted, unresolved


def collect_images(profile: Profile | None, *, images: Iterable[str] = (), images_file: Path | None = None,
                   helm_values: Iterable[Path] = ()) -> ImageSelection:
    """Everything an export must pull: the profile's (unless ``profile`` is None), then the operator's."""
    selection = ImageSelection()
    if profile is not None:
        selection.add(profile_images(profile))
    selection.add(command_line_images(images))
    if images_file is not None:
        selection.add(images_file_images(images_file))
    for values in helm_values:
        wanted, unresolved = helm_values_images(values)
        selection.add(wanted)
        selection.unresolved.extend(unresolved)
    return selection
