"""Archive writing (compress + hash while writing + atomic rename) and --chart / --snap copies."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from installer.errors import UsageError
from installer.export.archive import file_sha256, write_stream
from installer.export.files import add_chart, add_snap, chart_identity


def _chunks(count: int, size: int = 1 << 20, seed: int = 0) -> Iterator[bytes]:
    block = hashlib.sha256(str(seed).encode()).digest() * (size // 32)
    for index in range(count):
        yield index.to_bytes(4, "big") + block[4:]


def _decompress(path: Path, kind: str) -> bytes:
    data = path.read_bytes()
    if kind == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    if kind == "gzip":
        return gzip.decompress(data)
    return data


@pytest.mark.parametrize("kind", ["zstd", "gzip", "none"])
def test_written_file_decompresses_to_the_input_and_hash_matches_the_bytes_on_disk(tmp_path: Path, kind: str) -> None:
    dest = tmp_path / "images" / f"x.{kind}"
    progress: list[int] = []
    written = write_stream(_chunks(5), dest, kind, on_chunk=progress.append)  # type: ignore[arg-type]
    assert _decompress(dest, kind) == b"".join(_chunks(5))
    assert written.sha256 == hashlib.sha256(dest.read_bytes()).hexdigest()
    assert written.size == dest.stat().st_size
    assert written.raw_size == 5 << 20 and progress[-1] == 5 << 20
    if kind != "none":
        assert written.size < written.raw_size
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temp file left


def test_a_failed_stream_leaves_neither_a_partial_file_nor_a_changed_old_one(tmp_path: Path) -> None:
    dest = tmp_path / "a.tar.zst"
    dest.write_bytes(b"the earlier, complete archive")

    def broken() -> Iterator[bytes]:
        yield from _chunks(2)
        msg = "docker went away"
        raise ConnectionError(msg)

    with pytest.raises(ConnectionError):
        write_stream(broken(), dest, "zstd")
    assert dest.read_bytes() == b"the earlier, complete archive"
    assert [p.name for p in tmp_path.iterdir()] == ["a.tar.zst"]


def test_memory_stays_flat_while_streaming(tmp_path: Path) -> None:
    """64 MiB go through with Python allocations bounded by a few chunks, not the image size."""
    tracemalloc.start()
    try:
        write_stream(_chunks(64), tmp_path / "big.tar.zst", "zstd")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak} bytes"


def _chart(path: Path, name: str = "jupyterhub", version: str = "4.2.0") -> Path:
    chart_yaml = f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: 5.3.0\n".encode()
    with tarfile.open(path, "w:gz") as tar:
        for member, data in ((f"{name}/Chart.yaml", chart_yaml), (f"{name}/values.yaml", b"hub: {}\n")):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_chart_is_named_from_its_own_chart_yaml_and_skipped_when_identical(tmp_path: Path) -> None:
    source = _chart(tmp_path / "renamed-by-operator.tgz")
    out = tmp_path / "bundle"
    component, entry, skipped = add_chart(source, out)
    assert (component, entry.name, entry.version, entry.file, skipped) == (
        "jupyterhub", "jupyterhub", "4.2.0", "charts/jupyterhub-4.2.0.tgz", False)
    assert entry.sha256 == file_sha256(source) and entry.size == source.stat().st_size
    assert (out / entry.file).read_bytes() == source.read_bytes()
    assert add_chart(source, out)[2] is True
    other = _chart(tmp_path / "other.tgz", "mychart", "0.1.0")
    assert add_chart(other, out)[0] == "extra"


def test_not_a_chart_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not a tarball")
    with pytest.raises(UsageError, match=r"junk\.tgz"):
        chart_identity(junk)


def test_snap_comes_with_its_assertion(tmp_path: Path) -> None:
    snap = tmp_path / "microk8s_7394.snap"
    snap.write_bytes(b"squashfs..." * 100)
    out = tmp_path / "bundle"
    with pytest.raises(UsageError, match=r"microk8s_7394\.assert"):
        add_snap(snap, out)
    (tmp_path / "microk8s_7394.assert").write_text("type: account-key\n")
    component, entry, skipped = add_snap(snap, out)
    assert (component, entry.name, entry.revision, entry.file, entry.assert_file, skipped) == (
        "microk8s", "microk8s", "7394", "snaps/microk8s_7394.snap", "snaps/microk8s_7394.assert", False)
    assert entry.assert_sha256 == file_sha256(tmp_path / "microk8s_7394.assert")
    renamed = tmp_path / "microk8s.snap"
    renamed.write_bytes(b"x")
    with pytest.raises(UsageError, match="NAME_REVISION"):
        add_snap(renamed, out)
