"""Bundle faults, each through the real CLI (`verify` and `import`): one clear line, exit 2, nothing extracted.

Every case is a bundle folder an operator could really carry in: a file cut short by
a full USB disk, a flipped byte, an archive swapped for another image, an archive
crafted to write outside its folder (``../../etc/passwd``, an absolute path, a
symlink where the metadata should be), a 2 GB ``manifest.json``, an empty folder,
files that are not archives at all. What the operator must see, for each: exit code
2, one line naming the file and what is wrong with it, no traceback; and nothing
written anywhere (not in the working folder, not in TMPDIR, not where a crafted
path points, not in the bundle) and nothing imported into containerd.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zstandard
from imagegen import make_image_archive

from installer.bundle.manifest import ComponentArtifacts, ImageEntry, Manifest, save_manifest
from installer.bundle.scan import lock_bundle
from tests.faults.support import cli

TWO_GB = 2 << 30


@dataclass
class Case:
    """A broken bundle: the file the line must name and what the line must say (verify, import)."""

    bundle: Path
    file: str
    verify_says: str
    import_says: str
    escapes: tuple[Path, ...] = ()
    """Where a crafted member points: must not exist afterwards."""


def _members(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else b"") for m in tar.getmembers()]  # type: ignore[union-attr]


def _write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def _link(name: str, target: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info, b""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _claim(bundle: Path, file: str, ref: str, digest: str) -> None:
    """A hand-written manifest whose checksum matches ``file`` but whose refs are what the operator was told."""
    path = bundle / file
    entry = ImageEntry(refs=[ref], file=file, sha256=_sha(path), size=path.stat().st_size, digest=digest)
    save_manifest(Manifest(components={"extra": ComponentArtifacts(images=[entry])}), bundle)  # type: ignore[dict-item]


def _good(bundle: Path, name: str, ref: str, seed: int) -> Any:
    return make_image_archive(bundle / "images" / name, ref, seed=seed, size=64 * 1024)


# --- the cases ---------------------------------------------------------------------------------


def truncated_with_manifest(root: Path) -> Case:
    bundle = root / "bundle"
    _good(bundle, "a.tar", "f/a:1", 1)
    _good(bundle, "b.tar", "f/b:1", 2)
    save_manifest(lock_bundle(bundle), bundle)
    path = bundle / "images/b.tar"
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size // 2])
    return Case(bundle, "images/b.tar", f"size mismatch: expected {size} bytes, found {size // 2}",
                f"size mismatch: expected {size} bytes, found {size // 2}")


def truncated_without_manifest(root: Path) -> Case:
    bundle = root / "bundle"
    _good(bundle, "b.tar", "f/b:1", 2)
    path = bundle / "images/b.tar"
    path.write_bytes(path.read_bytes()[:70_000])
    return Case(bundle, "images/b.tar", "the file is truncated or damaged", "the file is truncated or damaged")


def wrong_checksum(root: Path) -> Case:
    bundle = root / "bundle"
    _good(bundle, "a.tar", "f/a:1", 1)
    save_manifest(lock_bundle(bundle), bundle)
    path = bundle / "images/a.tar"
    data = bytearray(path.read_bytes())
    data[40_000] ^= 0xFF
    path.write_bytes(bytes(data))
    return Case(bundle, "images/a.tar", "sha256 mismatch: expected ", "sha256 mismatch: expected ")


def different_image(root: Path) -> Case:
    """The manifest (checksum updated by hand) says f/a:1; the archive holds another image."""
    bundle = root / "bundle"
    wanted = _good(root / "elsewhere", "a.tar", "f/a:1", 1)
    _good(bundle, "a.tar", "other/image:9", 5)
    _claim(bundle, "images/a.tar", "f/a:1", wanted.config_digest)
    return Case(bundle, "images/a.tar", "images mismatch: expected docker.io/f/a:1",
                "does not hold what the manifest says: expected docker.io/f/a:1")


def same_tag_other_content(root: Path) -> Case:
    """Same tag, different content: importing it would put the wrong image under the ref kubelet uses."""
    bundle = root / "bundle"
    wanted = _good(root / "elsewhere", "a.tar", "f/a:1", 1)
    _good(bundle, "a.tar", "f/a:1", 7)
    _claim(bundle, "images/a.tar", "f/a:1", wanted.config_digest)
    said = f"expected docker.io/f/a:1 ({wanted.config_digest[:19]}), found docker.io/f/a:1"
    return Case(bundle, "images/a.tar", said, said)


def _crafted(root: Path, extra: list[tuple[tarfile.TarInfo, bytes]], *, manifest: bool,
             replace: Callable[[list[tuple[tarfile.TarInfo, bytes]]], list[tuple[tarfile.TarInfo, bytes]]] | None = None
             ) -> tuple[Path, str]:
    bundle = root / "bundle"
    built = _good(bundle, "evil.tar", "f/evil:1", 3)
    path = bundle / "images/evil.tar"
    members = _members(path)
    if replace is not None:
        members = replace(members)
    _write_tar(path, members + extra)
    if manifest:
        _claim(bundle, "images/evil.tar", "f/evil:1", built.config_digest)
    return bundle, "images/evil.tar"


def dot_dot_path(root: Path, *, manifest: bool) -> Case:
    bundle, file = _crafted(root, [_file("../../etc/passwd", b"evil::0:0::/:/bin/sh\n")], manifest=manifest)
    return Case(bundle, file, "'../../etc/passwd' points outside the archive",
                "'../../etc/passwd' points outside the archive",
                escapes=(root / "etc" / "passwd", bundle.parent.parent / "etc" / "passwd"))


def absolute_path(root: Path, *, manifest: bool) -> Case:
    target = root / "absolute-escape"
    bundle, file = _crafted(root, [_file(str(target), b"evil\n")], manifest=manifest)
    return Case(bundle, file, f"'{target}' points outside the archive", f"'{target}' points outside the archive",
                escapes=(target,))


def symlink_metadata(root: Path, *, manifest: bool) -> Case:
    """manifest.json is a link to the host's /etc/passwd (read through, it would be parsed as the index)."""
    def swap(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        return [m for m in members if m[0].name != "manifest.json"] + [_link("manifest.json", "/etc/passwd")]

    bundle, file = _crafted(root, [], manifest=manifest, replace=swap)
    return Case(bundle, file, "links to an absolute path '/etc/passwd'", "links to an absolute path '/etc/passwd'")


def symlink_metadata_inside(root: Path, *, manifest: bool) -> Case:
    """manifest.json is a link to another member: metadata must be a regular file."""
    def swap(members: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        data = next(d for m, d in members if m.name == "manifest.json")
        kept = [m for m in members if m[0].name != "manifest.json"]
        return [*kept, _file("real-manifest.json", data), _link("manifest.json", "real-manifest.json")]

    bundle, file = _crafted(root, [], manifest=manifest, replace=swap)
    return Case(bundle, file, "manifest 'manifest.json' is a link", "manifest 'manifest.json' is a link")


def huge_manifest_json(root: Path, *, truncated: bool) -> Case:
    """A tar whose manifest.json claims 2 GB: sparse on disk (``truncated``: the header alone)."""
    bundle = root / "bundle"
    path = bundle / "images/huge.tar"
    path.parent.mkdir(parents=True)
    info = tarfile.TarInfo("manifest.json")
    info.size = TWO_GB
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    with path.open("wb") as handle:
        handle.write(header)
        if not truncated:
            handle.seek(len(header) + TWO_GB)  # a hole: nothing is written for the 2 GB
            handle.write(b"\0" * 1024)
    says = "2147483648 bytes, over the 8 MiB limit" if not truncated else "the file is truncated or damaged"
    return Case(bundle, "images/huge.tar", says, says)


def huge_bundle_manifest(root: Path) -> Case:
    """The bundle's own manifest.yaml is a 2 GB sparse file."""
    bundle = root / "bundle"
    _good(bundle, "a.tar", "f/a:1", 1)
    with (bundle / "manifest.yaml").open("wb") as handle:
        handle.truncate(TWO_GB)
    return Case(bundle, "manifest.yaml", "is not a bundle manifest: 2147483648 bytes, over the",
                "is not a bundle manifest: 2147483648 bytes, over the")


def manifest_is_dev_zero(root: Path) -> Case:
    """manifest.yaml is a link to /dev/zero: size 0 to stat, endless to read."""
    bundle = root / "bundle"
    _good(bundle, "a.tar", "f/a:1", 1)
    (bundle / "manifest.yaml").symlink_to("/dev/zero")
    return Case(bundle, "manifest.yaml", "not a regular file", "not a regular file")


def empty_folder(root: Path) -> Case:
    bundle = root / "bundle"
    bundle.mkdir()
    said = "holds no manifest.yaml and no image archive"
    return Case(bundle, str(bundle), said, said)


def text_file_named_tar(root: Path) -> Case:
    bundle = root / "bundle"
    (bundle / "images").mkdir(parents=True)
    (bundle / "images/notes.tar").write_text("these are my notes about the images\n" * 100)
    return Case(bundle, "images/notes.tar", "not a readable image archive", "not a readable image archive")


def random_bytes_named_tar_gz(root: Path) -> Case:
    bundle = root / "bundle"
    (bundle / "images").mkdir(parents=True)
    (bundle / "images/blob.tar.gz").write_bytes(b"\x1f\x8b" + random.Random(8).randbytes(50_000))
    return Case(bundle, "images/blob.tar.gz", "not a readable image archive", "not a readable image archive")


def garbage_zstd(root: Path) -> Case:
    bundle = root / "bundle"
    (bundle / "images").mkdir(parents=True)
    good = zstandard.ZstdCompressor().compress(b"x" * 100_000)
    # Seeded: some random tails decode as an empty last block (a different, also correct, message).
    (bundle / "images/broken.tar.zst").write_bytes(good[:8] + random.Random(7).randbytes(len(good)))
    said = "zstd data is damaged or truncated"
    return Case(bundle, "images/broken.tar.zst", said, said)


def tar_without_image(root: Path) -> Case:
    bundle = root / "bundle"
    path = bundle / "images/backup.tar"
    path.parent.mkdir(parents=True)
    _write_tar(path, [_file("home/user/data.csv", b"a,b\n1,2\n")])
    return Case(bundle, "images/backup.tar", "neither manifest.json (docker save) nor index.json (OCI) found",
                "neither manifest.json (docker save) nor index.json (OCI) found")


CASES: dict[str, Callable[[Path], Case]] = {
    "truncated-with-manifest": truncated_with_manifest,
    "truncated-without-manifest": truncated_without_manifest,
    "wrong-checksum": wrong_checksum,
    "different-image": different_image,
    "same-tag-other-content": same_tag_other_content,
    "dot-dot-etc-passwd": lambda root: dot_dot_path(root, manifest=False),
    "dot-dot-etc-passwd-checksummed": lambda root: dot_dot_path(root, manifest=True),
    "absolute-path": lambda root: absolute_path(root, manifest=False),
    "absolute-path-checksummed": lambda root: absolute_path(root, manifest=True),
    "symlink-metadata-to-etc-passwd": lambda root: symlink_metadata(root, manifest=False),
    "symlink-metadata-checksummed": lambda root: symlink_metadata(root, manifest=True),
    "symlink-metadata-inside": lambda root: symlink_metadata_inside(root, manifest=True),
    "2gb-manifest-json-sparse": lambda root: huge_manifest_json(root, truncated=False),
    "2gb-manifest-json-header-only": lambda root: huge_manifest_json(root, truncated=True),
    "2gb-bundle-manifest-yaml": huge_bundle_manifest,
    "manifest-yaml-is-dev-zero": manifest_is_dev_zero,
    "empty-folder": empty_folder,
    "text-file-named-tar": text_file_named_tar,
    "random-bytes-named-tar-gz": random_bytes_named_tar_gz,
    "garbage-zstd": garbage_zstd,
    "tar-without-an-image": tar_without_image,
}


# --- the checks --------------------------------------------------------------------------------


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` with its size and mtime (a sparse 2 GB file is not read)."""
    return {str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


def _run(root: Path, case: Case, *args: str) -> tuple[int, list[str]]:
    """Run the CLI from an empty working folder with an empty TMPDIR; check nothing was written anywhere."""
    work = root / "cwd" / "a" / "b"
    tmp = root / "tmpdir"
    work.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(exist_ok=True)
    before = _snapshot(case.bundle)
    done = cli(*args, "--bundle", str(case.bundle), cwd=work, env={"TMPDIR": str(tmp)})
    assert "Traceback" not in done.stderr, done.stderr
    assert list(work.iterdir()) == [] and list(tmp.iterdir()) == [], "something was extracted"
    assert not list((root / "cwd").glob("etc*")), "a crafted path was written relative to the working folder"
    for escape in case.escapes:
        assert not escape.exists(), f"a crafted member was written to {escape}"
    assert _snapshot(case.bundle) == before, "the bundle folder was changed"
    return done.returncode, (done.stdout + done.stderr).splitlines()


def _one_line_about(lines: list[str], case: Case, says: str) -> None:
    """Exactly one line gives the reason, and it names the file (progress lines may name it, without a reason)."""
    reasons = [line for line in lines if says in line]
    assert len(reasons) == 1, f"expected one line with {says!r}:\n" + "\n".join(lines)
    assert case.file in reasons[0], "\n".join(lines)
    assert reasons[0].startswith(("FAIL ", "error: ")), "\n".join(lines)
    assert reasons[0].count(case.file) == 1, f"the file is named twice:\n{reasons[0]}"


@pytest.mark.parametrize("name", list(CASES))
def test_verify_rejects_with_one_clear_line(name: str, tmp_path: Path) -> None:
    """`verify --bundle DIR` on the broken bundle: exit 2 and one line naming the file and the fault."""
    case = CASES[name](tmp_path)
    code, lines = _run(tmp_path, case, "verify")
    assert code == 2, "\n".join(lines)
    _one_line_about(lines, case, case.verify_says)


@pytest.mark.containerd
@pytest.mark.parametrize("name", list(CASES))
def test_import_rejects_before_containerd_sees_a_byte(name: str, clean_containerd: Any, tmp_path: Path) -> None:
    """`import --bundle DIR` on the broken bundle: exit 2, one line naming the file, nothing imported."""
    case = CASES[name](tmp_path)
    code, lines = _run(tmp_path, case, "import", "--containerd-socket", str(clean_containerd.socket), "--namespace",
                       clean_containerd.namespace, "--ctr", "ctr", "--state-dir", str(tmp_path / "state"))
    assert code == 2, "\n".join(lines)
    _one_line_about(lines, case, case.import_says)
    good_ones = ["docker.io/f/a:1"] if name == "truncated-with-manifest" else []  # its sound neighbour
    assert clean_containerd.images() == good_ones
    if not good_ones:
        assert clean_containerd.ctr("content", "ls", "-q").stdout.split() == [], "blobs reached containerd"


def test_import_json_lists_every_unreadable_file(clean_containerd: Any, tmp_path: Path) -> None:
    """`import --json` on a hand-assembled folder with one good and two bad files: exit 2, both named in `problems`,
    the good image imported (one bad file does not stop the rest)."""
    bundle = tmp_path / "bundle"
    _good(bundle, "good.tar", "f/good:1", 1)
    (bundle / "images/notes.tar").write_text("not an archive\n")
    _write_tar(bundle / "images/backup.tar", [_file("data.csv", b"a,b\n")])
    done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(clean_containerd.socket), "--namespace",
               clean_containerd.namespace, "--ctr", "ctr", "--state-dir", str(tmp_path / "state"), "--json")
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert [p.split(": ")[0].rsplit("/", 1)[-1] for p in document["problems"]] == ["backup.tar", "notes.tar"]
    assert clean_containerd.images() == ["docker.io/f/good:1"]


def test_an_unreadable_part_of_a_hand_assembled_bundle_is_named(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder root cannot read (an NFS export, dropped capabilities): exit 2 naming it, not a traceback."""
    from installer.bundle import scan
    from installer.errors import BundleError, ExitCode

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.tar").write_bytes(b"x")

    def unreadable(bundle: Path) -> list[Path]:
        raise PermissionError(13, "Permission denied", str(bundle / "images"))

    monkeypatch.setattr(scan, "_files", unreadable)
    with pytest.raises(BundleError) as caught:
        scan.scan_folder(tmp_path)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert f"cannot read {tmp_path / 'images'}: Permission denied" in caught.value.message


def test_lock_refuses_one_ref_naming_two_different_images(tmp_path: Path) -> None:
    """busybox-old.tar and busybox-new.tar both tag busybox:1.36: lock names both instead of picking one."""
    from imagegen import make_image_archive

    from installer.errors import BundleError

    make_image_archive(tmp_path / "images" / "busybox-old.tar", "busybox:1.36", seed=1)
    make_image_archive(tmp_path / "images" / "busybox-new.tar", "busybox:1.36", seed=2)
    make_image_archive(tmp_path / "images" / "same-again.tar", "docker.io/library/alpine:3", seed=3)
    make_image_archive(tmp_path / "images" / "same.tar", "docker.io/library/alpine:3", seed=3)
    with pytest.raises(BundleError) as caught:
        lock_bundle(tmp_path)
    assert "docker.io/library/busybox:1.36: images/busybox-new.tar" in caught.value.message
    assert "images/busybox-old.tar" in caught.value.message
    assert "alpine" not in caught.value.message  # the same image twice is harmless
