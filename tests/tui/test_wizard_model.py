"""The wizard's answers: validation names the field, saving keeps secrets out unless asked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from installer.config.profile import Profile, load_profile
from installer.errors import ProfileError
from installer.tui.widgets.progress import RateMeter, amount, format_eta, short_name
from installer.wizard.model import ComponentChoice, WizardModel, hub_url, split_users


def test_invalid_answers_name_the_field_on_screen() -> None:
    model = WizardModel.from_profile(Profile())
    model.admin_users = ["Bad User"]
    model.node_port = 80
    with pytest.raises(ProfileError) as error:
        model.to_profile()
    text = error.value.message
    assert "Admin users: 'Bad User' is not a valid user name" in text
    assert "Port: " in text and "30000" in text


def test_catalog_entry_errors_name_the_entry() -> None:
    model = WizardModel.from_profile(Profile())
    model.catalog[0].mem_limit = "lots"
    with pytest.raises(ProfileError, match=r"Notebook image #1 mem_limit: 'lots' is not a Kubernetes quantity"):
        model.to_profile()


def test_save_writes_0600_and_a_placeholder_for_the_password(tmp_path: Path) -> None:
    model = WizardModel.from_profile(Profile())
    model.auth_type, model.password = "dummy", "correct horse"
    path = model.save(tmp_path / "p.yaml", bundle=tmp_path / "bundle")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "correct horse" not in text and "CHANGE-ME" in text
    with pytest.raises(ProfileError, match="placeholder"):  # replaying it must not use CHANGE-ME as the password
        load_profile(path)
    model.save(path, bundle=tmp_path / "bundle", include_secrets=True)
    replayed = load_profile(path)
    assert replayed.jupyterhub.auth.password.get_secret_value() == "correct horse"
    assert replayed.bundle_dir() == (tmp_path / "bundle").resolve()


def test_recommendations_apply_until_the_operator_chooses() -> None:
    model = WizardModel.from_profile(Profile())
    gpu = ComponentChoice("gpu_operator", "GPU Operator", True, "2 GPUs")
    model.apply_recommendations([gpu])
    assert model.components["gpu_operator"]
    model.set_component("gpu_operator", False)
    model.apply_recommendations([gpu])
    assert not model.components["gpu_operator"]


def test_small_helpers() -> None:
    assert split_users("alice, bob  carol,") == ["alice", "bob", "carol"]
    assert hub_url(Profile(), "10.0.0.5") == "http://10.0.0.5:30080/"
    assert short_name("quay.io/jupyter/scipy-notebook:2025-01-06", 40) == "scipy-notebook:2025-01-06"
    assert amount(512 << 20, 2 << 30) == "0.5/2.0 GiB"
    assert format_eta(75) == "1m15s" and format_eta(None) == "--"


def test_the_wizard_shows_the_url_the_install_step_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """One owner: the wizard's hub URL is the jupyterhub component's (its port-forward URL included)."""
    from installer.components.jupyterhub import steps

    monkeypatch.setattr(steps, "PORT_FORWARD_URL", "http://127.0.0.1:18080/")
    cluster_ip = Profile.model_validate({"jupyterhub": {"service": {"type": "ClusterIP"}}})
    assert hub_url(cluster_ip, "10.0.0.5") == steps.hub_url(cluster_ip.jupyterhub, "10.0.0.5") \
        == "http://127.0.0.1:18080/"
    node_port = Profile.model_validate({"jupyterhub": {"service": {"type": "NodePort", "node_port": 31000}}})
    assert hub_url(node_port, "10.0.0.5") == steps.hub_url(node_port.jupyterhub, "10.0.0.5") \
        == "http://10.0.0.5:31000/"


def test_added_images_get_unique_valid_names() -> None:
    """Names come from the repository, are valid profile slugs and never clash."""
    from installer.wizard.model import CatalogEntry, image_slug

    assert image_slug("localhost:5000/Lab_Image:2") == "lab-image"
    assert image_slug("quay.io/x/y@sha256:" + "a" * 64) == "y"
    assert image_slug("registry.local/___:1") == "image"
    model = WizardModel.from_profile(Profile())
    first = model.add_entry(CatalogEntry.draft("quay.io/lab/torch:1"))
    second = model.add_entry(CatalogEntry.draft("quay.io/other/torch:2"))
    assert (first.name, second.name, second.display_name) == ("torch", "torch-2", "torch:2")
    assert [i.name for i in model.to_profile().jupyterhub.images][-2:] == ["torch", "torch-2"]


def test_rate_meter_uses_event_time_not_wall_clock() -> None:
    meter = RateMeter()
    meter.add(100.0, 0)
    meter.add(102.0, 20 << 20)
    assert meter.rate() == 10 << 20
    assert meter.eta(120 << 20) == 10.0
    meter.add(103.0, 1)  # a retry restarts the item
    assert meter.rate() is None
