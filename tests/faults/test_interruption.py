"""Interruption: SIGKILL during an image import and during a Helm step, Ctrl-C headless.

What the operator must see: after a kill, running the same command again finishes
the job, imports nothing twice and ends in exactly the state an uninterrupted run
leaves; nothing the killed run started keeps running behind their back; Ctrl-C
exits 130 with the journal saved and a line saying how to resume.
(Ctrl-C in the wizard belongs to the wizard's own tests.)
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from imagegen import make_image_archive

from installer.bundle.manifest import save_manifest
from installer.bundle.scan import lock_bundle
from tests.faults.fake_install import final_state
from tests.faults.support import (
    PY,
    REPO,
    fake_install_argv,
    finish,
    kill,
    make_host,
    make_install_bundle,
    processes_using,
    start,
    wait_for,
    write_profile,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")

IMAGES = 4
IMAGE_BYTES = 24 << 20
"""Big enough that ``ctr images import`` of one archive takes a noticeable moment (~0.3 s here)."""


# --- image import --------------------------------------------------------------------------


def _import_argv(containerd: Any, bundle: Path, state: Path, *extra: str) -> list[str]:
    return [PY, "-m", "installer", "import", "--bundle", str(bundle), "--containerd-socket", str(containerd.socket),
            "--namespace", containerd.namespace, "--ctr", "ctr", "--state-dir", str(state), *extra]


def _store_state(containerd: Any) -> dict[str, tuple[str, bool]]:
    """ref -> (image ID, pinned), read from containerd itself (not through the code under test)."""
    state = {}
    for line in containerd.ctr("images", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields[0].startswith("sha256:"):
            continue
        manifest = json.loads(containerd.ctr("content", "get", fields[2]).stdout)
        state[fields[0]] = (manifest["config"]["digest"], "io.cri-containerd.pinned=pinned" in fields[-1])
    return state


def _bundle(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    bundle = tmp_path / "bundle"
    expected = {}
    for n in range(IMAGES):
        built = make_image_archive(bundle / "images" / f"k{n}.tar", f"kill/k{n}:1", seed=n, size=IMAGE_BYTES)
        expected[f"docker.io/kill/k{n}:1"] = built.config_digest
    save_manifest(lock_bundle(bundle), bundle)
    return bundle, expected


def _read_stderr(proc: Any, lines: list[str]) -> threading.Thread:
    def pump() -> None:
        for line in proc.stderr:
            lines.append(line)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def test_sigkill_during_image_import_then_rerun_imports_nothing_twice(clean_containerd: Any, tmp_path: Path) -> None:
    """SIGKILL `import` while an archive streams into containerd.

    The operator must see: no `ctr images import` left running by the dead installer;
    the re-run skips every archive that was complete, imports only the rest, exits 0,
    and containerd ends holding exactly what an uninterrupted import leaves (same
    image IDs, every ref pinned).
    """
    bundle, expected = _bundle(tmp_path)
    proc = start(_import_argv(clean_containerd, bundle, tmp_path / "state", "--jobs", "1"), cwd=REPO)
    lines: list[str] = []
    pump = _read_stderr(proc, lines)
    wait_for(lambda: any(line.startswith("imported: ") for line in lines), "the first archive to be imported")
    proc.send_signal(signal.SIGKILL)
    code = proc.wait(timeout=60)
    pump.join(timeout=10)
    assert code == -signal.SIGKILL

    # Nothing the killed installer started may keep importing behind the re-run's back.
    wait_for(lambda: not processes_using(str(clean_containerd.socket)), "the killed run's ctr to die", timeout=10)
    after_kill = _store_state(clean_containerd)
    complete = {ref for ref, (digest, _) in after_kill.items() if expected.get(ref) == digest}
    assert complete, "the kill came before anything was imported"
    assert complete != set(expected), "the kill came after everything was imported"

    rerun = finish(start(_import_argv(clean_containerd, bundle, tmp_path / "state", "--json"), cwd=REPO))
    assert rerun[0] == 0, rerun[2]
    items = {item["refs"][0]: item["status"] for item in json.loads(rerun[1])["items"]}
    assert items == {ref: "skipped" if ref in complete else "ok" for ref in expected}
    resumed = _store_state(clean_containerd)
    assert resumed == {ref: (digest, True) for ref, digest in expected.items()}

    clean_containerd.reset()
    uninterrupted = finish(start(_import_argv(clean_containerd, bundle, tmp_path / "state2"), cwd=REPO))
    assert uninterrupted[0] == 0, uninterrupted[2]
    assert _store_state(clean_containerd) == resumed


def test_ctrl_c_during_image_import_exits_130_and_says_how_to_resume(clean_containerd: Any, tmp_path: Path) -> None:
    """SIGINT `import` mid-way: exit 130, a line saying to run it again, and the re-run finishes."""
    bundle, expected = _bundle(tmp_path)
    proc = start(_import_argv(clean_containerd, bundle, tmp_path / "state", "--jobs", "1"), cwd=REPO)
    lines: list[str] = []
    pump = _read_stderr(proc, lines)
    wait_for(lambda: any(line.startswith("imported: ") for line in lines), "the first archive to be imported")
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    pump.join(timeout=10)
    assert code == 130, "".join(lines)
    assert any("run the same command again to resume" in line for line in lines), "".join(lines)
    assert not any("Traceback" in line for line in lines), "".join(lines)
    wait_for(lambda: not processes_using(str(clean_containerd.socket)), "the interrupted run's ctr to stop", timeout=10)

    rerun = finish(start(_import_argv(clean_containerd, bundle, tmp_path / "state"), cwd=REPO))
    assert rerun[0] == 0, rerun[2]
    assert _store_state(clean_containerd) == {ref: (digest, True) for ref, digest in expected.items()}


# --- Helm steps -----------------------------------------------------------------------------


def _install_setup(tmp_path: Path, name: str) -> dict[str, Path]:
    root = tmp_path / name
    root.mkdir()
    bundle = make_install_bundle(root)
    return {"cluster": root / "cluster.json", "profile": write_profile(root / "profile.yaml", bundle),
            "state": root / "state", "host": make_host(root / "host"), "log": root / "install.log"}


def _argv(paths: dict[str, Path], *extra: str, **options: Any) -> list[str]:
    return fake_install_argv(paths["cluster"], paths["profile"], paths["state"], paths["host"], paths["log"], *extra,
                             **options)


def _release_status(cluster: Path, release: str = "jupyterhub") -> str | None:
    try:
        return json.loads(cluster.read_text())["releases"].get(release, {}).get("status")
    except (OSError, ValueError):
        return None


def _events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def _statuses(stdout: str) -> dict[str, str]:
    return {e["step_id"]: e["status"] for e in _events(stdout) if e["event"] == "step_finished"}


def _journal(state: Path) -> set[str]:
    return set(json.loads((state / "journal.json").read_text())["steps"])


def test_sigkill_during_helm_install_then_rerun_ends_like_an_uninterrupted_run(tmp_path: Path) -> None:
    """SIGKILL the installer while `helm upgrade --install jupyterhub` works (the release is pending-install).

    The operator must see: the re-run resumes (finished steps skipped), clears the
    release the killed Helm left pending (Helm itself would refuse every later upgrade
    with "another operation is in progress"), installs it, exits 0, and the cluster
    ends exactly as after a run nobody interrupted.
    """
    killed = _install_setup(tmp_path, "killed")
    proc = start(_argv(killed, helm_delay=60))
    wait_for(lambda: _release_status(killed["cluster"]) == "pending-install", "helm to start installing the hub",
             proc=proc)
    code, _, _ = kill(proc, signal.SIGKILL)
    assert code == -signal.SIGKILL
    finished_before = _journal(killed["state"])
    assert "microk8s.hostpath-storage" in finished_before
    assert "jupyterhub.install" not in finished_before

    code, out, err = finish(start(_argv(killed, "--output", "jsonl")))
    assert code == 0, err
    statuses = _statuses(out)
    assert {statuses[s] for s in finished_before} == {"skipped"}
    assert statuses["jupyterhub.install"] == "ok"
    warnings = [e["message"] for e in _events(out) if e["event"] == "log" and e["level"] == "warning"]
    assert any("left pending-install" in w and "interrupted run" in w for w in warnings), warnings
    assert json.loads(killed["cluster"].read_text())["helm_ops"] == [
        "upgrade jupyterhub", "uninstall jupyterhub", "upgrade jupyterhub"]

    reference = _install_setup(tmp_path, "reference")
    code, _, err = finish(start(_argv(reference)))
    assert code == 0, err
    assert final_state(killed["cluster"]) == final_state(reference["cluster"])


def test_sigkill_during_helm_upgrade_rolls_back_then_upgrades(tmp_path: Path) -> None:
    """A changed profile upgrades the hub; SIGKILL mid-upgrade leaves pending-upgrade.

    The operator must see: the re-run rolls the release back to its last good revision,
    applies the new values, and the cluster ends as after an uninterrupted upgrade.
    """
    paths = _install_setup(tmp_path, "killed")
    reference = _install_setup(tmp_path, "reference")
    for setup in (paths, reference):
        assert finish(start(_argv(setup)))[0] == 0
        data = yaml.safe_load(setup["profile"].read_text())
        data["jupyterhub"]["storage"]["size"] = "20Gi"
        setup["profile"].write_text(yaml.safe_dump(data))

    proc = start(_argv(paths, helm_delay=60))
    wait_for(lambda: _release_status(paths["cluster"]) == "pending-upgrade", "helm to start upgrading the hub",
             proc=proc)
    kill(proc, signal.SIGKILL)
    code, _out, err = finish(start(_argv(paths, "--output", "jsonl")))
    assert code == 0, err
    assert json.loads(paths["cluster"].read_text())["helm_ops"][-3:] == [
        "upgrade jupyterhub", "rollback jupyterhub", "upgrade jupyterhub"]

    assert finish(start(_argv(reference)))[0] == 0
    assert final_state(paths["cluster"]) == final_state(reference["cluster"])
    values = final_state(paths["cluster"])["releases"]["jupyterhub"]["values"]
    assert values["singleuser"]["storage"]["capacity"] == "20Gi"


def test_ctrl_c_headless_exits_130_keeps_the_journal_and_says_how_to_resume(tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) during the hub's Helm step of an unattended install.

    The operator must see: exit code 130, the step marked interrupted, a line on
    stderr saying to run the same command again, the journal of finished steps on
    disk, the lock released; and the re-run finishing the install.
    """
    paths = _install_setup(tmp_path, "run")
    proc = start(_argv(paths, helm_delay=60))
    wait_for(lambda: _release_status(paths["cluster"]) == "pending-install", "helm to start installing the hub",
             proc=proc)
    code, out, err = kill(proc, signal.SIGINT)
    assert code == 130, err
    assert "interrupted: run the same command again to resume" in err
    assert "Traceback" not in err + out
    assert "FAIL  jupyterhub.install" in out
    finished = _journal(paths["state"])
    assert {"microk8s.snaps", "microk8s.kubelet-dir", "microk8s.dns"} <= finished
    assert "jupyterhub.install" not in finished
    assert "interrupted" in paths["log"].read_text()

    code, out, err = finish(start(_argv(paths)))
    assert code == 0, err
    assert "resuming:" in out
    assert _release_status(paths["cluster"]) == "deployed"


def test_commands_die_with_a_killed_installer(tmp_path: Path, reap: list[str]) -> None:
    """SIGKILL an installer process while a command it started runs (from the main thread and from a lane thread).

    The operator must see: nothing left running. A surviving `helm upgrade` or
    `ctr images import` would race the re-run they start next.
    """
    marker = f"fault-suite-orphan-{tmp_path.name}"
    reap.append(marker)
    script = (
        "import sys, threading\n"
        "from installer.engine.commands import RealRunner\n"
        f"argv = [sys.executable, '-c', 'import time; time.sleep(300)', '{marker}']\n"
        "threading.Thread(target=RealRunner().run, args=(argv,), kwargs={'timeout': 600}, daemon=True).start()\n"
        "print('started', flush=True)\n"
        "RealRunner().run(argv, timeout=600)\n"
    )
    proc = start([PY, "-c", script], cwd=REPO)
    wait_for(lambda: len(processes_using(marker)) >= 2, "both commands to start", proc=proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    wait_for(lambda: not processes_using(marker), "the killed installer's commands to die", timeout=10)
