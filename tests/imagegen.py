"""Build real container image archives in Python, of any size, for tests and benchmarks.

A docker-archive (what ``docker save`` writes) is a plain tar: ``manifest.json``,
one config JSON per image and one tar per layer; ``rootfs.diff_ids`` are the
sha256 of the layer tars. containerd, dockerd and skopeo accept these as real
images. ``to_oci`` turns one into an OCI archive with skopeo.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImageSpec:
    """What to put in one image."""

    refs: list[str]
    size: int = 256 * 1024
    """Bytes of file content in the single layer (half random, half text)."""
    seed: int = 0
    """Different seeds give different content, hence a different image ID."""
    user: str = "1000"
    env: list[str] = field(default_factory=lambda: ["PATH=/usr/local/bin:/usr/bin:/bin"])
    labels: dict[str, str] = field(default_factory=dict)
    exposed_ports: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    """Extra files (path inside the image -> content), e.g. ``usr/local/bin/jupyterhub-singleuser``."""


@dataclass(frozen=True)
class BuiltImage:
    """What was written for one image."""

    refs: tuple[str, ...]
    config_digest: str
    """``sha256:...`` of the config JSON: the image ID."""


def _payload(size: int, seed: int) -> bytes:
    rng = random.Random(seed)  # test data, not crypto
    half = size // 2
    random_part = rng.randbytes(half)
    words = [b"jupyter", b"notebook", b"kernel", b"tensor", b"gpu", b"offline", b"cluster", b"hub"]
    text = bytearray()
    while len(text) < size - half:
        text += rng.choice(words) + b" "
    return random_part + bytes(text[: size - half])


def _layer_tar(spec: ImageSpec) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = {"data/payload.bin": _payload(spec.size, spec.seed), **spec.files}
        dirs = sorted({str(Path(p).parent) for p in files if str(Path(p).parent) != "."})
        for directory in dirs:
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(info)
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), 0o755, 0
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _config(spec: ImageSpec, diff_id: str) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "User": spec.user,
            "Env": spec.env,
            "Labels": spec.labels or None,
            "ExposedPorts": {p: {} for p in spec.exposed_ports} or None,
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"imagegen seed={spec.seed}"}],
    }
    return json.dumps(config, sort_keys=True).encode()


def write_docker_archive(path: Path, specs: Iterable[ImageSpec]) -> list[BuiltImage]:
    """Write a docker-archive holding every image in ``specs`` (several make a multi-image archive)."""
    entries, built, members = [], [], {}
    for spec in specs:
        layer = _layer_tar(spec)
        layer_hex = hashlib.sha256(layer).hexdigest()
        config = _config(spec, f"sha256:{layer_hex}")
        config_hex = hashlib.sha256(config).hexdigest()
        members[f"{layer_hex}/layer.tar"] = layer
        members[f"{config_hex}.json"] = config
        entries.append({"Config": f"{config_hex}.json", "RepoTags": list(spec.refs),
                        "Layers": [f"{layer_hex}/layer.tar"]})
        built.append(BuiltImage(tuple(spec.refs), f"sha256:{config_hex}"))
    members["manifest.json"] = json.dumps(entries).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            tar.addfile(info, io.BytesIO(content))
    return built


def make_image_archive(path: Path, ref: str | list[str], *, size: int = 256 * 1024, seed: int = 0,
                       **spec_fields: object) -> BuiltImage:
    """Write a single-image docker-archive at ``path`` and return its refs and image ID."""
    refs = [ref] if isinstance(ref, str) else list(ref)
    return write_docker_archive(path, [ImageSpec(refs=refs, size=size, seed=seed, **spec_fields)])[0]  # type: ignore[arg-type]


def to_oci(docker_archive: Path, oci_archive: Path, ref: str) -> Path:
    """Convert a docker-archive to an OCI archive (``index.json``) with skopeo."""
    subprocess.run(
        ["skopeo", "copy", "--quiet", f"docker-archive:{docker_archive}", f"oci-archive:{oci_archive}:{ref}"],
        check=True, capture_output=True,
    )
    return oci_archive


def garbage_layer_archive(path: Path, ref: str, *, seed: int = 77) -> None:
    """A well-formed docker-archive whose layer is not a tar: it verifies (checksum, index), containerd refuses it."""
    make_image_archive(path, ref, seed=seed)
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers() if m.isfile()]  # type: ignore[union-attr]
    with tarfile.open(path, "w") as tar:
        for member, original in members:
            data = original
            if member.name.endswith("layer.tar"):
                data = b"\x00not a tar" * (len(original) // 10)
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
