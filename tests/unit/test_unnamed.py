"""The stream ``ctr`` reads names no image; every other byte is the archive's own."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from imagegen import make_image_archive

from installer.bundle.unnamed import UnnamableArchive, strip_names


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk", [1, 511, 512, 4096, 1 << 20])
def test_docker_archive_loses_its_repo_tags_and_nothing_else(tmp_path: Path, chunk: int) -> None:
    """Whatever the chunking, manifest.json has no RepoTags and every other member is unchanged."""
    path = tmp_path / "a.tar"
    make_image_archive(path, ["x/a:1", "x/a:latest"], size=8 * 1024 if chunk == 1 else 300 * 1024)
    original = path.read_bytes()
    stripped = b"".join(strip_names(_chunks(original, chunk)))
    before, after = _members(original), _members(stripped)
    assert json.loads(before["manifest.json"])[0]["RepoTags"] == ["x/a:1", "x/a:latest"]
    assert json.loads(after["manifest.json"])[0]["RepoTags"] == []
    assert json.loads(after["manifest.json"])[0]["Layers"] == json.loads(before["manifest.json"])[0]["Layers"]
    assert {k: v for k, v in after.items() if k != "manifest.json"} == \
           {k: v for k, v in before.items() if k != "manifest.json"}


def test_oci_index_loses_its_name_annotations_and_long_names_pass(tmp_path: Path) -> None:
    """index.json's name annotations go; a member with a PAX long name passes byte for byte."""
    index = {"schemaVersion": 2, "manifests": [{"digest": "sha256:" + "a" * 64, "size": 1,
                                                "annotations": {"io.containerd.image.name": "docker.io/x/b:1",
                                                                "org.opencontainers.image.ref.name": "1",
                                                                "other": "kept"}}]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("blobs/" + "d" * 150, b"blob" * 300),
                           ("./index.json", json.dumps(index).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    after = _members(b"".join(strip_names(_chunks(buf.getvalue(), 700))))
    assert json.loads(after["index.json"])["manifests"][0]["annotations"] == {"other": "kept"}
    assert after["blobs/" + "d" * 150] == b"blob" * 300


def test_an_index_that_is_not_json_is_refused(tmp_path: Path) -> None:
    """A manifest.json ctr could not read either: refused before any name could reach containerd."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 200_000
        tar.addfile(info, io.BytesIO(b"[" * 200_000))
    with pytest.raises(UnnamableArchive, match="manifest.json is not valid JSON"):
        b"".join(strip_names([buf.getvalue()]))


def test_something_that_is_not_a_tar_passes_unchanged() -> None:
    """ctr says what is wrong with it."""
    data = b"\x00not a tar" * 100
    assert b"".join(strip_names(_chunks(data, 64))) == data
