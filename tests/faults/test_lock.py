"""A second installer at the same time: the lock, proven end to end with two real processes.

What the operator must see: the second run stops at once with exit 4 and a line
naming who holds the lock (what it does, its pid, host and start time); the first
run is not disturbed and nothing is imported twice. Install and import share the
lock, so an import can never race an install either.
"""

from __future__ import annotations

import json
import os
import signal
import stat
from pathlib import Path
from typing import Any

import pytest
from imagegen import make_image_archive

from installer.bundle.manifest import save_manifest
from installer.bundle.scan import lock_bundle
from tests.faults.support import (
    PY,
    REPO,
    cli,
    fake_install_argv,
    finish,
    make_host,
    make_install_bundle,
    start,
    wait_for,
    write_profile,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")


def _gated_ctr(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A `ctr` that holds every image import until a file appears, then runs the real ctr.

    It keeps the first installer inside its import (holding the lock) for exactly as
    long as the test needs, without any sleep in the test.
    """
    gate, waiting = tmp_path / "go", tmp_path / "waiting"
    wrapper = tmp_path / "gated-ctr"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"images import"*)\n'
        f"  touch {waiting}\n"
        f"  while [ ! -e {gate} ]; do sleep 0.05; done ;;\n"
        "esac\n"
        'exec ctr "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, gate, waiting


def _import_argv(containerd: Any, bundle: Path, state: Path, ctr: str = "ctr", *extra: str) -> list[str]:
    return [PY, "-m", "installer", "import", "--bundle", str(bundle), "--containerd-socket", str(containerd.socket),
            "--namespace", containerd.namespace, "--ctr", ctr, "--state-dir", str(state), *extra]


def test_second_import_says_who_holds_the_lock_and_exits_4(clean_containerd: Any, tmp_path: Path) -> None:
    """Two `import` runs on one host: the second refuses (exit 4, names the first).

    The first imports everything once.
    """
    bundle = tmp_path / "bundle"
    for n in range(2):
        make_image_archive(bundle / "images" / f"l{n}.tar", f"lock/l{n}:1", seed=n)
    save_manifest(lock_bundle(bundle), bundle)
    wrapper, gate, waiting = _gated_ctr(tmp_path)
    state = tmp_path / "state"

    first = start(_import_argv(clean_containerd, bundle, state, str(wrapper), "--json"), cwd=REPO)
    wait_for(waiting.exists, "the first import to reach containerd", proc=first)
    second = finish(start(_import_argv(clean_containerd, bundle, state, "ctr", "--json"), cwd=REPO))
    gate.touch()
    code, out, err = finish(first)

    assert second[0] == 4, second[2]
    assert second[1] == ""  # no result document: it did nothing
    assert f"another installer is running (image import, pid {first.pid} on " in second[2]
    assert f"lock file {state / 'install.lock'}" in second[2]
    assert "hint: Wait for it to finish, or stop it" in second[2]
    assert code == 0, err
    assert {item["status"] for item in json.loads(out)["items"]} == {"ok"}
    assert clean_containerd.images() == ["docker.io/lock/l0:1", "docker.io/lock/l1:1"]


def _install(tmp_path: Path) -> dict[str, Path]:
    bundle = make_install_bundle(tmp_path)
    return {"cluster": tmp_path / "cluster.json", "profile": write_profile(tmp_path / "profile.yaml", bundle),
            "state": tmp_path / "state", "host": make_host(tmp_path / "host"), "log": tmp_path / "install.log",
            "bundle": bundle}


def _release_pending(cluster: Path) -> bool:
    try:
        return json.loads(cluster.read_text())["releases"]["jupyterhub"]["status"] == "pending-install"
    except (OSError, ValueError, KeyError):
        return False


def test_second_install_and_an_import_refuse_while_an_install_runs(tmp_path: Path) -> None:
    """An install holds the lock (its Helm step is working); a second install and an import both exit 4 naming it.

    The first install is then stopped with Ctrl-C: the lock is released with it, and
    a new run gets past the lock.
    """
    paths = _install(tmp_path)
    first = start(fake_install_argv(paths["cluster"], paths["profile"], paths["state"], paths["host"], paths["log"],
                                    helm_delay=60))
    wait_for(lambda: _release_pending(paths["cluster"]), "the first install to reach its Helm step", proc=first)

    # The second install is the same CLI with its own stand-in cluster: were the lock broken, it would still
    # change nothing on this machine.
    second = finish(start(fake_install_argv(tmp_path / "cluster-2.json", paths["profile"], paths["state"],
                                            paths["host"], tmp_path / "second.log")))
    importer = cli("import", "--bundle", str(paths["bundle"]), "--state-dir", str(paths["state"]),
                   "--containerd-socket", str(tmp_path / "no.sock"))
    first.send_signal(signal.SIGINT)
    assert finish(first)[0] == 130

    for code, err in ((second[0], second[2]), (importer.returncode, importer.stderr)):
        assert code == 4, err
        assert f"error: another installer is running (install, pid {first.pid} on " in err
    assert "[1/" not in second[1]  # the second install never started a step
    assert not (tmp_path / "cluster-2.json").exists()  # nor ran a single command

    third = finish(start(fake_install_argv(paths["cluster"], paths["profile"], paths["state"], paths["host"],
                                           paths["log"])))
    assert third[0] == 0, third[2]
