"""Charts and snaps given as files (``--chart FILE``, ``--snap FILE``), copied into the bundle.

Charts are read for their own ``Chart.yaml`` (name and version come from inside
the archive, not from its file name, which operators rename). Snaps come from
``snap download``, which writes ``NAME_REVISION.snap`` and ``NAME_REVISION.assert``
side by side; the assertion is required, because ``snap ack`` of it is what lets
the air-gapped host install the snap without ``--dangerous``.
"""

from __future__ import annotations

import logging
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

from installer.bundle.manifest import EXTRA, ChartEntry, SnapEntry
from installer.bundle.requirements import chart_components, snap_component
from installer.bundle.safefile import UnsafeBundleFile, bundle_path
from installer.config.profile import Profile
from installer.engine.safeparse import DocumentLimit, load_yaml
from installer.errors import BundleError, UsageError
from installer.export.archive import copy_file, file_sha256

_LOGGER: Final = logging.getLogger(__name__)

CHARTS_DIR: Final = "charts"
SNAPS_DIR: Final = "snaps"
_SNAP_NAME: Final = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*)_(?P<revision>x?[0-9]+)\.snap$")
_MAX_CHART_YAML: Final = 1 << 20


@dataclass(frozen=True)
class CopiedFile:
    """A file now in the bundle, and whether it was already there."""

    relative: str
    sha256: str
    size: int
    skipped: bool


def _place(source: Path, out_dir: Path, relative: str) -> CopiedFile:
    """Copy ``source`` to ``out_dir/relative`` unless an identical file is already there."""
    dest = out_dir / relative
    source = source.resolve()  # the operator's own file: a link to it is fine (bundle files are not)
    try:
        try:
            present: Path | None = bundle_path(out_dir, relative)
        except UnsafeBundleFile as exc:
            if exc.kind != "missing":  # a link out of the bundle or a FIFO is replaced by the real file, never read
                _LOGGER.warning("%s; replacing it with a copy of %s", exc.message, source)
            present = None
        if present is not None and present.resolve() == source:
            return CopiedFile(relative, file_sha256(present), present.stat().st_size, True)
        if present is not None and present.stat().st_size == source.stat().st_size:
            digest = file_sha256(source)
            if file_sha256(present) == digest:
                return CopiedFile(relative, digest, present.stat().st_size, True)
        written = copy_file(source, dest)
    except OSError as exc:
        msg = f"cannot copy {source} to {dest}: {exc.strerror or exc}"
        hint = "Check that the file is readable and the --out folder writable, with free space."
        raise BundleError(msg, hint) from None
    return CopiedFile(relative, written.sha256, written.size, False)


def _need_file(path: Path, option: str) -> None:
    if not path.is_file():
        msg = f"{option}: {path} does not exist or is not a file"
        raise UsageError(msg, f"Give the path of the file to {option}.")


def chart_identity(path: Path) -> tuple[str, str]:
    """``(name, version)`` from the ``<chart>/Chart.yaml`` inside a chart archive.

    Raises:
        UsageError: the file is not a chart archive.
    """
    hint = "Give a chart archive as `helm pull` writes it (NAME-VERSION.tgz)."
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                parts = member.name.strip("/").split("/")
                if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile() and member.size < _MAX_CHART_YAML:
                    handle = tar.extractfile(member)
                    text = handle.read() if handle else b""
                    data = load_yaml(text, f"--chart {path}: {member.name}", max_bytes=_MAX_CHART_YAML)
                    break
            else:
                msg = f"--chart {path}: no <chart>/Chart.yaml inside; not a Helm chart archive"
                raise UsageError(msg, hint)
    except (tarfile.TarError, OSError, EOFError) as exc:
        msg = f"--chart {path}: cannot read it as a chart archive: {exc}"
        raise UsageError(msg, hint) from None
    except yaml.YAMLError as exc:
        msg = f"--chart {path}: its Chart.yaml is not valid YAML: {exc}"
        raise UsageError(msg, hint) from None
    except DocumentLimit as exc:
        raise UsageError(str(exc), hint) from None
    if not isinstance(data, dict) or not data.get("name") or not data.get("version"):
        msg = f"--chart {path}: its Chart.yaml has no name or version"
        raise UsageError(msg, hint)
    return str(data["name"]), str(data["version"])


def add_chart(path: Path, out_dir: Path) -> tuple[str, ChartEntry, bool]:
    """Copy a chart archive to ``charts/NAME-VERSION.tgz``: ``(component, entry, skipped)``."""
    _need_file(path, "--chart")
    name, version = chart_identity(path)
    copied = _place(path, out_dir, f"{CHARTS_DIR}/{name}-{version}.tgz")
    entry = ChartEntry(name=name, version=version, file=copied.relative, sha256=copied.sha256, size=copied.size)
    # the component whose chart it is (as the default profile names them), else ``extra``
    return chart_components(Profile()).get(name, EXTRA), entry, copied.skipped


def add_snap(path: Path, out_dir: Path) -> tuple[str, SnapEntry, bool]:
    """Copy ``NAME_REV.snap`` and its ``NAME_REV.assert`` to ``snaps/``: ``(component, entry, skipped)``."""
    _need_file(path, "--snap")
    match = _SNAP_NAME.match(path.name)
    if match is None:
        msg = f"--snap {path}: expected a file named NAME_REVISION.snap, as `snap download NAME` writes"
        raise UsageError(msg, "Use the file `snap download` wrote, without renaming it.")
    assertion = path.with_suffix(".assert")
    if not assertion.is_file():
        msg = f"--snap {path}: its assertion {assertion.name} is not next to it"
        raise UsageError(msg, "`snap download NAME` writes both files; copy the .assert file beside the .snap.")
    snap = _place(path, out_dir, f"{SNAPS_DIR}/{path.name}")
    ack = _place(assertion, out_dir, f"{SNAPS_DIR}/{assertion.name}")
    entry = SnapEntry(name=match["name"], revision=match["revision"], file=snap.relative, sha256=snap.sha256,
                      size=snap.size, assert_file=ack.relative, assert_sha256=ack.sha256, assert_size=ack.size)
    # snaps (snapd, core20, microk8s) belong to the component that needs them, else the Kubernetes base
    return snap_component(Profile(), entry.name), entry, snap.skipped and ack.skipped
