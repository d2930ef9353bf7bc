"""``offline-images/manifest.yaml``: what the bundle holds, with checksums.

The manifest is written by ``export`` (connected side) or ``bundle lock``
(hand-assembled folder) and read by ``verify``, ``import`` and the install plan.
It lists, per component, every artifact with its size and sha256, and for images
the refs and the image's own identity (the config digest, which is what Docker
calls the image ID): "same content" means the same config digest under a ref.

Format (``version: 1``)::

    version: 1
    created: "2026-11-24T12:00:00Z"
    created_by: "jupyterhub-offline-installer 0.1.0"
    platform: linux/amd64
    components:                       # microk8s, jupyterhub, gpu_operator, rdma, extra
      jupyterhub:
        images:
          - refs: ["quay.io/jupyterhub/k8s-hub:4.2.0"]        # normalised refs
            file: images/quay.io_jupyterhub_k8s-hub_4.2.0.tar.zst
            sha256: "<hex of the file bytes>"
            size: 123456789
            digest: "sha256:<config digest>"
            platform: linux/amd64
            more_images: []           # other images of a multi-image archive: {refs, digest, platform}
        charts:
          - {name: jupyterhub, version: "4.2.0", file: charts/jupyterhub-4.2.0.tgz, sha256: ..., size: ...}
        snaps:
          - {name: microk8s, revision: "7394", file: snaps/microk8s_7394.snap, sha256: ..., size: ...,
             assert_file: snaps/microk8s_7394.assert, assert_sha256: ..., assert_size: ...}
    wheels:
      - {file: wheels/pydantic-2.9.2-py3-none-any.whl, sha256: ..., size: ...}

Loading errors name the file, the line and the key path (``components.jupyterhub.images[0].sha256``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Annotated, Final, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from installer.bundle.imageref import normalize_ref
from installer.bundle.safefile import UnsafeBundleFile, bundle_path
from installer.config.yamldoc import clean_loc, compose, key_path, line_of, syntax_error
from installer.config.yamldoc import load as load_yaml
from installer.engine.files import FileWriter, UnsafeInput, read_small_file
from installer.engine.printable import needs_escaping, shown
from installer.engine.safeparse import DocumentLimit
from installer.errors import BundleError

_LOGGER: Final = logging.getLogger(__name__)

MANIFEST_NAME: Final = "manifest.yaml"
"""The manifest's file name inside the bundle folder."""
MAX_MANIFEST_BYTES: Final = 16 << 20
MAX_MANIFEST_VALUES: Final = 50_000
"""About 4,000 listed files (an image entry is a dozen values); a real bundle lists a few hundred. A
manifest listing a million entries is refused in a second instead of keeping verify busy for minutes."""
EXTRA: Final = "extra"
"""The section for images no component asked for."""


_SECTION_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _section_name(name: str) -> str:
    """A section is a component's profile key (or ``extra``). Which components exist is the registry's to say
    (:func:`installer.bundle.requirements.component_names`), not this module's: the components read manifests."""
    if not _SECTION_RE.match(name):
        msg = f"{name!r} is not a component name (lower-case letters, digits and _)"
        raise ValueError(msg)
    return name


ComponentName = Annotated[str, AfterValidator(_section_name)]

_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")


def host_platform() -> str:
    """``os/arch[/variant]`` of this machine, in OCI terms (what ``ctr`` imports by default)."""
    import platform

    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm/v7",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
    return f"linux/{arch}"


class _Model(BaseModel):
    """Manifest entries: unknown keys are errors (a typo must not silently drop a checksum)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _relative_file(value: str) -> str:
    path = PurePosixPath(value)
    if needs_escaping(value):
        msg = f"'{shown(value)}' holds a control character: not a file name a bundle may use"
        raise ValueError(msg)
    if not value or path.is_absolute() or ".." in path.parts or "\\" in value:
        msg = f"{value!r} must be a path relative to the bundle folder, without '..'"
        raise ValueError(msg)
    return str(path)


class FileEntry(_Model):
    """One file of the bundle with its expected size and sha256."""

    file: str
    """Path relative to the bundle folder."""
    sha256: str
    """Hex sha256 of the file's bytes."""
    size: int = Field(ge=0)
    """Size in bytes."""

    @field_validator("file")
    @classmethod
    def _file_is_relative(cls, value: str) -> str:
        return _relative_file(value)

    @field_validator("sha256")
    @classmethod
    def _sha256_is_hex(cls, value: str) -> str:
        value = value.lower().removeprefix("sha256:")
        if not _HEX64.match(value):
            msg = f"{value!r} is not a sha256 (64 hex digits)"
            raise ValueError(msg)
        return value


def _digest(value: str) -> str:
    value = value.lower()
    if not _DIGEST.match(value):
        msg = f"{value!r} is not an image digest (sha256:<64 hex digits>)"
        raise ValueError(msg)
    return value


def _refs(value: list[str]) -> list[str]:
    return [normalize_ref(ref) for ref in value]


Digest = Annotated[str, AfterValidator(_digest)]
Refs = Annotated[list[str], AfterValidator(_refs)]


class ArchivedImage(_Model):
    """One image inside an archive: its refs and config digest."""

    refs: Refs = Field(default_factory=list)
    """Normalised refs the archive tags the image with (empty for an untagged image)."""
    digest: Digest
    """``sha256:`` of the image config (the image ID)."""
    platform: str = "linux/amd64"
    """``os/arch[/variant]`` of the image."""


class ImageEntry(FileEntry):
    """An image archive (docker-archive or OCI, plain, .gz or .zst)."""

    refs: Refs = Field(min_length=1)
    """Normalised refs of the (first) image."""
    digest: Digest
    """``sha256:`` of the image config (the image ID)."""
    platform: str = "linux/amd64"
    """``os/arch[/variant]``."""
    more_images: list[ArchivedImage] = Field(default_factory=list)
    """Further images of a multi-image archive (``docker save a b``)."""
    content_size: int | None = Field(None, ge=0)
    """Bytes the archive holds uncompressed (its tar content): what the disk check counts, since
    containerd stores the layers unpacked from the file's compression. Absent in older manifests."""

    def contents(self) -> list[ArchivedImage]:
        """Every image the archive holds, first one first."""
        return [ArchivedImage(refs=self.refs, digest=self.digest, platform=self.platform), *self.more_images]

    def all_refs(self) -> list[str]:
        """Every ref of every image in the archive."""
        return [ref for image in self.contents() for ref in image.refs]


class ChartEntry(FileEntry):
    """A Helm chart archive."""

    name: str
    version: str


class SnapEntry(FileEntry):
    """A snap and its assertion file (``snap ack`` then ``snap install``)."""

    name: str
    revision: str
    assert_file: str
    assert_sha256: str
    assert_size: int | None = Field(None, ge=0)

    @field_validator("revision", mode="before")
    @classmethod
    def _revision_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value

    @field_validator("assert_file")
    @classmethod
    def _assert_is_relative(cls, value: str) -> str:
        return _relative_file(value)

    @field_validator("assert_sha256")
    @classmethod
    def _assert_sha_is_hex(cls, value: str) -> str:
        return FileEntry._sha256_is_hex(value)


class WheelEntry(FileEntry):
    """A Python wheel the installer itself needs."""


class ComponentArtifacts(_Model):
    """What one component brings."""

    images: list[ImageEntry] = Field(default_factory=list)
    charts: list[ChartEntry] = Field(default_factory=list)
    snaps: list[SnapEntry] = Field(default_factory=list)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _creator() -> str:
    try:
        from importlib.metadata import version

        return f"jupyterhub-offline-installer {version('jupyterhub-offline-installer')}"
    except Exception:  # noqa: BLE001 - metadata is absent when run from a plain checkout
        return "jupyterhub-offline-installer"


class Manifest(_Model):
    """The whole manifest."""

    version: Literal[1] = 1
    created: str = Field(default_factory=_now)
    created_by: str = Field(default_factory=_creator)
    platform: str = Field(default_factory=host_platform)
    components: dict[ComponentName, ComponentArtifacts] = Field(default_factory=dict)
    wheels: list[WheelEntry] = Field(default_factory=list)

    @field_validator("platform")
    @classmethod
    def _platform_shape(cls, value: str) -> str:
        if not _PLATFORM.match(value):
            msg = f"{value!r} is not a platform (expected e.g. linux/amd64)"
            raise ValueError(msg)
        return value

    def component(self, name: str) -> ComponentArtifacts:
        """The artifacts of ``name`` (empty if the manifest has none)."""
        # a name the manifest does not know simply finds nothing
        return self.components.get(name, ComponentArtifacts())

    def images(self, components: list[str] | tuple[str, ...] | None = None) -> list[tuple[str, ImageEntry]]:
        """``(component, entry)`` of every image archive, in install order, optionally filtered."""
        return [(name, entry) for name, artifacts in self.components.items()
                if components is None or name in components for entry in artifacts.images]

    def find_image(self, ref: str) -> tuple[str, ImageEntry] | None:
        """The archive holding ``ref`` (normalised before matching), or None."""
        wanted = normalize_ref(ref)
        for component, entry in self.images():
            if wanted in entry.all_refs():
                return component, entry
        return None

    def find_chart(self, name: str, version: str) -> ChartEntry | None:
        """The chart archive ``name`` at ``version`` (a leading ``v`` is ignored)."""
        for artifacts in self.components.values():
            for chart in artifacts.charts:
                if chart.name == name and chart.version.lstrip("v") == version.lstrip("v"):
                    return chart
        return None

    def find_snap(self, name: str) -> SnapEntry | None:
        """The snap called ``name``."""
        for artifacts in self.components.values():
            for snap in artifacts.snaps:
                if snap.name == name:
                    return snap
        return None

    def files(self) -> Iterator[tuple[str, str, FileEntry | SnapEntry]]:
        """``(component, kind, entry)`` of every listed file; kind is image, chart, snap or wheel."""
        for name, artifacts in self.components.items():
            for image in artifacts.images:
                yield name, "image", image
            for chart in artifacts.charts:
                yield name, "chart", chart
            for snap in artifacts.snaps:
                yield name, "snap", snap
        for wheel in self.wheels:
            yield "", "wheel", wheel


# --- reading and writing ------------------------------------------------------------------


def _validation_error(path: Path, text: str, error: ValidationError) -> BundleError:
    root = compose(text)
    lines = []
    for item in error.errors():
        loc = clean_loc(tuple(item["loc"]))
        line = line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key '{key_path(loc)}'")
        else:
            lines.append(f"{where}: {key_path(loc)}: {item['msg']}")
    return BundleError("\n".join(lines),
                       "Fix the manifest, or re-create it with `./install.sh bundle lock --bundle DIR`.")


def parse_manifest(text: str, path: Path) -> Manifest:
    """Validate manifest ``text`` read from ``path`` (used in messages)."""
    try:
        data = load_yaml(text, path, max_bytes=MAX_MANIFEST_BYTES, max_nodes=MAX_MANIFEST_VALUES)
    except yaml.YAMLError as exc:
        raise BundleError(syntax_error(path, exc),
                          "Re-create it with `./install.sh bundle lock --bundle DIR`.") from None
    except DocumentLimit as exc:
        msg = f"not a bundle manifest: {exc}"
        raise BundleError(msg, "Re-create it with `./install.sh bundle lock --bundle DIR`.") from None
    if not isinstance(data, dict):
        msg = f"{path}: a manifest is a YAML mapping with version, components and wheels"
        raise BundleError(msg, "See offline-images/README.md for the format.")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(path, text, exc) from None


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate a manifest file.

    Raises:
        BundleError: naming the file, the line and the key.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        bundle_path(path.parent, path.name)
    except UnsafeBundleFile as exc:
        if exc.kind in ("outside", "special"):  # a link out of the bundle is never read (missing: said below)
            msg = f"{path} is not a bundle manifest: it {exc.reason}"
            raise BundleError(msg, "Copy the real manifest.yaml into the bundle folder, or re-create it with "
                                   "`./install.sh bundle lock --bundle DIR`.") from None
    try:
        text = read_small_file(path, MAX_MANIFEST_BYTES).decode("utf-8")
    except UnsafeInput as exc:
        msg = f"{path} is not a bundle manifest: {exc}"
        raise BundleError(msg, "Check that --bundle names the offline-images folder; re-create the manifest with "
                               "`./install.sh bundle lock --bundle DIR`.") from None
    except FileNotFoundError:
        if not path.parent.is_dir():
            msg = f"bundle folder {path.parent} does not exist"
            raise BundleError(msg, "Give the offline-images folder with --bundle DIR.") from None
        msg = f"no manifest: {path} does not exist"
        raise BundleError(msg, "Run `./install.sh bundle lock --bundle DIR` "
                               "to write one for a hand-assembled folder.") from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise BundleError(msg, "Check the file's permissions and that it is UTF-8 text.") from None
    return parse_manifest(text, path)


def dump_manifest(manifest: Manifest) -> str:
    """The manifest as YAML (stable key order, empty optional lists left out)."""
    data = manifest.model_dump(mode="json", exclude_none=True)
    for artifacts in data.get("components", {}).values():
        for image in artifacts.get("images", []):
            if not image.get("more_images"):
                image.pop("more_images", None)
    header = "# Offline bundle manifest: written by `export` or `bundle lock`; see offline-images/README.md.\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=200)


def save_manifest(manifest: Manifest, path: Path | str, writer: FileWriter | None = None) -> Path:
    """Write the manifest atomically (through ``writer`` when given, so dry-run shows it)."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    return (writer or FileWriter()).write(path, dump_manifest(manifest), 0o644)
