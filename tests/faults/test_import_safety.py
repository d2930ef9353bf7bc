"""Nothing lost, nothing falsely reported: what a failed or concurrent import must leave behind.

Each case drives the real CLI against a private containerd and reads the outcome
from containerd itself (``ctr images ls``, ``leases ls``, ``content active``), never
through the code under test. What the operator must be able to rely on:

- a failed import leaves every image that was there exactly as it was: same
  target, same pin (a full disk, a bad layer in a new build of a tag, containerd
  killed mid-import);
- every archive is accounted for (imported + present + failed = total), whatever
  goes wrong, and a failure is never reported as success;
- two archives giving one ref to different images are refused by ``verify`` and
  ``import`` as by ``bundle lock``, naming both;
- two lanes on a disk that fits one image end with one image, not none;
- two imports into one containerd never run at once, whatever their state folders;
- a ``ctr`` killed mid-import leaves no lease or ingest holding its partial content.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imagegen import garbage_layer_archive, make_image_archive
from realparts import Containerd, start_containerd

from installer.bundle.manifest import ImageEntry, load_manifest, save_manifest
from installer.bundle.scan import lock_bundle
from tests.faults.support import PY, REPO, cli, finish, mount_tmpfs, processes_using, start, wait_for

pytestmark = pytest.mark.containerd

MIB = 1 << 20


# --- helpers: containerd seen from outside ---------------------------------------------------


def _listing(daemon: Containerd) -> list[tuple[str, str, str]]:
    """Every row of ``ctr images ls``: (ref, target digest, labels), the CRI aliases included."""
    rows = []
    for line in daemon.ctr("images", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields:
            rows.append((fields[0], fields[2], fields[-1] if "=" in fields[-1] else ""))
    return sorted(rows)


def _complete(daemon: Containerd) -> set[str]:
    """Refs whose content is all present (``ctr images check``)."""
    done = set()
    for line in daemon.ctr("images", "check").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and "complete" in fields:
            done.add(fields[0])
    return done


def _leftovers(daemon: Containerd) -> tuple[list[str], list[str]]:
    """(lease IDs, active ingest refs) in containerd."""
    leases = daemon.ctr("leases", "ls", "-q").stdout.split()
    active = [line.split()[0] for line in daemon.ctr("content", "active").stdout.splitlines()[1:] if line.strip()]
    return leases, active


def _import_argv(daemon: Containerd, bundle: Path, state: Path, *extra: str, ctr: str = "ctr") -> list[str]:
    return [PY, "-m", "installer", "import", "--bundle", str(bundle), "--containerd-socket", str(daemon.socket),
            "--namespace", daemon.namespace, "--ctr", ctr, "--state-dir", str(state), *extra]


def _import(daemon: Containerd, bundle: Path, state: Path, *extra: str,
            ctr: str = "ctr") -> subprocess.CompletedProcess[str]:
    return cli(*_import_argv(daemon, bundle, state, *extra, ctr=ctr)[3:])


def _locked_bundle(path: Path, *archives: tuple[str, str, int, int]) -> Path:
    """A bundle with a manifest; archives are (file stem, ref, seed, size)."""
    for stem, ref, seed, size in archives:
        make_image_archive(path / "images" / f"{stem}.tar", ref, seed=seed, size=size)
    save_manifest(lock_bundle(path), path)
    return path


def _wrapper(tmp_path: Path, body: str) -> Path:
    """A `ctr` that runs ``body`` for `images import` and is the real ctr for everything else."""
    script = tmp_path / "ctr-wrapper"
    script.write_text('#!/bin/sh\ncase "$*" in *"images import"*)\n' + body + "\n;; esac\nexec ctr \"$@\"\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _halting_ctr(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A `ctr images import` that gets the first 1 MiB of the archive, then waits for a gate.

    So containerd is mid-ingest, deterministically, when the test acts.
    """
    halfway, gate = tmp_path / "halfway", tmp_path / "go"
    body = (f"{{ head -c 1048576; touch {halfway}; while [ ! -e {gate} ]; do sleep 0.05; done; cat; }} "
            '| ctr "$@"; exit $?')
    return _wrapper(tmp_path, body), halfway, gate


def _real_ctr_importing(daemon: Containerd) -> list[int]:
    """Pids of the real `ctr images import` processes talking to ``daemon`` (not the wrapper shell)."""
    found = []
    for pid in processes_using(str(daemon.socket)):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode()).name == "ctr" and b"import" in argv:
            found.append(pid)
    return found


def _restart(daemon: Containerd) -> None:
    """Start containerd again on the same root and socket (after it was killed)."""
    log = daemon.log.open("ab")
    daemon.proc = subprocess.Popen(["containerd", "--config", str(daemon.root / "config.toml")],
                                   stdout=log, stderr=log)
    wait_for(lambda: daemon.ctr("version", check=False).returncode == 0, "containerd to answer again")


@pytest.fixture
def daemon() -> Iterator[Containerd]:
    """A containerd of the test's own: leases and ingests of other tests must not blur what this one sees."""
    own = start_containerd()
    try:
        yield own
    finally:
        own.stop()




@pytest.fixture
def small_disk() -> Iterator[Containerd]:
    """A containerd whose root and state are on a 20 MiB tmpfs (a short path: sockets need < 104 characters)."""
    base = Path(tempfile.mkdtemp(prefix="safe-", dir="/tmp"))
    mount_tmpfs(base, "20m")
    own: Containerd | None = None
    try:
        own = start_containerd(base=base)
        yield own
    finally:
        if own is not None:
            own.stop()
        subprocess.run(["umount", "-l", str(base)], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


# --- 1: a failed import never takes away what was there ---------------------------------------


def test_an_upgrade_that_runs_out_of_disk_keeps_the_old_image_and_its_pin(small_disk: Containerd,
                                                                          tmp_path: Path) -> None:
    """app:1 (1 MiB) is imported and pinned; a new build of app:1 (12 MiB) does not fit the 20 MiB disk.

    The import fails naming the full disk, and containerd lists exactly what it listed
    before: app:1 on its old image, pinned, complete.
    """
    old = _locked_bundle(tmp_path / "old", ("app", "up/app:1", 1, MIB))
    assert _import(small_disk, old, tmp_path / "state").returncode == 0
    before = _listing(small_disk)
    assert ("docker.io/up/app:1" in {ref for ref, _, _ in before})

    new = _locked_bundle(tmp_path / "new", ("app", "up/app:1", 2, 12 * MIB))
    done = _import(small_disk, new, tmp_path / "state")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no space left on device" in done.stdout
    assert _listing(small_disk) == before
    assert "docker.io/up/app:1" in _complete(small_disk)


def test_a_new_build_with_a_bad_layer_keeps_the_old_image_and_its_pin(daemon: Containerd, tmp_path: Path) -> None:
    """A new build of app:1 whose layer containerd cannot unpack: the import fails, app:1 is untouched."""
    old = _locked_bundle(tmp_path / "old", ("app", "bad/app:1", 1, 256 * 1024))
    assert _import(daemon, old, tmp_path / "state").returncode == 0
    before = _listing(daemon)

    new = tmp_path / "new"
    garbage_layer_archive(new / "images" / "app.tar", "bad/app:1", seed=2)
    save_manifest(lock_bundle(new), new)
    done = _import(daemon, new, tmp_path / "state", "--json")
    assert done.returncode == 2, done.stdout + done.stderr  # containerd refused the archive: bad input
    assert json.loads(done.stdout)["counts"]["failed"] == 1
    assert _listing(daemon) == before
    assert "docker.io/bad/app:1" in _complete(daemon)


def test_containerd_killed_mid_import_keeps_the_old_image_and_the_next_run_releases_the_lease(
        daemon: Containerd, tmp_path: Path, reap: list[str]) -> None:
    """containerd is killed (SIGKILL) while a new build of app:1 streams in, and stays down until the import ends.

    The import fails; once containerd is back, it lists exactly what it listed before,
    and the lease the dead `ctr` could not release (holding the partial content) is
    released by the next import, which then imports the new build.
    """
    reap.append(str(tmp_path))  # the wrapper scripts, should a step fail before their gate opens
    old = _locked_bundle(tmp_path / "old", ("app", "kill/app:1", 1, 256 * 1024))
    assert _import(daemon, old, tmp_path / "state").returncode == 0
    before = _listing(daemon)
    new = _locked_bundle(tmp_path / "new", ("app", "kill/app:1", 2, 4 * MIB))
    wrapper, halfway, gate = _halting_ctr(tmp_path)

    proc = start(_import_argv(daemon, new, tmp_path / "state", "--json", ctr=str(wrapper)), cwd=REPO)
    wait_for(halfway.exists, "the import to be streaming into containerd", proc=proc)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    gate.touch()
    code, out, err = finish(proc)
    assert code == 1, out + err
    assert json.loads(out)["counts"] == {"ok": 0, "skipped": 0, "failed": 1}

    _restart(daemon)
    assert _listing(daemon) == before
    assert "docker.io/kill/app:1" in _complete(daemon)
    leases, _ = _leftovers(daemon)
    assert leases, "the killed ctr left no lease: the test did not interrupt an ingest"

    again = _import(daemon, new, tmp_path / "state", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _leftovers(daemon) == ([], [])
    assert "docker.io/kill/app:1" in _complete(daemon)
    assert {ref for ref, _, _ in _listing(daemon) if not ref.startswith("sha256:")} == {"docker.io/kill/app:1"}


# --- 15: a ctr killed mid-import leaves nothing held --------------------------------------------


def test_a_ctr_killed_mid_import_leaves_no_lease_or_ingest(daemon: Containerd, tmp_path: Path, reap: list[str]) -> None:
    """`ctr images import` is killed (SIGKILL) mid-ingest; the retry imports the archive.

    The killed ctr's lease would hold the partial content for 24 hours: at the end of
    the run no lease and no active ingest is left in containerd.
    """
    reap.append(str(tmp_path))  # the wrapper scripts, should a step fail before their gate opens
    bundle = _locked_bundle(tmp_path / "b", ("app", "lease/app:1", 1, 4 * MIB))
    wrapper, halfway, gate = _halting_ctr(tmp_path)
    proc = start(_import_argv(daemon, bundle, tmp_path / "state", "--json", ctr=str(wrapper)), cwd=REPO)
    wait_for(halfway.exists, "the import to be streaming into containerd", proc=proc)
    wait_for(lambda: _leftovers(daemon)[1], "containerd to hold an active ingest", proc=proc)
    for pid in _real_ctr_importing(daemon):
        os.kill(pid, signal.SIGKILL)
    gate.touch()
    code, out, err = finish(proc)
    assert code == 0, out + err
    assert json.loads(out)["counts"] == {"ok": 1, "skipped": 0, "failed": 0}
    assert _leftovers(daemon) == ([], [])


def test_an_installer_killed_mid_import_leaves_nothing_held_after_the_next_run(daemon: Containerd,
                                                                              tmp_path: Path, reap: list[str]) -> None:
    """The installer is killed (SIGKILL, its ctr dies with it) mid-ingest: the next run releases what was held."""
    reap.append(str(tmp_path))  # the wrapper scripts, should a step fail before their gate opens
    bundle = _locked_bundle(tmp_path / "b", ("app", "lease/app:2", 1, 4 * MIB))
    wrapper, halfway, gate = _halting_ctr(tmp_path)
    proc = start(_import_argv(daemon, bundle, tmp_path / "state", ctr=str(wrapper)), cwd=REPO)
    wait_for(halfway.exists, "the import to be streaming into containerd", proc=proc)
    wait_for(lambda: _leftovers(daemon)[1], "containerd to hold an active ingest", proc=proc)
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    for pid in _real_ctr_importing(daemon):  # what PDEATHSIG does to a ctr that is the installer's own child
        os.kill(pid, signal.SIGKILL)
    gate.touch()  # lets the wrapper's feeding subshell end
    wait_for(lambda: not _real_ctr_importing(daemon), "the killed run's ctr to end")
    assert _leftovers(daemon)[0], "the killed ctr left no lease: the test did not interrupt an ingest"

    again = _import(daemon, bundle, tmp_path / "state", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _leftovers(daemon) == ([], [])
    assert "docker.io/lease/app:2" in _complete(daemon)


# --- 2: every archive is accounted for --------------------------------------------------------


def _bundle_with_a_nested_index(path: Path) -> Path:
    """a.tar, b.tar, c.tar in manifest order; b.tar's manifest.json is 200 KB of `[` (listed with its checksum)."""
    import hashlib
    import io
    import tarfile

    bundle = _locked_bundle(path, ("a", "count/a:1", 1, 64 * 1024), ("c", "count/c:1", 3, 64 * 1024))
    nested = path / "images" / "b.tar"
    with tarfile.open(nested, "w") as tar:
        body = b"[" * 200_000
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    manifest = load_manifest(bundle)
    manifest.components["extra"].images.insert(1, ImageEntry(
        refs=["count/b:1"], file="images/b.tar", sha256=hashlib.sha256(nested.read_bytes()).hexdigest(),
        size=nested.stat().st_size, digest="sha256:" + "b" * 64))
    save_manifest(manifest, bundle)
    return bundle


def test_an_archive_that_breaks_the_check_fails_alone_and_the_rest_is_imported(daemon: Containerd,
                                                                              tmp_path: Path) -> None:
    """b.tar's manifest.json is 200 KB of `[`: it fails, a.tar and c.tar are imported, and the result says so.

    Before, the check's RecursionError stopped the whole import and it reported ok with
    nothing failed.
    """
    bundle = _bundle_with_a_nested_index(tmp_path / "b")
    done = _import(daemon, bundle, tmp_path / "state", "--json")
    assert done.returncode in (1, 2), done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert document["counts"] == {"ok": 2, "skipped": 0, "failed": 1}
    assert document["total"] == 3
    assert {item["file"]: item["status"] for item in document["items"]} == {
        "images/a.tar": "ok", "images/b.tar": "failed", "images/c.tar": "ok"}
    # The item names the file; its reason says what is wrong with it.
    assert "nested deeper" in next(i["reason"] for i in document["items"] if i["status"] == "failed")
    text = _import(daemon, bundle, tmp_path / "state2")
    assert "FAIL images/b.tar" in text.stdout and "1 failed, of 3 archives" in text.stdout


def test_the_install_import_step_fails_on_that_archive_too(daemon: Containerd, tmp_path: Path) -> None:
    """The install's `import-images` step, on the same bundle: it raises naming b.tar, after importing the rest."""
    from installer.bundle.step import ImportImagesStep
    from installer.config.profile import load_profile
    from installer.engine.commands import RealRunner
    from installer.engine.events import CollectingSink
    from installer.engine.files import FileWriter
    from installer.engine.plan import StepContext
    from installer.errors import InstallerError

    bundle = _bundle_with_a_nested_index(tmp_path / "b")
    manifest = load_manifest(bundle)
    manifest.components["jupyterhub"] = manifest.components.pop("extra")
    save_manifest(manifest, bundle)
    profile = load_profile(REPO / "profiles" / "cpu.yaml").with_bundle(bundle)
    ctx = StepContext(RealRunner(), FileWriter(), CollectingSink(), profile, tmp_path / "state")
    step = ImportImagesStep(["jupyterhub"], socket=daemon.socket, namespace=daemon.namespace, ctr="ctr")
    with pytest.raises(InstallerError) as caught:
        step.run(ctx)
    assert "images/b.tar" in caught.value.message
    assert daemon.images() == ["docker.io/count/a:1", "docker.io/count/c:1"]


# --- 3: one ref, two images ------------------------------------------------------------------


def test_verify_and_import_refuse_one_ref_naming_two_images_like_lock(daemon: Containerd, tmp_path: Path) -> None:
    """old.tar and new.tar both tag tool:1 as different images (no manifest): verify and import fail naming both.

    import brings in the unrelated archive, and neither image under tool:1.
    """
    folder = tmp_path / "b"
    make_image_archive(folder / "images" / "old.tar", "clash/tool:1", seed=1)
    make_image_archive(folder / "images" / "new.tar", "clash/tool:1", seed=2)
    make_image_archive(folder / "images" / "other.tar", "clash/other:1", seed=3)

    checked = cli("verify", "--bundle", str(folder))
    assert checked.returncode == 2, checked.stdout + checked.stderr
    line = next(line for line in checked.stdout.splitlines() if line.startswith("FAIL"))
    assert "docker.io/clash/tool:1" in line and "images/old.tar" in line and "images/new.tar" in line

    for _ in range(2):  # the ref never flips between the two images
        done = _import(daemon, folder, tmp_path / "state", "--json")
        assert done.returncode == 2, done.stdout + done.stderr
        statuses = {item["file"]: item["status"] for item in json.loads(done.stdout)["items"]}
        assert statuses["images/old.tar"] == statuses["images/new.tar"] == "failed"
        assert statuses["images/other.tar"] in ("ok", "skipped")
        for item in json.loads(done.stdout)["items"]:
            if item["status"] == "failed":
                assert "images/old.tar" in item["reason"] and "images/new.tar" in item["reason"]
        assert daemon.images() == ["docker.io/clash/other:1"]


# --- 4: two lanes on a disk that fits one image -----------------------------------------------


def test_two_lanes_on_a_disk_that_fits_one_image_end_with_one(small_disk: Containerd, tmp_path: Path,
                                                              reap: list[str]) -> None:
    """Two 9 MiB images (about 18.5 MiB each in containerd, blob + unpacked) on a 20 MiB disk, default lanes.

    A `ctr` wrapper holds each import until both lanes are importing, so they always
    compete for the space. One image must end complete; the other fails naming the full disk.
    """
    reap.append(str(tmp_path))  # the wrapper scripts, should a step fail before their gate opens
    bundle = _locked_bundle(tmp_path / "b", ("a", "lane/a:1", 1, 9 * MIB), ("b", "lane/b:1", 2, 9 * MIB))
    arrivals = tmp_path / "arrivals"
    arrivals.mkdir()
    wrapper = _wrapper(tmp_path, (
        f"if [ ! -e {arrivals}/both ]; then touch {arrivals}/lane.$$; "
        f"while [ $(ls {arrivals} | grep -c lane) -lt 2 ]; do sleep 0.05; done; touch {arrivals}/both; fi"))

    done = _import(small_disk, bundle, tmp_path / "state", "--json", ctr=str(wrapper))
    assert done.returncode == 1, done.stdout + done.stderr
    items = json.loads(done.stdout)["items"]
    assert sorted(item["status"] for item in items) == ["failed", "ok"], items
    (failed,) = (item for item in items if item["status"] == "failed")
    assert "no space left on device" in failed["reason"]
    imported = next(item for item in items if item["status"] == "ok")
    assert _complete(small_disk) >= set(imported["refs"])
    assert small_disk.images() == imported["refs"]


# --- 16: one import per containerd ------------------------------------------------------------


def test_two_imports_into_one_containerd_with_different_state_folders_do_not_run_at_once(
        daemon: Containerd, tmp_path: Path, reap: list[str]) -> None:
    """The second import (its own --state-dir) stops with exit 4 naming the first and the containerd socket."""
    reap.append(str(tmp_path))  # the wrapper scripts, should a step fail before their gate opens
    bundle = _locked_bundle(tmp_path / "b", ("a", "twice/a:1", 1, 64 * 1024))
    gate, waiting = tmp_path / "go", tmp_path / "waiting"
    wrapper = _wrapper(tmp_path, f"touch {waiting}; while [ ! -e {gate} ]; do sleep 0.05; done")

    first = start(_import_argv(daemon, bundle, tmp_path / "state-1", "--json", ctr=str(wrapper)), cwd=REPO)
    wait_for(waiting.exists, "the first import to reach containerd", proc=first)
    second = _import(daemon, bundle, tmp_path / "state-2", "--json")
    gate.touch()
    code, out, err = finish(first)

    assert second.returncode == 4, second.stdout + second.stderr
    assert f"(image import, pid {first.pid} on " in second.stderr
    assert str(daemon.socket) in second.stderr
    assert code == 0, err
    assert [item["status"] for item in json.loads(out)["items"]] == ["ok"]


# --- 1: a retag that fails half-way never loses the ref ----------------------------------------


def _failing_retag(tmp_path: Path, after_delete: str) -> Path:
    """A `ctr` whose `images tag --force STAGED REF` does the Delete and then fails before the Create.

    ``ctr images tag --force`` is Create, then on AlreadyExists Delete and Create
    (``cmd/ctr/commands/images/tag.go``, containerd v1.6.20 and v1.7.34). The script
    makes the real Delete of REF, then runs ``after_delete`` in place of the Create:
    what containerd dying, or a failed metadata write, between the two calls leaves.
    Every other command is the real ctr.
    """
    script = tmp_path / "ctr-retag"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"images tag --force import.offline-installer.invalid/staging/"*)\n'
        '  for ref; do :; done\n'
        '  ctr "$1" "$2" "$3" "$4" images rm "$ref" >/dev/null || exit 1\n'
        f"  {after_delete}\n"
        ";; esac\n"
        'exec ctr "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _row(daemon: Containerd, ref: str) -> tuple[str, str, str] | None:
    return next((row for row in _listing(daemon) if row[0] == ref), None)


def _ours(daemon: Containerd) -> list[str]:
    return [ref for ref, _, _ in _listing(daemon) if ref.startswith("import.offline-installer.invalid/")]


def test_a_retag_that_fails_between_delete_and_create_puts_the_old_image_back(daemon: Containerd,
                                                                           tmp_path: Path) -> None:
    """The new build of app:1 is imported, but creating the new app:1 record fails after the old one was deleted.

    The import fails, and app:1 holds its old image again, pinned and complete, with no
    backup or staged name left.
    """
    old = _locked_bundle(tmp_path / "old", ("app", "retag/app:1", 1, 256 * 1024))
    assert _import(daemon, old, tmp_path / "state").returncode == 0
    before = _row(daemon, "docker.io/retag/app:1")
    assert before is not None and "io.cri-containerd.pinned=pinned" in before[2]

    wrapper = _failing_retag(tmp_path, 'echo "ctr: write meta.db: no space left on device" >&2; exit 1')
    new = _locked_bundle(tmp_path / "new", ("app", "retag/app:1", 2, 256 * 1024))
    done = _import(daemon, new, tmp_path / "state", "--json", ctr=str(wrapper))
    assert done.returncode == 1, done.stdout + done.stderr
    assert json.loads(done.stdout)["counts"]["failed"] == 1
    assert _row(daemon, "docker.io/retag/app:1") == before
    assert "docker.io/retag/app:1" in _complete(daemon)
    assert _ours(daemon) == []


def test_containerd_killed_between_delete_and_create_the_next_run_puts_the_old_image_back(
        daemon: Containerd, tmp_path: Path, reap: list[str]) -> None:
    """containerd is killed (SIGKILL) after the old app:1 record was deleted, before the new one was created.

    The import fails; once containerd is back, the next import (of another archive)
    first puts app:1 back on its old image, pinned and complete.
    """
    reap.append(str(tmp_path))
    old = _locked_bundle(tmp_path / "old", ("app", "retag/app:2", 1, 256 * 1024))
    assert _import(daemon, old, tmp_path / "state").returncode == 0
    before = _row(daemon, "docker.io/retag/app:2")
    assert before is not None

    deleted, gate = tmp_path / "deleted", tmp_path / "go"
    wrapper = _failing_retag(tmp_path, f"touch {deleted}; while [ ! -e {gate} ]; do sleep 0.05; done")
    new = _locked_bundle(tmp_path / "new", ("app", "retag/app:2", 2, 256 * 1024))
    proc = start(_import_argv(daemon, new, tmp_path / "state", "--json", ctr=str(wrapper)), cwd=REPO)
    wait_for(deleted.exists, "the old record to be deleted", proc=proc)
    daemon.proc.send_signal(signal.SIGKILL)
    daemon.proc.wait()
    gate.touch()
    code, out, err = finish(proc)
    assert code == 1, out + err

    # containerd still down: the next run says why it cannot clean up, not only that it cannot
    down = _import(daemon, new, tmp_path / "state-2")
    assert down.returncode == 1, down.stdout + down.stderr
    assert "cannot clean up after an interrupted import" in down.stderr
    assert "connect" in down.stderr.split("cannot clean up after an interrupted import", 1)[1].split("\n", 1)[0]

    _restart(daemon)
    other = _locked_bundle(tmp_path / "other", ("other", "retag/other:1", 3, 64 * 1024))
    again = _import(daemon, other, tmp_path / "state")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _row(daemon, "docker.io/retag/app:2") == before
    assert "docker.io/retag/app:2" in _complete(daemon)
    assert _ours(daemon) == []


# --- 15: only the leases our killed ctr left are released ---------------------------------------


def test_a_lease_another_client_takes_during_the_import_is_not_released(daemon: Containerd, tmp_path: Path,
                                                                       reap: list[str]) -> None:
    """A `ctr images import` is killed mid-ingest; while the retry runs, another client takes a lease.

    That lease looks like ctr's (only ``containerd.io/gc.expire``: every client's default,
    the CRI plugin's pulls included) but was created outside the killed ctr's run: it stays.
    The killed ctr's own lease and ingest are released.
    """
    reap.append(str(tmp_path))
    bundle = _locked_bundle(tmp_path / "b", ("app", "lease/app:3", 1, 4 * MIB))
    halfway, gate, second, gate2 = (tmp_path / name for name in ("halfway", "go", "second", "go2"))
    wrapper = _wrapper(tmp_path, (
        f"if [ -e {halfway} ]; then touch {second}; while [ ! -e {gate2} ]; do sleep 0.05; done; exec ctr \"$@\"; fi\n"
        f"{{ head -c 1048576; touch {halfway}; while [ ! -e {gate} ]; do sleep 0.05; done; cat; }} "
        '| ctr "$@"; exit $?'))
    proc = start(_import_argv(daemon, bundle, tmp_path / "state", "--json", ctr=str(wrapper)), cwd=REPO)
    wait_for(halfway.exists, "the import to be streaming into containerd", proc=proc)
    wait_for(lambda: _leftovers(daemon)[1], "containerd to hold an active ingest", proc=proc)
    for pid in _real_ctr_importing(daemon):
        os.kill(pid, signal.SIGKILL)
    gate.touch()
    wait_for(second.exists, "the retry to start", proc=proc)
    # leases show whole seconds: take the other client's lease in a later second than the killed ctr's end
    started = second.stat().st_mtime
    wait_for(lambda: int(time.time()) > int(started), "the next second")
    foreign = daemon.ctr("leases", "create").stdout.strip()
    assert foreign in daemon.ctr("leases", "ls", "-q").stdout.split()
    gate2.touch()
    code, out, err = finish(proc)
    assert code == 0, out + err
    assert json.loads(out)["counts"] == {"ok": 1, "skipped": 0, "failed": 0}
    assert _leftovers(daemon) == ([foreign], [])


# --- 3: a run that never reached containerd leaves nothing to clean --------------------------------


def test_a_run_that_finds_no_socket_does_not_block_the_next_one(tmp_path: Path) -> None:
    """No containerd at the socket: each run says the socket does not exist (not "cannot clean up")."""
    bundle = _locked_bundle(tmp_path / "b", ("app", "nosock/app:1", 1, 64 * 1024))
    socket = tmp_path / "none" / "containerd.sock"
    for _ in range(2):
        done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(socket), "--ctr", "ctr",
                   "--state-dir", str(tmp_path / "state"))
        assert done.returncode == 1, done.stdout + done.stderr
        assert "the socket does not exist" in done.stderr, done.stderr
        assert "cannot clean up" not in done.stderr


# --- 8: what containerd hands back is bounded too ---------------------------------------------------


def test_a_deeply_nested_blob_in_containerd_is_no_traceback(daemon: Containerd) -> None:
    """A manifest-sized blob of 100 000 `[` in the content store: reading its config digest answers "unknown"."""
    import hashlib

    from installer.bundle.importer import ContainerdStore
    from installer.engine.commands import RealRunner

    body = b"[" * 100_000
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    daemon.ctr("content", "ingest", "--expected-digest", digest, "nested", input=body)
    store = ContainerdStore(RealRunner(), socket=daemon.socket, namespace=daemon.namespace, ctr="ctr")
    assert store._config_of(digest) is None


def test_a_ref_named_again_after_a_failed_retag_is_not_rolled_back_at_the_end_of_the_run(daemon: Containerd,
                                                                                        tmp_path: Path) -> None:
    """Two archives carry the new build of app:1. The first retag fails after its Delete and putting
    the old image back fails too; the other archive then names app:1 successfully.

    The run reports that archive imported, so app:1 must hold the new image afterwards:
    the backup kept from the failed attempt must not be "restored" over it at the end.
    """
    old = _locked_bundle(tmp_path / "old", ("app", "again/app:1", 1, 256 * 1024))
    assert _import(daemon, old, tmp_path / "state").returncode == 0
    before = _row(daemon, "docker.io/again/app:1")
    assert before is not None
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "ctr-once"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  *"images tag --force import.offline-installer.invalid/staging/"*)\n'
        f'    if [ ! -e {marks}/staged ]; then touch {marks}/staged\n'
        '      for ref; do :; done\n'
        '      ctr "$1" "$2" "$3" "$4" images rm "$ref" >/dev/null || exit 1\n'
        '      echo "ctr: connection reset by peer" >&2; exit 1\n'
        '    fi;;\n'
        '  *"images tag --force import.offline-installer.invalid/backup/"*)\n'
        f'    if [ ! -e {marks}/backup ]; then touch {marks}/backup\n'
        '      echo "ctr: connection reset by peer" >&2; exit 1\n'
        '    fi;;\n'
        "esac\n"
        'exec ctr "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    new = _locked_bundle(tmp_path / "new", ("app", "again/app:1", 2, 256 * 1024),
                         ("app-copy", "again/app:1", 2, 256 * 1024))
    done = _import(daemon, new, tmp_path / "state", "--json", ctr=str(script))
    assert (marks / "staged").exists() and (marks / "backup").exists(), "the failures were not injected"
    assert json.loads(done.stdout)["counts"] == {"ok": 1, "skipped": 0, "failed": 1}, done.stdout + done.stderr
    after = _row(daemon, "docker.io/again/app:1")
    assert after is not None and after[1] != before[1], "the imported image was rolled back to the old one"
    assert "io.cri-containerd.pinned=pinned" in after[2]
    assert _ours(daemon) == []
