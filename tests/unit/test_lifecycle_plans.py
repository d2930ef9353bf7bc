"""Upgrade changes and the uninstall plan, worked out from profiles and manifests (no cluster needed)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from installer.bundle.manifest import ChartEntry, ComponentArtifacts, ImageEntry, Manifest
from installer.cli import main
from installer.components.gpu_operator.settings import GpuOperatorSettings
from installer.components.rdma.settings import RdmaSettings
from installer.config.profile import Profile
from installer.errors import BundleError
from installer.lifecycle.changes import compare, retarget
from installer.lifecycle.installed import load_installed, save_installed
from installer.lifecycle.uninstall import uninstall_plan

SHA = "0" * 64


def _manifest(chart: str, hub: str) -> Manifest:
    image = ImageEntry(file=f"images/{hub.replace('/', '_')}.tar", sha256=SHA, size=1, refs=[hub],
                       digest="sha256:" + "1" * 64)
    chart_entry = ChartEntry(file=f"charts/jupyterhub-{chart}.tgz", sha256=SHA, size=1, name="jupyterhub",
                             version=chart)
    return Manifest(components={"jupyterhub": ComponentArtifacts(images=[image], charts=[chart_entry])})


def test_retarget_moves_the_chart_version_setting_to_the_bundles() -> None:
    profile, changes = retarget(Profile(), _manifest("4.2.1", "quay.io/jupyterhub/k8s-hub:4.2.1"))
    assert profile.jupyterhub.chart_version == "4.2.1"
    assert [(c.chart, c.old, c.new) for c in changes] == [("jupyterhub", "4.2.0", "4.2.1")]


def test_retarget_refuses_a_bundle_without_the_chart() -> None:
    manifest = Manifest(components={"jupyterhub": ComponentArtifacts()})
    with pytest.raises(BundleError, match="no single version of the chart jupyterhub"):
        retarget(Profile(), manifest)


def test_compare_lists_images_added_and_no_longer_needed() -> None:
    old = _manifest("4.2.0", "quay.io/jupyterhub/k8s-hub:4.2.0")
    new = _manifest("4.2.0", "example.org/extra:1")
    changes = compare(Profile(), old, Profile(), new, [])
    assert changes.added == ["example.org/extra:1"]
    assert changes.unneeded == [], "an image the profile still needs is never released"


def _gpu_rdma() -> Profile:
    return Profile().model_copy(update={"gpu_operator": GpuOperatorSettings(enabled=True),
                                        "rdma": RdmaSettings(enabled=True)})


def test_uninstall_goes_in_reverse_install_order(tmp_path: Path) -> None:
    plan = uninstall_plan(_gpu_rdma(), tmp_path, delete_data=False, remove_microk8s=False)
    assert [s.id for s in plan.steps] == ["jupyterhub.uninstall", "rdma.delete-manifest", "gpu_operator.uninstall",
                                          "uninstall.forget"]


def test_uninstall_deletes_data_and_microk8s_only_when_asked(tmp_path: Path) -> None:
    plan = uninstall_plan(Profile(), tmp_path, delete_data=True, remove_microk8s=True)
    assert [s.id for s in plan.steps] == ["jupyterhub.uninstall", "jupyterhub.delete-data", "microk8s.remove",
                                          "uninstall.forget"]


def test_installed_record_round_trips_with_secrets(tmp_path: Path) -> None:
    profile = Profile()
    save_installed(tmp_path, profile, tmp_path / "bundle")
    loaded = load_installed(tmp_path)
    assert loaded is not None and loaded.manifest is None
    assert loaded.profile.secrets() == profile.secrets()
    assert loaded.bundle == tmp_path / "bundle"


def test_verbs_without_an_installation_say_how(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["upgrade", "--state-dir", str(tmp_path)]) == 2
    assert "upgrade --bundle DIR" in capsys.readouterr().err
    assert main(["upgrade", "--bundle", str(tmp_path), "--state-dir", str(tmp_path)]) == 2
    assert "--profile FILE" in capsys.readouterr().err
    assert main(["uninstall", "--state-dir", str(tmp_path)]) == 2
    assert "--profile FILE" in capsys.readouterr().err


def test_delete_data_never_deletes_a_namespace_kubernetes_needs(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from installer.components.jupyterhub.settings import JupyterHubSettings

    hub = JupyterHubSettings.model_validate({**Profile().jupyterhub.model_dump(), "namespace": "default"})
    save_installed(tmp_path, Profile().model_copy(update={"jupyterhub": hub}), tmp_path / "bundle")
    assert main(["uninstall", "--state-dir", str(tmp_path), "--delete-data", "--confirm", "default"]) == 2
    assert "which Kubernetes itself needs" in capsys.readouterr().err


def _bundle_with_manifest(folder: Path) -> Path:
    from installer.bundle.manifest import save_manifest

    folder.mkdir(parents=True)
    save_manifest(_manifest("4.2.0", "example.org/extra:1"), folder)
    return folder


def test_an_upgrade_records_the_new_charts_before_the_check(tmp_path: Path) -> None:
    """A failed check must not leave the record on the old charts (a later catalog change would downgrade)."""
    from installer.install_run import InstallOptions
    from installer.lifecycle.installed import Installed
    from installer.lifecycle.upgrade import prepare, upgrade_plan

    upgrade = prepare(Installed(Profile(), _manifest("4.2.0", "quay.io/jupyterhub/k8s-hub:4.2.0"), tmp_path / "a",
                                tmp_path / "installed"), _bundle_with_manifest(tmp_path / "b"))
    options = InstallOptions(profile=upgrade.profile, state_dir=tmp_path / "state", bundle_dir=upgrade.bundle)
    ids = [s.id for s in upgrade_plan(upgrade, options, prune=False).steps]
    assert ids[-2:] == ["upgrade.record", "check"], ids
    unchecked = InstallOptions(profile=upgrade.profile, state_dir=tmp_path / "state", bundle_dir=upgrade.bundle,
                               check=False)
    assert "check" not in [s.id for s in upgrade_plan(upgrade, unchecked, prune=False).steps]


def test_an_upgrade_waits_for_an_unfinished_catalog_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The pending change's profile names the old charts: the upgrade refuses until it is resumed or abandoned."""
    from installer.daytwo.saved import pending_path

    state = tmp_path / "state"
    save_installed(state, Profile(), tmp_path / "a")
    pending_path(state).write_text("{}\n")
    code = main(["upgrade", "--bundle", str(_bundle_with_manifest(tmp_path / "b")), "--state-dir", str(state)])
    assert code == 2
    assert "images resume" in capsys.readouterr().err
