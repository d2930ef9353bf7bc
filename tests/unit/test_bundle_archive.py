"""Archive inspection: docker and OCI, compressed or not, and rejection of unsafe or broken files."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import zstandard
from imagegen import ImageSpec, make_image_archive, to_oci, write_docker_archive

from installer.bundle import archive
from installer.bundle.archive import ArchiveError, hash_and_inspect, inspect_archive


def _gzip(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


def _zstd(path: Path) -> Path:
    out = path.with_name(path.name + ".zst")
    out.write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    return out


def _tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
    return path


@pytest.mark.parametrize("compress", [None, _gzip, _zstd])
def test_docker_archive_config_is_read(tmp_path: Path, compress) -> None:
    """Refs, image ID, platform, user, ports, env and labels come from the archive's own index."""
    path = tmp_path / "hub.tar"
    built = make_image_archive(path, "quay.io/jupyterhub/k8s-hub:4.2.0", user="1000", exposed_ports=["8081/tcp"],
                               labels={"org.example": "x"}, env=["A=1", "B=2=3"])
    if compress:
        path = compress(path)
    info = inspect_archive(path)
    assert info.format == "docker"
    (image,) = info.images
    assert image.refs == ("quay.io/jupyterhub/k8s-hub:4.2.0",)
    assert image.config_digest == built.config_digest
    assert (image.platform, image.user, image.exposed_ports) == ("linux/amd64", "1000", ("8081/tcp",))
    assert image.env == {"A": "1", "B": "2=3"} and image.labels == {"org.example": "x"}
    assert image.cmd == ("/bin/sh",)
    digest, size, again = hash_and_inspect(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest() and size == path.stat().st_size
    assert again.images[0].config_digest == built.config_digest


def test_multi_image_docker_archive(tmp_path: Path) -> None:
    """Every image of a `docker save a b` archive is listed with its own ID."""
    built = write_docker_archive(tmp_path / "two.tar",
                                 [ImageSpec(refs=["busybox:1.28.4"], seed=1),
                                  ImageSpec(refs=["calico/cni:v3.28.1", "calico/cni:x"], seed=2)])
    info = inspect_archive(tmp_path / "two.tar")
    assert [i.config_digest for i in info.images] == [b.config_digest for b in built]
    assert info.refs == ("docker.io/library/busybox:1.28.4", "docker.io/calico/cni:v3.28.1", "docker.io/calico/cni:x")


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
@pytest.mark.parametrize("compress", [None, _zstd])
def test_oci_archive(tmp_path: Path, compress) -> None:
    """An OCI archive's index, manifest and config are followed; a short name is normalised."""
    built = make_image_archive(tmp_path / "d.tar", "x:1")
    path = to_oci(tmp_path / "d.tar", tmp_path / "o.tar", "bar:3")
    if compress:
        path = compress(path)
    info = inspect_archive(path)
    (image,) = info.images
    assert info.format == "oci"
    assert image.refs == ("docker.io/library/bar:3",) and image.raw_refs == ("bar:3",)
    assert image.config_digest == _oci_config_digest(tmp_path / "o.tar") and image.manifest_digest
    assert built.config_digest.startswith("sha256:")  # skopeo rewrites the config, so the ID differs
    assert image.user == "1000"


def _oci_config_digest(path: Path) -> str:
    """The config digest read by hand: index.json -> manifest blob -> config descriptor."""
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))  # type: ignore[arg-type]
    return manifest["config"]["digest"]


def _blob(data: bytes) -> tuple[str, bytes]:
    return f"blobs/sha256/{hashlib.sha256(data).hexdigest()}", data


def _oci_multi_platform(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    members, configs, manifests = [], {}, []
    for arch in ("arm64", "amd64"):
        layer = f"layer-{arch}".encode()
        config = json.dumps({"os": "linux", "architecture": arch, "config": {"User": arch},
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                               "config": {"digest": "sha256:" + hashlib.sha256(config).hexdigest(),
                                          "size": len(config)},
                               "layers": [{"digest": "sha256:" + hashlib.sha256(layer).hexdigest(),
                                           "size": len(layer)}]}).encode()
        members += [_blob(layer), _blob(config), _blob(manifest)]
        configs[arch] = "sha256:" + hashlib.sha256(config).hexdigest()
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest),
                          "platform": {"os": "linux", "architecture": arch}})
    inner = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": manifests}).encode()
    members.append(_blob(inner))
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                                                "digest": "sha256:" + hashlib.sha256(inner).hexdigest(),
                                                "size": len(inner),
                                                "annotations": {"io.containerd.image.name": "docker.io/x/multi:1",
                                                                "org.opencontainers.image.ref.name": "1"}}]}
    members.append(("index.json", json.dumps(index).encode()))
    return _tar(tmp_path / "multi.tar", members), configs


def test_multi_platform_index_picks_the_host_platform(tmp_path: Path) -> None:
    """A multi-platform index resolves to the asked platform, like `ctr images import` does."""
    path, configs = _oci_multi_platform(tmp_path)
    for arch in ("amd64", "arm64"):
        (image,) = inspect_archive(path, platform=f"linux/{arch}").images
        assert image.config_digest == configs[arch] and image.user == arch
        assert image.refs == ("docker.io/x/multi:1",)
    with pytest.raises(ArchiveError, match="no image for this machine's platform linux/s390x"):
        inspect_archive(path, platform="linux/s390x")


def test_truncated_archive_is_rejected(tmp_path: Path) -> None:
    """A file cut short is named as truncated or damaged, plain or compressed."""
    path = tmp_path / "a.tar"
    make_image_archive(path, "a:1", size=200_000)
    zst = _zstd(path)
    for victim in (path, zst):
        data = victim.read_bytes()
        victim.write_bytes(data[: len(data) // 2])
        with pytest.raises(ArchiveError) as caught:
            inspect_archive(victim)
        assert str(victim) in caught.value.message
        assert "truncated" in caught.value.message or "damaged" in caught.value.message


def test_path_outside_archive_is_rejected(tmp_path: Path) -> None:
    """A member named ../x or /x never passes."""
    for name in ("../evil", "/etc/passwd", "a/../../evil"):
        path = _tar(tmp_path / "bad.tar", [(name, b"x"), ("manifest.json", b"[]")])
        with pytest.raises(ArchiveError, match="outside the archive"):
            inspect_archive(path)


def test_link_as_metadata_or_escaping_is_rejected(tmp_path: Path) -> None:
    """manifest.json reached through a link, or a link out of the archive, is refused."""
    link = tarfile.TarInfo("manifest.json")
    link.type, link.linkname = tarfile.SYMTYPE, "other.json"
    path = _tar(tmp_path / "l.tar", [("other.json", b"[]"), link])
    with pytest.raises(ArchiveError, match="is a link"):
        inspect_archive(path)
    escape = tarfile.TarInfo("layer.tar")
    escape.type, escape.linkname = tarfile.SYMTYPE, "../../etc/shadow"
    path = _tar(tmp_path / "e.tar", [escape, ("manifest.json", b"[]")])
    with pytest.raises(ArchiveError, match="outside the archive"):
        inspect_archive(path)


def test_device_node_is_rejected(tmp_path: Path) -> None:
    """Image archives hold files, folders and links only."""
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    path = _tar(tmp_path / "d.tar", [device])
    with pytest.raises(ArchiveError, match="special file"):
        inspect_archive(path)


def test_huge_metadata_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest.json over the limit is refused without being read into memory."""
    monkeypatch.setattr(archive, "MAX_METADATA_BYTES", 1000)
    path = _tar(tmp_path / "h.tar", [("manifest.json", b"[" + b" " * 5000 + b"]")])
    with pytest.raises(ArchiveError, match=r"over the 0 MiB limit|bytes, over"):
        inspect_archive(path)


def test_not_an_image_archive(tmp_path: Path) -> None:
    """A tar without manifest.json or index.json says what image archives look like."""
    path = _tar(tmp_path / "n.tar", [("hello.txt", b"hi")])
    with pytest.raises(ArchiveError, match=r"neither manifest\.json"):
        inspect_archive(path)


def test_missing_layer_is_reported(tmp_path: Path) -> None:
    """An archive whose manifest names a layer it lacks is incomplete."""
    config = json.dumps({"os": "linux", "architecture": "amd64"}).encode()
    name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": name, "RepoTags": ["a:1"], "Layers": ["nope/layer.tar"]}]).encode()
    path = _tar(tmp_path / "m.tar", [(name, config), ("manifest.json", manifest)])
    with pytest.raises(ArchiveError, match=r"layer 'nope/layer\.tar' of image 0 is missing"):
        inspect_archive(path)


@pytest.mark.parametrize(("member", "content"), [
    ("index.json", {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json"}]}),
    ("index.json", {"schemaVersion": 2, "manifests": "not a list"}),
    ("manifest.json", [{"Config": 7, "RepoTags": ["a:1"], "Layers": []}]),
    ("manifest.json", {"Config": "x.json"}),
])
def test_metadata_of_the_wrong_shape_is_one_clear_error(tmp_path: Path, member: str, content: object) -> None:
    """Valid JSON, wrong shape (a hand-edited or foreign archive): an ArchiveError naming the file, no traceback."""
    path = _tar(tmp_path / "odd.tar", [(member, json.dumps(content).encode())])
    with pytest.raises(ArchiveError, match=r"odd\.tar"):
        inspect_archive(path)
