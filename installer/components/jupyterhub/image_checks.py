"""Notebook image checks, read from the bundle's archives before anything is installed.

Two things make a notebook image fail inside z2jh, and both can be seen offline:

* it runs as a user other than UID 1000 (KubeSpawner runs it as 1000; files the image
  gave another user are then unwritable);
* it has no ``jupyterhub-singleuser`` (Kubeflow notebook images ship JupyterLab but
  not JupyterHub), so the server never registers with the hub.

The user comes from the image config (:func:`installer.bundle.archive.inspect_archive`);
a user *name* is resolved through the image's own ``/etc/passwd``. The binary is
found by listing the layers' file names (headers only for plain tars, one streaming
pass for compressed ones); nothing is extracted to disk.
"""

from __future__ import annotations

import gzip
import io
import logging
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Final

from installer.components.jupyterhub.settings import JupyterHubSettings
from installer.errors import BundleError
from installer.preflight.checks import CheckResult

if TYPE_CHECKING:
    from installer.bundle.archive import ImageInfo
    from installer.bundle.manifest import Manifest

_LOGGER: Final = logging.getLogger(__name__)

NOTEBOOK_UID: Final = 1000
SINGLEUSER: Final = "jupyterhub-singleuser"
PASSWD: Final = "etc/passwd"
MAX_PASSWD_BYTES: Final = 1 << 20
_GZIP: Final = b"\x1f\x8b"
_ZSTD: Final = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class LayerScan:
    """What the layers hold that the config cannot tell."""

    has_singleuser: bool
    passwd: str | None
    """The last ``/etc/passwd`` the layers carry (later layers win), if any."""


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read put back in front (to sniff a layer's format)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        super().__init__()
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    # the ignore below: typeshed wants any buffer; only bytearrays arrive
    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size] = self.head[:size]
            self.head = self.head[size:]
            return size
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _layer_stream(handle: IO[bytes], seekable: bool) -> tuple[IO[bytes], str] | None:
    """``(stream, tarfile mode)`` of a layer; ``None`` for a member that is not a layer (JSON, empty).

    A plain layer in a plain archive is read by seeking from header to header, so
    only the headers are read, not the files.
    """
    head = handle.read(512)
    if len(head) < 4 or head[:1] in (b"{", b"["):
        return None
    is_tar = len(head) >= 262 and head[257:262] == b"ustar"
    if is_tar and seekable:
        handle.seek(0)
        return handle, "r:"
    # typeshed's BufferedReader wants a raw stream whose readinto takes any buffer; _Prefixed's takes a bytearray
    stream: IO[bytes] = io.BufferedReader(_Prefixed(head, handle), 1 << 20)  # type: ignore[type-var]
    if head.startswith(_GZIP):
        # the ignore below: typeshed: GzipFile is not nominally an IO[bytes]
        return gzip.GzipFile(fileobj=stream, mode="rb"), "r|"  # type: ignore[return-value]
    if head.startswith(_ZSTD):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(stream), "r|"
    if is_tar:
        return stream, "r|"
    return None


def _scan_layer(handle: IO[bytes], scan: dict[str, object], seekable: bool) -> None:
    opened = _layer_stream(handle, seekable)
    if opened is None:
        return
    stream, mode = opened
    try:
        # the ignore below: mode is a str from _layer_stream, not a Literal
        with tarfile.open(fileobj=stream, mode=mode) as layer:  # type: ignore[call-overload]
            for member in layer:
                path = PurePosixPath(member.name.lstrip("./") if member.name.startswith("./") else member.name)
                if path.name == SINGLEUSER and path.parent.name == "bin" and (member.isfile() or member.issym()):
                    scan["singleuser"] = True
                elif str(path) == PASSWD and member.isfile() and member.size <= MAX_PASSWD_BYTES:
                    data = layer.extractfile(member)
                    if data is not None:
                        scan["passwd"] = data.read().decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError) as exc:
        _LOGGER.debug("layer not readable as tar: %s", exc)


def scan_layers(path: Path) -> LayerScan:
    """List the file names of every layer in the archive ``path`` (docker-archive or OCI)."""
    from installer.bundle.archive import detect_compression
    from installer.bundle.safefile import open_regular

    compression = detect_compression(path)
    scan: dict[str, object] = {"singleuser": False, "passwd": None}
    raw = open_regular(path)
    try:
        source: IO[bytes] = raw
        if compression == "zstd":
            import zstandard

            source = zstandard.ZstdDecompressor().stream_reader(raw)
        elif compression != "none":
            # the ignore below: typeshed: GzipFile is not nominally an IO[bytes]
            source = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        with (tarfile.open(fileobj=raw, mode="r:") if compression == "none"
              else tarfile.open(fileobj=source, mode="r|", bufsize=1 << 20)) as outer:
            for member in outer:
                if member.isfile() and member.size >= 512:
                    handle = outer.extractfile(member)
                    if handle is not None:
                        _scan_layer(handle, scan, compression == "none")
    except (tarfile.TarError, OSError, EOFError) as exc:
        msg = f"{path}: cannot list the image's layers ({exc})"
        raise BundleError(msg, "Copy the file again from the export machine, "
                               "or re-create it with `docker save`.") from None
    finally:
        raw.close()
    return LayerScan(bool(scan["singleuser"]), scan["passwd"] if isinstance(scan["passwd"], str) else None)


def resolve_uid(user: str, passwd: str | None) -> int | None:
    """The UID of a config ``User`` (``''`` is root, ``1000:100``, or a name looked up in ``passwd``)."""
    name = user.split(":", 1)[0].strip()
    if not name:
        return 0
    if name.isdigit():
        return int(name)
    for line in (passwd or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None


def check_image(ref: str, info: ImageInfo, layers: LayerScan | None) -> list[CheckResult]:
    """The UID and ``jupyterhub-singleuser`` checks of one notebook image."""
    results: list[CheckResult] = []
    uid = resolve_uid(info.user, layers.passwd if layers else None)
    shown = info.user or "root"
    title = f"notebook image {ref}: user"
    required = f"UID {NOTEBOOK_UID} (jovyan)"
    if uid == NOTEBOOK_UID:
        results.append(CheckResult("notebook-uid", title, "pass", f"{shown} (UID {uid})", required))
    else:
        found = f"{shown} (UID {uid})" if uid is not None else f"{shown} (UID unknown)"
        results.append(CheckResult(
            "notebook-uid", title, "warn", found, required,
            f"{ref} runs as {found}; JupyterHub starts it as UID {NOTEBOOK_UID}, so files the image gave another "
            "user are not writable. Rebuild it with `USER 1000` (jovyan) or pick another image."))
    if layers is not None:
        title = f"notebook image {ref}: {SINGLEUSER}"
        if layers.has_singleuser:
            results.append(CheckResult("notebook-singleuser", title, "pass", "present", "present"))
        else:
            results.append(CheckResult(
                "notebook-singleuser", title, "warn", "missing", "present",
                f"{ref} has no {SINGLEUSER} (Kubeflow notebook images lack it): servers would never start. "
                "Add `pip install jupyterhub==5.*` to the image, or disable this catalog entry."))
    return results


def check_notebook_images(settings: JupyterHubSettings, bundle_dir: Path, manifest: Manifest | None, *,
                          scan: bool = True) -> list[CheckResult]:
    """Check every enabled catalog image found in the bundle; a missing one is reported too.

    Args:
        settings: the profile's ``jupyterhub`` section.
        bundle_dir: the bundle folder.
        manifest: the bundle's manifest (``None``: nothing can be looked up, one ``skipped`` result).
        scan: also list the layers (for ``jupyterhub-singleuser`` and user names).
    """
    if manifest is None:
        return [CheckResult("notebook-images", "notebook images", "skipped", "no manifest in the bundle",
                            "a bundle manifest", "Run `./install.sh bundle lock` so the images can be checked.")]
    from installer.bundle.archive import inspect_archive
    from installer.bundle.imageref import normalize_ref
    from installer.bundle.safefile import bundle_path

    results: list[CheckResult] = []
    for image in (i for i in settings.images if i.enabled):
        found = manifest.find_image(image.image)
        if found is None:
            results.append(CheckResult(
                "notebook-images", f"notebook image {image.image}", "warn", "not in the bundle", "in the bundle",
                f"Add {image.image} to the bundle (`./install.sh export`), or disable catalog entry '{image.name}'."))
            continue
        try:
            path = bundle_path(bundle_dir, found[1].file)  # never a link out of the bundle, a device or a FIFO
            archive = inspect_archive(path)
            wanted = normalize_ref(image.image)
            info = next((i for i in archive.images if wanted in i.refs), archive.images[0])
            layers = scan_layers(path) if scan else None
        except (BundleError, IndexError) as exc:
            results.append(CheckResult("notebook-images", f"notebook image {image.image}", "warn",
                                       f"unreadable: {exc}", "a readable image archive",
                                       getattr(exc, "hint", "") or "Re-create the archive with `docker save`."))
            continue
        results.extend(check_image(image.image, info, layers))
    return results
