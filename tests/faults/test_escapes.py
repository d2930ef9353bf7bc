"""Escapes, hangs and unclear messages (issue 21, items 7 and 10-14), each through what an operator runs.

A bundle file that is a link leaving the bundle, a device, a FIFO or a socket must be
refused by every verb, named as what it is, and never opened (a FIFO or ``/dev/zero``
would make a read that never ends: every run here has a deadline, so a hang fails the
test instead of blocking it). File names reach the screen escaped. Bad paths, a full
state disk and odd names end with exit 2 and the path, never a traceback. ``import
--component`` knows its components; containerd refusing an archive is bad input.
``install.sh`` says why its venv failed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imagegen import make_image_archive

from installer.bundle.manifest import save_manifest
from installer.bundle.scan import lock_bundle
from tests.faults.support import PY, REPO, cli, mount_tmpfs

DEADLINE = 60.0
"""A FIFO or /dev/zero read hangs forever on the old code: this turns the hang into a failure."""
SECRET = b"root:$6$not-a-real-hash:19000:0:99999:7:::\n"


def _secret(root: Path) -> Path:
    """A file outside the bundle that a link in it points to (stands in for /etc/shadow)."""
    path = root / "outside" / "shadow"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def _bundle(root: Path) -> Path:
    bundle = root / "bundle"
    make_image_archive(bundle / "images" / "a.tar", "f/a:1", seed=1, size=32 * 1024)
    make_image_archive(bundle / "images" / "b.tar", "f/b:1", seed=2, size=32 * 1024)
    return bundle


def _bind_socket(path: Path) -> socket.socket:
    """A listening unix socket at ``path`` (bound through a short relative name: sun_path is 108 bytes)."""
    here = os.getcwd()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.chdir(path.parent)
    try:
        sock.bind(path.name)
    finally:
        os.chdir(here)
    return sock


def _replace(path: Path, kind: str, root: Path) -> str:
    """Turn the bundle file ``path`` into ``kind``; return the words the refusal must use."""
    content = path.read_bytes()
    path.unlink()
    if kind == "link-out":
        outside = root / "outside" / path.name
        outside.parent.mkdir(parents=True, exist_ok=True)
        outside.write_bytes(content)  # the very bytes the manifest lists: refused all the same
        path.symlink_to(outside)
        return "outside the bundle folder"
    if kind == "link-dev-zero":
        path.symlink_to("/dev/zero")
        return "outside the bundle folder"
    if kind == "fifo":
        os.mkfifo(path)
        return "a FIFO"
    if kind == "char-device":
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # what /dev/zero is
        return "a character device"
    if kind == "socket":
        _SOCKETS.append(_bind_socket(path))
        return "a socket"
    if kind == "link-inside-fifo":
        os.mkfifo(path.parent / ".pipe")
        path.symlink_to(".pipe")
        return "a FIFO"
    raise AssertionError(kind)


_SOCKETS: list[socket.socket] = []
KINDS = ("link-out", "link-dev-zero", "fifo", "char-device", "socket", "link-inside-fifo")


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _SOCKETS:
        _SOCKETS.pop().close()


def _lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in done.stderr, done.stderr
    assert "a bug in the installer" not in done.stderr, done.stderr
    return (done.stdout + done.stderr).splitlines()


# --- item 7: links, devices, FIFOs and sockets in the bundle -------------------------------------


def test_lock_refuses_a_link_out_of_the_bundle_and_writes_no_checksum_of_its_target(tmp_path: Path) -> None:
    """wheels/x.whl -> a root-only file elsewhere: `bundle lock` exits 2 naming the link; no manifest, no hash."""
    bundle = _bundle(tmp_path)
    secret = _secret(tmp_path)
    (bundle / "wheels").mkdir()
    (bundle / "wheels" / "x-1-py3-none-any.whl").symlink_to(secret)
    done = cli("bundle", "lock", "--bundle", str(bundle), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    named = [line for line in lines if "wheels/x-1-py3-none-any.whl" in line]
    assert named and "outside the bundle folder" in named[0], "\n".join(lines)
    assert not (bundle / "manifest.yaml").exists()
    assert hashlib.sha256(SECRET).hexdigest() not in done.stdout + done.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_bundle_lock_names_a_special_file_and_never_opens_it(kind: str, tmp_path: Path) -> None:
    """A hand-assembled folder whose b.tar is a FIFO, a device, a socket or a link out: lock exits 2 naming it."""
    bundle = _bundle(tmp_path)
    says = _replace(bundle / "images" / "b.tar", kind, tmp_path)
    done = cli("bundle", "lock", "--bundle", str(bundle), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    assert any("images/b.tar" in line and says in line for line in lines), "\n".join(lines)
    assert not (bundle / "manifest.yaml").exists()


@pytest.mark.parametrize("kind", KINDS)
def test_verify_names_what_a_listed_file_has_become(kind: str, tmp_path: Path) -> None:
    """The manifest lists images/b.tar; it is now a link out, a FIFO, a device...

    Exit 2, named as such, not 'missing'.
    """
    bundle = _bundle(tmp_path)
    save_manifest(lock_bundle(bundle), bundle)
    says = _replace(bundle / "images" / "b.tar", kind, tmp_path)
    done = cli("verify", "--bundle", str(bundle), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    line = next(line for line in lines if "images/b.tar" in line)
    assert line.startswith("FAIL") and says in line and "missing" not in line, "\n".join(lines)
    assert any(line.startswith("ok") and "images/a.tar" in line for line in lines)
    report = json.loads(cli("verify", "--bundle", str(bundle), "--json", timeout=DEADLINE).stdout)
    assert [f["status"] for f in report["files"] if f["file"] == "images/b.tar"] == ["unsafe"]


def test_verify_accepts_a_link_that_stays_inside_the_bundle(tmp_path: Path) -> None:
    """images/b.tar -> ../store/b.tar inside the same folder: still the bundle's own file, checked normally."""
    bundle = _bundle(tmp_path)
    save_manifest(lock_bundle(bundle), bundle)
    (bundle / "store").mkdir()
    (bundle / "images" / "b.tar").rename(bundle / "store" / "b.tar")
    (bundle / "images" / "b.tar").symlink_to("../store/b.tar")
    done = cli("verify", "--bundle", str(bundle), timeout=DEADLINE)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.containerd
@pytest.mark.parametrize("kind", KINDS)
def test_import_refuses_a_listed_special_file_without_hanging(kind: str, clean_containerd: Any, tmp_path: Path) -> None:
    """`import` of a bundle whose listed b.tar is a FIFO, /dev/zero...: exit 2 naming it; a.tar is imported."""
    bundle = _bundle(tmp_path)
    save_manifest(lock_bundle(bundle), bundle)
    says = _replace(bundle / "images" / "b.tar", kind, tmp_path)
    done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(clean_containerd.socket), "--namespace",
               clean_containerd.namespace, "--ctr", "ctr", "--state-dir", str(tmp_path / "state"), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    assert any(line.startswith("FAIL images/b.tar") and says in line for line in lines), "\n".join(lines)
    assert clean_containerd.images() == ["docker.io/f/a:1"]


@pytest.mark.containerd
def test_import_of_a_hand_assembled_folder_names_a_fifo(clean_containerd: Any, tmp_path: Path) -> None:
    """No manifest, images/b.tar is a FIFO: it is named (not silently skipped), exit 2, a.tar imported."""
    bundle = _bundle(tmp_path)
    _replace(bundle / "images" / "b.tar", "fifo", tmp_path)
    done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(clean_containerd.socket), "--namespace",
               clean_containerd.namespace, "--ctr", "ctr", "--state-dir", str(tmp_path / "state"), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    assert any(line.startswith("FAIL") and "images/b.tar" in line and "a FIFO" in line for line in lines)
    assert clean_containerd.images() == ["docker.io/f/a:1"]


def test_install_bundle_check_names_a_link_out_of_the_bundle(tmp_path: Path) -> None:
    """The install's bundle check (BundleCheckStep runs missing_artifacts): the hub image's file is a link out."""
    from installer.bundle.contents import load_bundle
    from installer.bundle.manifest import ComponentArtifacts, ImageEntry, Manifest
    from installer.bundle.requirements import component_needs, missing_artifacts
    from installer.config.profile import Profile

    profile = Profile()
    bundle = tmp_path / "bundle"
    (bundle / "images").mkdir(parents=True)
    (bundle / "images" / "hub.tar").symlink_to(_secret(tmp_path))
    ref = component_needs(profile, "jupyterhub").images[0]
    entry = ImageEntry(refs=[ref], file="images/hub.tar", sha256="0" * 64, size=len(SECRET),
                       digest="sha256:" + "1" * 64)
    save_manifest(Manifest(components={"jupyterhub": ComponentArtifacts(images=[entry])}), bundle)  # type: ignore[dict-item]
    messages = [m.message for m in missing_artifacts(profile, load_bundle(bundle), ["jupyterhub"])]
    about = [m for m in messages if "images/hub.tar" in m]
    assert about and "outside the bundle folder" in about[0], messages


def test_export_top_up_does_not_reuse_a_link_out_of_the_bundle(tmp_path: Path) -> None:
    """An earlier export's archive replaced by a link to a copy elsewhere: not reused (exported again), not hashed."""
    from installer.export.images import ExportedImage, PulledImage, reusable_entry

    out = tmp_path / "out"
    built = make_image_archive(out / "images" / "a.tar", "f/a:1", seed=1, size=32 * 1024)
    path = out / "images" / "a.tar"
    entry = ExportedImage(refs=("docker.io/f/a:1",), file="images/a.tar",
                          sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size,
                          digest=built.config_digest, platform="linux/amd64")
    pulled = PulledImage(built.config_digest, ("docker.io/f/a:1",), 1)
    assert reusable_entry([entry], pulled, out, "linux/amd64", "none") == entry  # the real file is reused
    _replace(path, "link-out", tmp_path)
    assert reusable_entry([entry], pulled, out, "linux/amd64", "none") is None


# --- item 10: exit 2 with the path, never a traceback --------------------------------------------




@pytest.fixture
def full_disk() -> Iterator[Path]:
    """A 1 MiB tmpfs with a state folder in it, filled to the last byte; unmounted afterwards."""
    mount = Path(tempfile.mkdtemp(prefix="full-", dir="/tmp"))
    mount_tmpfs(mount, "1m")
    try:
        (mount / "state").mkdir()
        with (mount / "filler").open("wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)


def test_a_state_folder_on_a_full_disk_is_named(full_disk: Path, tmp_path: Path) -> None:
    """The lock file cannot be written: exit 2 naming it and saying the disk is full (was: a traceback)."""
    bundle = _bundle(tmp_path)
    done = cli("import", "--bundle", str(bundle), "--state-dir", str(full_disk / "state"), "--ctr", "ctr",
               "--containerd-socket", str(tmp_path / "no.sock"), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    error = next(line for line in lines if line.startswith("error: "))
    assert str(full_disk / "state" / "install.lock") in error and "disk is full" in error, "\n".join(lines)


def test_lock_names_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    """images/\\xffb.tar: `bundle lock` exits 2 naming it (escaped), not a pydantic traceback."""
    bundle = _bundle(tmp_path)
    os.rename(bundle / "images" / "b.tar", os.fsencode(bundle / "images") + b"/\xffb.tar")
    done = cli("bundle", "lock", "--bundle", str(bundle), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    assert any("images/\\xffb.tar" in line and "not UTF-8" in line for line in lines), "\n".join(lines)
    assert not (bundle / "manifest.yaml").exists()


@pytest.mark.parametrize("bundle_value", ["/tmp/" + "a" * 100_000, "/tmp/a\\0b"], ids=["100kb", "nul-byte"])
@pytest.mark.parametrize("verb", ["verify", "import", "preflight"])
def test_an_unusable_bundle_path_in_the_profile_is_named(verb: str, bundle_value: str, tmp_path: Path) -> None:
    """bundle: a 100 KB path, or one with a NUL: exit 2 naming the profile and the key, in a short message."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(f'bundle: "{bundle_value}"\n')
    done = cli(verb, "--profile", str(profile), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)[:3000]
    error = next(line for line in lines if line.startswith("error: "))
    assert f"{profile}:1: bundle:" in error, error[:3000]
    assert len(done.stdout + done.stderr) < 4000, "the 100 KB value is printed whole"


def test_a_100kb_bundle_option_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("verify", "--bundle", "/tmp/" + "a" * 100_000, timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2 and "too long for a path" in done.stderr, "\n".join(lines)[:3000]
    assert len(done.stderr) < 4000


# --- item 11: names are escaped on screen -----------------------------------------------------


FORGED = "evil\nok    images/forged.tar: ok\n\x1b[2Jz.tar"


def _forging_bundle(root: Path) -> Path:
    bundle = root / "bundle"
    make_image_archive(bundle / "images" / "a.tar", "f/a:1", seed=1, size=32 * 1024)
    make_image_archive(bundle / "images" / FORGED, "f/e:1", seed=3, size=32 * 1024)
    return bundle


def _no_forgery(done: subprocess.CompletedProcess[str]) -> list[str]:
    lines = _lines(done)
    text = done.stdout + done.stderr
    assert "\x1b[2J" not in text, "an escape sequence reached the terminal"
    assert not [line for line in lines if line.startswith("ok") and "forged.tar" in line], \
        "a newline in a file name forged a line:\n" + "\n".join(lines)
    assert not [line for line in lines if line.startswith("\x1b")], "\n".join(lines)
    assert "evil\\nok    images/forged.tar: ok\\n\\x1b[2Jz.tar" in text, "the name is not shown escaped:\n" + text
    return lines


@pytest.mark.parametrize("verb", [("verify",), ("bundle", "lock")])
def test_a_newline_or_escape_in_a_file_name_is_shown_escaped(verb: tuple[str, ...], tmp_path: Path) -> None:
    bundle = _forging_bundle(tmp_path)
    done = cli(*verb, "--bundle", str(bundle), timeout=DEADLINE)
    _no_forgery(done)
    assert done.returncode == 2


@pytest.mark.containerd
def test_import_shows_a_hostile_name_escaped(clean_containerd: Any, tmp_path: Path) -> None:
    bundle = _forging_bundle(tmp_path)
    done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(clean_containerd.socket), "--namespace",
               clean_containerd.namespace, "--ctr", "ctr", "--state-dir", str(tmp_path / "state"), timeout=DEADLINE)
    _no_forgery(done)
    assert done.returncode == 2
    assert clean_containerd.images() == ["docker.io/f/a:1"]


def test_the_console_sink_escapes_control_characters_in_items() -> None:
    """The install's console output: an item or reason holding ESC or a newline stays one escaped line."""
    from installer.engine.events import ItemFinished, LogLine
    from installer.headless.console import ConsoleSink

    stream = io.StringIO()
    sink = ConsoleSink(stream, tty=False)
    sink.emit(ItemFinished(step_id="import-images", item="images/\x1b[2Jx\n  ok  y.tar", status="failed",
                           reason="bad\x07"))
    sink.emit(LogLine(level="warning", message="file \x1b]0;title\x07 here"))
    text = stream.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert len(text.splitlines()) == 2, text


# --- item 12: import --component ------------------------------------------------------------


@pytest.mark.parametrize("with_manifest", [True, False], ids=["manifest", "no-manifest"])
def test_import_refuses_an_unknown_component(with_manifest: bool, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    if with_manifest:
        save_manifest(lock_bundle(bundle), bundle)
    done = cli("import", "--bundle", str(bundle), "--component", "jupyterhb", "--ctr", "ctr",
               "--containerd-socket", str(tmp_path / "no.sock"), "--state-dir", str(tmp_path / "state"),
               timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    assert "jupyterhb" in done.stderr and "jupyterhub, gpu_operator" in done.stderr, done.stderr


@pytest.mark.containerd
def test_component_filter_applies_without_a_manifest(clean_containerd: Any, tmp_path: Path) -> None:
    """No manifest: --component jupyterhub imports the archive holding a hub image, not the other one."""
    from installer.bundle.requirements import component_needs
    from installer.config.profile import Profile

    hub = component_needs(Profile(), "jupyterhub").images[0]
    bundle = tmp_path / "bundle"
    make_image_archive(bundle / "images" / "hub.tar", hub, seed=5, size=16 * 1024)
    make_image_archive(bundle / "images" / "other.tar", "f/other:1", seed=6, size=16 * 1024)
    done = cli("import", "--bundle", str(bundle), "--component", "jupyterhub", "--containerd-socket",
               str(clean_containerd.socket), "--namespace", clean_containerd.namespace, "--ctr", "ctr",
               "--state-dir", str(tmp_path / "state"), timeout=DEADLINE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert clean_containerd.images() == [hub]


# --- item 13: containerd refusing an archive is bad input --------------------------------------


def _archive_with_wrong_diff_id(path: Path) -> None:
    """A docker-archive our reader accepts, whose layer does not match the config's rootfs.diff_ids."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w") as layer_tar:
        data = hashlib.sha256(b"seed").digest() * 200
        info = tarfile.TarInfo("data.bin")
        info.size = len(data)
        layer_tar.addfile(info, io.BytesIO(data))
    layer = layer_buf.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
    config_hex, layer_hex = hashlib.sha256(config).hexdigest(), hashlib.sha256(layer).hexdigest()
    members = {f"{layer_hex}/layer.tar": layer, f"{config_hex}.json": config,
               "manifest.json": json.dumps([{"Config": f"{config_hex}.json", "RepoTags": ["f/bad:1"],
                                             "Layers": [f"{layer_hex}/layer.tar"]}]).encode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


@pytest.mark.containerd
def test_containerd_refusing_an_archive_is_bad_input_with_its_words(clean_containerd: Any, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    _archive_with_wrong_diff_id(bundle / "images" / "bad.tar")
    make_image_archive(bundle / "images" / "good.tar", "f/good:1", seed=4, size=16 * 1024)
    save_manifest(lock_bundle(bundle), bundle)
    done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(clean_containerd.socket), "--namespace",
               clean_containerd.namespace, "--ctr", "ctr", "--state-dir", str(tmp_path / "state"), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    failure = next(line for line in lines if line.startswith("FAIL images/bad.tar"))
    assert "wrong diff id" in failure and "containerd refused" in failure, failure
    assert "disk space" not in done.stderr, done.stderr  # the hint is about the file, not the store
    assert clean_containerd.images() == ["docker.io/f/good:1"]


# --- item 14: install.sh, .gitignore, folder modes ---------------------------------------------


def _install_sh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "install.sh"), *args], capture_output=True, text=True,
                          timeout=DEADLINE, env={**os.environ, **env}, check=False)


def test_install_sh_says_the_disk_is_full_rather_than_blaming_python3_venv(tmp_path: Path) -> None:
    mount = Path(tempfile.mkdtemp(prefix="venv-", dir="/tmp"))
    mount_tmpfs(mount, "4m")
    try:
        done = _install_sh({"INSTALLER_VENV": str(mount / "venv")}, "--help")
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)
    assert done.returncode == 2, done.stderr
    assert "venv package is missing" not in done.stderr, done.stderr
    assert f"the disk holding {mount / 'venv'} is full" in done.stderr, done.stderr


def test_install_sh_shows_pythons_own_reason_for_another_venv_failure(tmp_path: Path) -> None:
    """The venv's folder cannot be made (its parent is a file): python's words, not 'python3-venv is missing'."""
    (tmp_path / "afile").write_text("")
    done = _install_sh({"INSTALLER_VENV": str(tmp_path / "afile" / "venv")}, "--help")
    assert done.returncode == 2, done.stderr
    assert "venv package is missing" not in done.stderr, done.stderr
    assert "Not a directory" in done.stderr, done.stderr


def test_install_sh_still_names_python3_venv_when_ensurepip_is_missing(tmp_path: Path) -> None:
    """A python whose ensurepip is gone (Ubuntu without python3-venv): the python3-venv advice stays."""
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/bash\n"
                    'if [ "$1" = "-c" ] && [ "$2" = "import ensurepip" ]; then exit 1; fi\n'
                    'if [ "$1 $2" = "-m venv" ]; then echo "The virtual environment was not created successfully '
                    'because ensurepip is not available."; exit 1; fi\n'
                    'if [ "$1 $2" = "-m pip" ]; then exit 1; fi\n'
                    f'exec {shutil.which("python3")} "$@"\n')
    fake.chmod(0o755)
    done = _install_sh({"INSTALLER_VENV": str(tmp_path / "venv"), "INSTALLER_PYTHON": str(fake)}, "--help")
    assert done.returncode == 2, done.stderr
    assert "venv package is missing" in done.stderr, done.stderr


def test_pydeps_is_ignored_by_git() -> None:
    done = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", ".pydeps/x/y.py"], check=False)
    assert done.returncode == 0, ".pydeps/ (install.sh's fallback folder) is not in .gitignore"


def _umask_000() -> None:
    os.umask(0)


def test_plan_out_folders_are_not_world_writable_under_umask_000(tmp_path: Path) -> None:
    out = tmp_path / "plan" / "a" / "b"
    done = subprocess.run([PY, "-m", "installer", "plan", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=DEADLINE, check=False,
                          preexec_fn=_umask_000)  # the umask is what is tested
    assert done.returncode == 0, done.stderr
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in (out.parents[1], out.parent, out)}
    assert modes == {"plan": 0o755, "plan/a": 0o755, "plan/a/b": 0o700}, {k: oct(v) for k, v in modes.items()}
    assert all(stat.S_IMODE(f.stat().st_mode) & 0o022 == 0 for f in out.iterdir())



def _chart(path: Path, name: str, version: str) -> Path:
    data = f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"{name}/Chart.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_export_top_up_names_and_drops_a_listed_file_that_became_a_link_out(tmp_path: Path) -> None:
    """An earlier export lists charts/old-1.0.0.tgz, now a link to a copy elsewhere: named, not kept in the manifest."""
    from installer.bundle.manifest import ChartEntry, ComponentArtifacts, Manifest, load_manifest

    out = tmp_path / "out"
    old = _chart(out / "charts" / "old-1.0.0.tgz", "old", "1.0.0")
    entry = ChartEntry(name="old", version="1.0.0", file="charts/old-1.0.0.tgz",
                       sha256=hashlib.sha256(old.read_bytes()).hexdigest(), size=old.stat().st_size)
    save_manifest(Manifest(components={"extra": ComponentArtifacts(charts=[entry])}), out)  # type: ignore[dict-item]
    _replace(old, "link-out", tmp_path)
    new = _chart(tmp_path / "new-2.0.0.tgz", "new", "2.0.0")
    done = cli("export", "--out", str(out), "--no-profile-images", "--chart", str(new), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 0, "\n".join(lines)
    assert any("charts/old-1.0.0.tgz" in line and "outside the bundle folder" in line for line in lines), \
        "\n".join(lines)
    assert [c.name for _, _, c in load_manifest(out).files()] == ["new"]


def test_export_replaces_a_link_to_the_given_chart_with_a_real_copy(tmp_path: Path) -> None:
    """charts/x-1.0.0.tgz is a link to the very file given with --chart: the bundle gets a real copy, not the link."""
    from installer.export.files import add_chart

    source = _chart(tmp_path / "x-1.0.0.tgz", "x", "1.0.0")
    out = tmp_path / "out"
    (out / "charts").mkdir(parents=True)
    (out / "charts" / "x-1.0.0.tgz").symlink_to(source)
    add_chart(source, out)
    placed = out / "charts" / "x-1.0.0.tgz"
    assert not placed.is_symlink() and placed.read_bytes() == source.read_bytes()


def _listed_as_empty(bundle: Path, kind: str, root: Path) -> str:
    """The manifest lists images/b.tar with size 0 (what stat says of a FIFO or /dev/zero); b.tar is then swapped."""
    from installer.bundle.manifest import load_manifest

    save_manifest(lock_bundle(bundle), bundle)
    manifest = load_manifest(bundle)
    for _, entry in manifest.images():
        if entry.file == "images/b.tar":
            entry.size, entry.sha256 = 0, hashlib.sha256(b"").hexdigest()
    save_manifest(manifest, bundle)
    return _replace(bundle / "images" / "b.tar", kind, root)


@pytest.mark.parametrize("kind", ["fifo", "link-dev-zero"])
def test_verify_does_not_hang_on_a_fifo_listed_with_size_zero(kind: str, tmp_path: Path) -> None:
    """Size 0 matches what stat says, so only never opening the file keeps the read from hanging."""
    bundle = _bundle(tmp_path)
    says = _listed_as_empty(bundle, kind, tmp_path)
    done = cli("verify", "--bundle", str(bundle), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    assert any(line.startswith("FAIL") and "images/b.tar" in line and says in line for line in lines), "\n".join(lines)


@pytest.mark.containerd
@pytest.mark.parametrize("kind", ["fifo", "link-dev-zero"])
def test_import_does_not_hang_on_a_fifo_listed_with_size_zero(kind: str, clean_containerd: Any, tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    says = _listed_as_empty(bundle, kind, tmp_path)
    done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(clean_containerd.socket), "--namespace",
               clean_containerd.namespace, "--ctr", "ctr", "--state-dir", str(tmp_path / "state"), timeout=DEADLINE)
    lines = _lines(done)
    assert done.returncode == 2, "\n".join(lines)
    assert any(line.startswith("FAIL images/b.tar") and says in line for line in lines), "\n".join(lines)
    assert clean_containerd.images() == ["docker.io/f/a:1"]
