"""Day two against the MicroK8s twin and the real containerd: upgrade from a new bundle, uninstall.

The install is the product's (``run_install``); the upgrade and the uninstall are too (the
upgrade's session in-process, so a test can interrupt it the way the wizard's Cancel and
Ctrl-C do: between steps; the uninstall through the command line). Images go into the
fixtures' containerd, where the pin labels are read back with ``ctr``.

The new bundle carries z2jh "4.2.1", a chart version the installer does not know: the test
adds it to the chart-version table (the same images as 4.2.0 but a new hub image), which
gives exactly one new image and one image no longer needed.
"""

from __future__ import annotations

import io
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import base_host
from twin.charts import build_bundle
from twin.fixture import Twin, make_twin, use_twin

from installer.bundle.importer import PINNED_LABEL
from installer.cli import main
from installer.components.jupyterhub import artifacts
from installer.config.profile import Profile, load_profile
from installer.engine.events import Event
from installer.install_run import InstallOptions, run_install
from installer.lifecycle.changes import ChartChange
from installer.lifecycle.installed import load_installed
from installer.lifecycle.upgrade import PENDING, pending_bundle, prepare, run_upgrade

pytestmark = [pytest.mark.containerd,
              pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")]

REPO = Path(__file__).resolve().parents[2]
OLD_HUB = "quay.io/jupyterhub/k8s-hub:4.2.0"
NEW_HUB = "quay.io/jupyterhub/k8s-hub:4.2.1"


class Events:
    """Collects the run's events; can cancel the run once a step finished (an interrupt between steps)."""

    def __init__(self, cancel_after: str | None = None) -> None:
        self.items: list[Event] = []
        self.cancel = threading.Event()
        self.cancel_after = cancel_after

    def emit(self, event: Event) -> None:
        self.items.append(event)
        if type(event).__name__ == "StepFinished" and event.step_id == self.cancel_after:  # type: ignore[attr-defined]
            self.cancel.set()

    def close(self) -> None:
        pass

    def steps(self) -> dict[str, str]:
        return {e.step_id: e.status for e in self.items if type(e).__name__ == "StepFinished"}  # type: ignore[attr-defined]

    def reasons(self) -> dict[str, str]:
        return {e.step_id: e.reason for e in self.items if type(e).__name__ == "StepFinished"}  # type: ignore[attr-defined]


def _profile(path: Path, bundle: Path, chart: str) -> Profile:
    data = yaml.safe_load((REPO / "profiles" / "cpu.yaml").read_text())
    data["bundle"] = str(bundle)
    data["jupyterhub"]["ready_timeout"] = 30
    data["jupyterhub"]["chart_version"] = chart
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_profile(path)


@pytest.fixture
def site(tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The cpu profile installed on the twin from bundle A; bundle B carries z2jh 4.2.1 with a new hub image."""
    twin = make_twin(tmp_path, clean_containerd, base_host)
    use_twin(monkeypatch, twin)
    monkeypatch.setitem(artifacts.KNOWN_HUB_IMAGES, "4.2.1",
                        artifacts.HubImages(hub=NEW_HUB, proxy=artifacts.KNOWN_HUB_IMAGES["4.2.0"].proxy,
                                            network_tools=artifacts.KNOWN_HUB_IMAGES["4.2.0"].network_tools))
    monkeypatch.setitem(artifacts.PAUSE_IMAGES, "4.2.1", artifacts.PAUSE_IMAGES["4.2.0"])
    old, new = tmp_path / "bundle-a", tmp_path / "bundle-b"
    profile = _profile(tmp_path / "a.yaml", old, "4.2.0")
    build_bundle(old, profile)
    build_bundle(new, _profile(tmp_path / "b.yaml", new, "4.2.1"))
    state = tmp_path / "state"
    options = InstallOptions(profile=profile, state_dir=state, host_root=twin.host.root, bundle_dir=old,
                             containerd_socket=twin.containerd.socket, namespace=twin.containerd.namespace)
    result = run_install(options, Events())
    assert result.ok, result.error
    return {"twin": twin, "old": old, "new": new, "state": state, "tmp": tmp_path}


def _upgrade(site: dict[str, Any], events: Events, *, prune: bool = False, bundle: Path | None = None) -> Any:
    twin: Twin = site["twin"]
    installed = load_installed(site["state"])
    assert installed is not None
    upgrade = prepare(installed, bundle or site["new"])
    options = InstallOptions(profile=upgrade.profile, state_dir=site["state"], host_root=twin.host.root,
                             bundle_dir=upgrade.bundle, containerd_socket=twin.containerd.socket,
                             namespace=twin.containerd.namespace)
    return upgrade, run_upgrade(upgrade, options, events, prune=prune, cancel=events.cancel)


def _hub_chart(twin: Twin) -> str:
    history = twin.state()["releases"]["jupyterhub/jupyterhub"]
    assert history[-1]["status"] == "deployed", history[-1]
    return str(history[-1]["chart"])


def _labels(twin: Twin) -> dict[str, set[str]]:
    """``ref -> labels`` as the real containerd lists them."""
    done = subprocess.run(["ctr", "-a", str(twin.containerd.socket), "-n", twin.containerd.namespace, "images", "ls"],
                          capture_output=True, text=True, check=True)
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    return {r[0]: set(r[-1].split(",")) for r in rows if len(r) >= 4}


PIN = f"{PINNED_LABEL}=pinned"


def test_installed_record_is_saved_by_the_install(site: dict[str, Any]) -> None:
    """A finished install leaves the profile (0600) and its bundle's manifest for the upgrade to compare."""
    installed = load_installed(site["state"])
    assert installed is not None and installed.manifest is not None
    assert installed.profile.jupyterhub.chart_version == "4.2.0"
    assert (installed.folder / "profile.yaml").stat().st_mode & 0o077 == 0


def test_upgrade_shows_the_changes_then_upgrades_the_hub_keeping_old_images_pinned(site: dict[str, Any]) -> None:
    """New chart version and one new image: both shown, the new image imported, the release upgraded."""
    twin: Twin = site["twin"]
    events = Events()
    upgrade, result = _upgrade(site, events)
    assert upgrade.changes.charts == [ChartChange("jupyterhub", "jupyterhub", "4.2.0", "4.2.1")]
    assert upgrade.changes.added == [NEW_HUB]
    assert upgrade.changes.unneeded == [OLD_HUB]
    assert result.ok, (result.error, events.steps())
    assert result.results.images is not None and result.results.images.imported == 1, result.results.images
    assert _hub_chart(twin) == "jupyterhub-4.2.1"
    labels = _labels(twin)
    assert PIN in labels[NEW_HUB]
    assert PIN in labels[OLD_HUB], "without --prune the old image stays pinned"
    assert "upgrade.unpin" not in events.steps()
    installed = load_installed(site["state"])
    assert installed is not None and installed.profile.jupyterhub.chart_version == "4.2.1"
    assert installed.bundle == site["new"]
    assert not (site["state"] / PENDING).exists()


def test_upgrade_with_prune_unpins_what_is_no_longer_needed(site: dict[str, Any]) -> None:
    """--prune: the old hub image loses its pin (the kubelet's GC may take it); it is not deleted here."""
    twin: Twin = site["twin"]
    events = Events()
    _, result = _upgrade(site, events, prune=True)
    assert result.ok, (result.error, events.steps())
    assert events.steps()["upgrade.unpin"] == "ok"
    labels = _labels(twin)
    assert OLD_HUB in labels, "pruning leaves the removal to the kubelet's image GC"
    assert PIN not in labels[OLD_HUB]
    assert PIN in labels[NEW_HUB]
    assert all(PIN in labels[ref] for ref in labels if ref != OLD_HUB and not ref.startswith("sha256:"))


def test_interrupted_upgrade_resumes(site: dict[str, Any]) -> None:
    """Interrupted after the import: the release is untouched; `upgrade` alone resumes and skips what was done."""
    twin: Twin = site["twin"]
    first = Events(cancel_after="import-images")
    _, result = _upgrade(site, first)
    assert result.status == "interrupted", (result.error, first.steps())
    assert int(result.exit_code) == 130
    assert _hub_chart(twin) == "jupyterhub-4.2.0"
    assert pending_bundle(site["state"]) == site["new"]
    installed = load_installed(site["state"])
    assert installed is not None and installed.bundle == site["old"], "the installed record moves only at the end"

    again = Events()
    upgrade, result = _upgrade(site, again, bundle=pending_bundle(site["state"]))
    assert upgrade.changes.added == [NEW_HUB], "the changes are still told against what is installed"
    assert result.ok, (result.error, again.steps())
    steps, reasons = again.steps(), again.reasons()
    assert steps["upgrade.verify"] == "skipped" and "journal" in reasons["upgrade.verify"], reasons
    assert steps["import-images"] == "skipped", reasons
    assert steps["jupyterhub.install"] == "ok"
    assert _hub_chart(twin) == "jupyterhub-4.2.1"
    assert pending_bundle(site["state"]) is None


def test_upgrade_refuses_a_bundle_file_that_does_not_match(site: dict[str, Any]) -> None:
    """A damaged file in the new bundle: the verify step stops the upgrade before anything changes."""
    twin: Twin = site["twin"]
    chart = site["new"] / "charts" / "jupyterhub-4.2.1.tgz"
    chart.write_bytes(chart.read_bytes()[:-10] + b"0123456789")
    events = Events()
    _, result = _upgrade(site, events)
    assert not result.ok
    assert events.steps()["upgrade.verify"] == "failed"
    assert "jupyterhub-4.2.1.tgz" in (result.error.message if result.error else ""), result.error
    assert _hub_chart(twin) == "jupyterhub-4.2.0"


USER_PVC = """apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: claim-alice
  namespace: jupyterhub
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Gi}}
"""


def _user_volume(site: dict[str, Any]) -> None:
    """What KubeSpawner creates when alice first starts a server: her PVC, not the release's."""
    path = site["tmp"] / "claim-alice.yaml"
    path.write_text(USER_PVC)
    done = site["twin"].run("microk8s", "kubectl", "apply", "-f", str(path))
    assert done.returncode == 0, done.stderr


def _uninstall(site: dict[str, Any]) -> list[str]:
    """``install.sh uninstall`` for this site, its log in the test's folder."""
    return ["--host-root", str(site["twin"].host.root), "--log-file", str(site["tmp"] / "day2.log"), "uninstall",
            "--state-dir", str(site["state"])]


def _pvcs(twin: Twin) -> set[str]:
    return {k.rsplit("/", 1)[1] for k in twin.state()["objects"] if k.startswith("PersistentVolumeClaim/jupyterhub/")}


def test_uninstall_keeps_user_volumes_then_delete_data_removes_them(site: dict[str, Any],
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """uninstall: the release and its objects go, alice's volume stays; --delete-data takes the namespace."""
    twin: Twin = site["twin"]
    _user_volume(site)
    assert _pvcs(twin) == {"hub-db-dir", "claim-alice"}
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    base = _uninstall(site)
    assert main(base) == 0, capsys.readouterr()
    assert "jupyterhub/jupyterhub" not in twin.state()["releases"]
    assert _pvcs(twin) == {"claim-alice"}, "helm uninstall removes only the release's own objects"
    assert twin.run("microk8s", "kubectl", "get", "namespace", "jupyterhub").returncode == 0
    assert load_installed(site["state"]) is None, "an upgrade must not start from an uninstalled hub"
    assert "helm3 uninstall jupyterhub" in (site["tmp"] / "day2.log").read_text()

    assert main([*base, "--delete-data", "--confirm", "jupyterhub"]) == 0, capsys.readouterr()
    assert _pvcs(twin) == set()
    assert twin.run("microk8s", "kubectl", "get", "namespace", "jupyterhub").returncode != 0
    assert twin.state()["snaps"].get("microk8s"), "MicroK8s stays without --remove-microk8s"


def test_delete_data_refuses_a_wrong_namespace_and_a_missing_confirmation(site: dict[str, Any],
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong typed name, a wrong --confirm, no terminal and no --confirm: nothing is touched."""
    twin: Twin = site["twin"]
    _user_volume(site)
    base = [*_uninstall(site), "--delete-data"]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    capsys.readouterr()
    assert main([*base, "--confirm", "jupyterhub-prod"]) == 2
    assert "--confirm jupyterhub" in capsys.readouterr().err
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "no terminal" in err and "--confirm jupyterhub" in err

    class Typed(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Typed("jupyterhu\n"))
    assert main(base) == 130
    assert "not the hub's namespace" in capsys.readouterr().err
    assert _pvcs(twin) == {"hub-db-dir", "claim-alice"}
    assert _hub_chart(twin) == "jupyterhub-4.2.0"


def test_uninstall_remove_microk8s_removes_the_snap(site: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """--remove-microk8s: the releases first, then the snap."""
    twin: Twin = site["twin"]
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main([*_uninstall(site),
                 "--remove-microk8s"]) == 0, capsys.readouterr()
    assert "microk8s" not in twin.state()["snaps"]
    assert twin.run("snap", "list", "microk8s").returncode != 0


def test_twin_helm_uninstall_keeps_objects_the_release_did_not_render(site: dict[str, Any]) -> None:
    """The twin as upstream: helm deletes the release's objects only; the namespace's deletion takes the rest.

    z2jh 4.2.0 docs/source/jupyterhub/uninstall.md: deleting the release removes what Helm created;
    deleting the namespace is what removes the users' disks.
    """
    twin: Twin = site["twin"]
    _user_volume(site)
    assert twin.run("microk8s", "helm3", "uninstall", "jupyterhub", "--namespace", "jupyterhub").returncode == 0
    assert _pvcs(twin) == {"claim-alice"}
    assert twin.run("microk8s", "kubectl", "delete", "namespace", "jupyterhub").returncode == 0
    assert _pvcs(twin) == set()


def test_upgrade_dry_run_shows_the_changes_and_changes_nothing(site: dict[str, Any],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`upgrade --dry-run` from the command line: the changes and the commands; the cluster and record stay."""
    twin: Twin = site["twin"]
    capsys.readouterr()
    code = main(["--host-root", str(twin.host.root), "upgrade", "--bundle", str(site["new"]), "--dry-run",
                 "--state-dir", str(site["state"]), "--containerd-socket", str(twin.containerd.socket),
                 "--containerd-namespace", twin.containerd.namespace])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    assert "chart jupyterhub (jupyterhub): 4.2.0 -> 4.2.1" in out
    assert f"image added: {NEW_HUB}" in out
    assert f"image no longer needed: {OLD_HUB} (kept pinned" in out
    assert "upgrade --install jupyterhub" in out, out[-3000:]
    assert _hub_chart(twin) == "jupyterhub-4.2.0"
    assert NEW_HUB not in _labels(twin)
    installed = load_installed(site["state"])
    assert installed is not None and installed.bundle == site["old"]
    assert pending_bundle(site["state"]) is None
