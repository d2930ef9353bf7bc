"""Day two against the MicroK8s twin and the real containerd: the catalog changes and ``status``.

A real install runs first (it saves its profile in the state folder); then the CLI is
called as the operator calls it. A "running server" is a pod labelled and annotated as
KubeSpawner makes them (``component: singleuser-server``, ``hub.jupyter.org/username``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from imagegen import make_image_archive
from twin.charts import build_bundle
from twin.fixture import Twin, make_twin, use_twin
from twin.test_install_e2e import REPO, install, write_profile

from installer.bundle.manifest import save_manifest
from installer.bundle.scan import lock_bundle
from installer.check.token import token_path
from installer.cli import main
from installer.config.profile import load_profile
from installer.daytwo import saved

pytestmark = [pytest.mark.containerd,
              pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")]

NEW_REF = "quay.io/example/torch-notebook:2025.1"
SINGLEUSER = {"usr/local/bin/jupyterhub-singleuser": b"#!/bin/sh\nexec jupyter-labhub \"$@\"\n"}


@pytest.fixture
def site(tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The cpu profile installed on a twin; a top-up bundle holding one notebook image."""
    twin = make_twin(tmp_path, clean_containerd)
    use_twin(monkeypatch, twin)
    bundle = tmp_path / "offline-images"
    profile_path = write_profile("cpu", tmp_path / "cpu.yaml", bundle)
    profile = load_profile(profile_path)
    build_bundle(bundle, profile)
    found = {"twin": twin, "profile": profile, "profile_path": profile_path, "bundle": bundle,
             "state": tmp_path / "state", "tmp": tmp_path}
    result, _ = install(found)
    assert result.ok, result.error
    topup = tmp_path / "topup"
    make_image_archive(topup / "images" / "torch.tar", NEW_REF, seed=91, size=2048, files=SINGLEUSER)
    save_manifest(lock_bundle(topup, known_refs={}), topup)
    found["topup"] = topup
    return found


def cli(site: dict[str, Any], capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``./install.sh images ...`` / ``status`` in this process, aimed at the twin's containerd."""
    twin: Twin = site["twin"]
    extra = ["--state-dir", str(site["state"])]
    if argv[0] == "images":
        extra += ["--containerd-socket", str(twin.containerd.socket), "--namespace", twin.containerd.namespace]
    code = main([*argv, *extra])
    out, err = capsys.readouterr()
    token = token_path(site["state"]).read_text().strip()
    assert token and token not in out + err, "the acceptance check's token (in the hub's values) was shown"
    return code, out, err


def deployed_values(twin: Twin) -> dict[str, Any]:
    """The hub release's values as the twin's Helm stored them (the latest revision)."""
    return twin.state()["releases"]["jupyterhub/jupyterhub"][-1]["values"]


def offered(twin: Twin) -> list[str]:
    """The slugs the hub offers (``singleuser.profileList``)."""
    return [p["slug"] for p in deployed_values(twin)["singleuser"]["profileList"]]


def revision(twin: Twin) -> int:
    return int(twin.state()["releases"]["jupyterhub/jupyterhub"][-1]["revision"])


def diff_lines(out: str) -> tuple[list[str], list[str]]:
    """The removed and added lines of the unified diff in ``out``."""
    lines = [line for line in out.splitlines() if not line.startswith(("---", "+++"))]
    return [line[1:] for line in lines if line.startswith("-")], [line[1:] for line in lines if line.startswith("+")]


def start_server(twin: Twin, user: str, image: str) -> None:
    """A user's server pod as KubeSpawner makes it (labels and annotation: kubespawner ``spawner.py``)."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"jupyter-{user}", "namespace": "jupyterhub",
                        "labels": {"component": "singleuser-server", "hub.jupyter.org/username": user},
                        "annotations": {"hub.jupyter.org/username": user}},
           "spec": {"containers": [{"name": "notebook", "image": image, "imagePullPolicy": "IfNotPresent"}]}}
    path = Path(twin.config.state_dir) / f"pod-{user}.yaml"
    path.write_text(yaml.safe_dump(pod))
    done = twin.run("microk8s", "kubectl", "apply", "-f", str(path))
    assert done.returncode == 0, done.stderr


def stop_server(twin: Twin, user: str) -> None:
    done = twin.run("microk8s", "kubectl", "-n", "jupyterhub", "delete", "pod", f"jupyter-{user}")
    assert done.returncode == 0, done.stderr


def add(site: dict[str, Any], capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str, str]:
    return cli(site, capsys, "images", "add", "--bundle", str(site["topup"]), NEW_REF, "--name", "torch",
               "--display-name", "PyTorch", "--cpu", "4", "--mem", "8G", *more)


def test_add_dry_run_shows_exactly_the_new_entry_and_changes_nothing(site: dict[str, Any],
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    twin: Twin = site["twin"]
    before_rev, before_profile = revision(twin), saved.profile_path(site["state"]).read_text()
    code, out, err = add(site, capsys, "--dry-run")
    assert code == 0, err
    removed, added = diff_lines(out)
    assert removed == []
    expected = [{"display_name": "PyTorch", "slug": "torch", "description": NEW_REF,
                 "kubespawner_override": {"image": NEW_REF, "image_pull_policy": "IfNotPresent",
                                          "cpu_limit": 4.0, "mem_limit": "8G"}}]
    block = yaml.safe_dump(expected, sort_keys=False, default_flow_style=False).splitlines()
    assert [a.strip() for a in added] == [b.strip() for b in block]
    assert revision(twin) == before_rev
    assert saved.profile_path(site["state"]).read_text() == before_profile
    assert not any(NEW_REF in i for i in twin.containerd.images())


def test_add_imports_offers_and_status_shows_it(site: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    twin: Twin = site["twin"]
    before_rev = revision(twin)
    code, _, err = add(site, capsys)
    assert code == 0, err
    assert revision(twin) == before_rev + 1, "one helm upgrade"
    assert "torch" in offered(twin)
    assert any(NEW_REF in i for i in twin.containerd.images())
    assert [i.name for i in saved.load_installed(site["state"]).jupyterhub.images][-1] == "torch"
    code, out, _ = cli(site, capsys, "status", "--json")
    report = json.loads(out)
    assert code == 0, report["problems"]
    assert {"name": "torch", "on_shelf": True} .items() <= next(c for c in report["catalog"]
                                                               if c["name"] == "torch").items()
    assert any(r["name"] == "jupyterhub" and r["chart"] == "jupyterhub-4.2.0" for r in report["releases"])
    assert report["hub_url"] == f"http://{twin.config.node_ip}:30080/"


def test_add_refuses_an_image_that_fails_the_notebook_checks(site: dict[str, Any],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = site["tmp"] / "bad"
    make_image_archive(bad / "images" / "root.tar", NEW_REF, seed=92, size=2048, user="0")
    save_manifest(lock_bundle(bad, known_refs={}), bad)
    code, _, err = cli(site, capsys, "images", "add", "--bundle", str(bad), NEW_REF, "--name", "torch")
    assert code == 2
    assert NEW_REF in err and "jupyterhub-singleuser" in err
    assert "torch" not in offered(site["twin"])


def test_edit_changes_exactly_one_value(site: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    name = site["profile"].jupyterhub.images[0].name
    old_mem = site["profile"].jupyterhub.images[0].mem_limit
    code, out, err = cli(site, capsys, "images", "edit", name, "--mem", "6G")
    assert code == 0, err
    removed, added = diff_lines(out)
    assert [r.strip() for r in removed] == [f"mem_limit: {old_mem}"]
    assert [a.strip() for a in added] == ["mem_limit: 6G"]
    entry = next(p for p in deployed_values(site["twin"])["singleuser"]["profileList"] if p["slug"] == name)
    assert entry["kubespawner_override"]["mem_limit"] == "6G"


def test_disable_keeps_running_servers_and_enable_offers_again(site: dict[str, Any],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    twin: Twin = site["twin"]
    assert add(site, capsys)[0] == 0
    start_server(twin, "alice", NEW_REF)
    code, _, err = cli(site, capsys, "images", "disable", "torch")
    assert code == 0, err
    assert "torch" not in offered(twin)
    pods = json.loads(twin.run("microk8s", "kubectl", "-n", "jupyterhub", "get", "pods", "-o", "json").stdout)
    alice = next(p for p in pods["items"] if p["metadata"]["name"] == "jupyter-alice")
    assert alice["status"]["phase"] == "Running"
    assert not next(i for i in saved.load_installed(site["state"]).jupyterhub.images if i.name == "torch").enabled
    code, out, _ = cli(site, capsys, "images", "list")
    assert "OFF shelf  torch" in out
    code, _, err = cli(site, capsys, "images", "enable", "torch")
    assert code == 0, err
    assert "torch" in offered(twin)


def test_remove_refuses_while_a_server_runs_it_naming_the_user(site: dict[str, Any],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    twin: Twin = site["twin"]
    assert add(site, capsys)[0] == 0
    start_server(twin, "alice", NEW_REF)
    rev = revision(twin)
    code, _, err = cli(site, capsys, "images", "remove", "torch")
    assert code == 2
    assert "alice" in err
    assert revision(twin) == rev and "torch" in offered(twin)
    stop_server(twin, "alice")
    code, _, err = cli(site, capsys, "images", "remove", "torch")
    assert code == 0, err
    assert "torch" not in offered(twin)
    assert not any(NEW_REF in i for i in twin.containerd.images())
    assert "torch" not in [i.name for i in saved.load_installed(site["state"]).jupyterhub.images]


def test_remove_keep_image_leaves_it_in_containerd(site: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    twin: Twin = site["twin"]
    assert add(site, capsys)[0] == 0
    code, _, err = cli(site, capsys, "images", "remove", "torch", "--keep-image")
    assert code == 0, err
    assert "torch" not in offered(twin)
    assert any(NEW_REF in i for i in twin.containerd.images())


def test_status_names_a_pod_whose_image_is_missing(site: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(site, capsys, "status")
    assert code == 0, out
    assert "healthy" in out.splitlines()[-1]
    assert any(line.startswith("node ") and "(control-plane" in line and line.endswith(": Ready")
               for line in out.splitlines()), out  # the node listing add-node's operators read
    start_server(site["twin"], "bob", "quay.io/example/not-imported:1")
    code, out, _ = cli(site, capsys, "status", "--json")
    report = json.loads(out)
    assert code == 1
    bob = next(p for p in report["failing_pods"] if p["name"] == "jupyter-bob")
    assert bob["reason"] == "ImagePullBackOff" and bob["user"] == "bob"
    assert any("jupyter-bob" in p and "ImagePullBackOff" in p for p in report["problems"])


def test_interrupted_change_resumes(site: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL ``images disable`` while Helm upgrades; ``images resume`` finishes it."""
    twin: Twin = site["twin"]
    assert add(site, capsys)[0] == 0
    twin.configure(helm_delay=60.0)
    argv = [sys.executable, "-m", "installer", "images", "disable", "torch", "--state-dir", str(site["state"]),
            "--containerd-socket", str(twin.containerd.socket), "--namespace", twin.containerd.namespace]
    out = (site["tmp"] / "child.out").open("w")
    proc = subprocess.Popen(argv, cwd=REPO, env=twin.env(), stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        from tests.faults.support import wait_for

        wait_for(lambda: twin.state()["releases"]["jupyterhub/jupyterhub"][-1]["status"] == "pending-upgrade"
                 or proc.poll() is not None, "Helm to start upgrading the hub")
        assert proc.poll() is None, (site["tmp"] / "child.out").read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    assert saved.pending(site["state"]) is not None
    twin.configure(helm_delay=0.0)
    code, _, err = cli(site, capsys, "images", "resume")
    assert code == 0, err
    assert twin.state()["releases"]["jupyterhub/jupyterhub"][-1]["status"] == "deployed"
    assert "torch" not in offered(twin)
    assert saved.pending(site["state"]) is None
    assert not next(i for i in saved.load_installed(site["state"]).jupyterhub.images if i.name == "torch").enabled


def test_status_with_nothing_installed_says_so_and_exits_0(twin: Twin, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["status", "--state-dir", str(tmp_path / "state")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "MicroK8s: not installed" in out and "no install has run" in out


def test_images_without_an_install_names_the_state_folder(twin: Twin, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["images", "list", "--state-dir", str(tmp_path / "state")])
    err = capsys.readouterr().err
    assert code == 2
    assert str(tmp_path / "state") in err and "profile.yaml" in err


def test_the_values_the_diff_is_made_of_mask_the_check_token(site: dict[str, Any]) -> None:
    """The whole values text (any of its lines may be diff context) holds the token only as ***."""
    from installer.daytwo.apply import hub_values_text
    from installer.engine.events import NullSink
    from installer.install_run import InstallOptions, make_context, make_redactor

    profile = saved.load_installed(site["state"])
    options = InstallOptions(profile=profile, state_dir=site["state"])
    text = hub_values_text(make_context(options, NullSink(), redactor=make_redactor(profile)), profile)
    token = token_path(site["state"]).read_text().strip()
    assert "apiToken" in text and token not in text


def test_a_pending_change_can_be_abandoned(site: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """A change that cannot finish (its image is not in containerd) stays pending; ``resume --abandon`` drops it."""
    twin: Twin = site["twin"]
    installed = saved.profile_path(site["state"]).read_text()
    name = site["profile"].jupyterhub.images[0].name
    code, _, err = cli(site, capsys, "images", "edit", name, "--image", "quay.io/example/never-imported:1")
    assert code == 2, err
    assert "never-imported" in err and "images resume --abandon" in err
    assert saved.pending(site["state"]) is not None
    code, _, err = cli(site, capsys, "images", "disable", name)  # any change first finishes the pending one
    assert code == 2 and "interrupted" in err
    code, _, err = cli(site, capsys, "images", "resume", "--abandon")
    assert code == 0, err
    assert saved.pending(site["state"]) is None
    assert saved.profile_path(site["state"]).read_text() == installed
    assert twin.state()["releases"]["jupyterhub/jupyterhub"][-1]["status"] == "deployed"
