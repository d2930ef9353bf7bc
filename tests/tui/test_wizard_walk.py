"""The operator's walk through the wizard (issue 13) and the wizard editing the profile itself (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, Static, Switch

from installer.components.jupyterhub.settings import JupyterHubSettings, NotebookImage
from installer.config.profile import Profile
from installer.tui.app import InstallerApp
from installer.tui.screens.components import ComponentsScreen
from installer.tui.screens.jupyterhub import JupyterHubScreen
from installer.tui.widgets.catalog import CatalogTable, ImageEditScreen
from installer.wizard.model import ComponentChoice, WizardModel

from .test_wizard_flow import settle, text_of, to_jupyterhub_screen
from .wizard_fakes import fixed_preflight, make_session

SIZE = (80, 24)
KUBEFLOW = NotebookImage(name="kubeflow", display_name="Kubeflow SciPy (check warnings)",
                         image="docker.io/kubeflownotebookswg/jupyter-scipy:v1.9.2", enabled=False)


def three_images() -> Profile:
    """The default image, a GPU one, and a long-named Kubeflow one."""
    images = [*Profile().jupyterhub.images,
              NotebookImage(name="pytorch", display_name="PyTorch (GPU)", gpus=1,
                            image="quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06"), KUBEFLOW]
    return Profile(jupyterhub=JupyterHubSettings(images=images))


# --- issue 12: the wizard edits a profile ----------------------------------------------------------


def test_the_wizard_edits_a_copy_of_the_profile_and_keeps_the_hardware_settings() -> None:
    """Suggestion settings (the driver the host has) reach the profile; the starting profile is not touched."""
    start = Profile()
    model = WizardModel.from_profile(start)
    model.apply_recommendations([ComponentChoice("gpu_operator", "GPU Operator", True, "2 GPUs",
                                                 settings={"driver": "host", "mig_strategy": "mixed"})])
    profile = model.to_profile()
    assert profile.gpu_operator.enabled and profile.gpu_operator.driver == "host"
    assert profile.gpu_operator.mig_strategy == "mixed"
    assert start.gpu_operator.enabled is False and start.gpu_operator.driver == "auto"
    assert model.profile.jupyterhub is not start.jupyterhub


def test_an_answer_names_a_field_the_profile_has() -> None:
    """A binding to a key the profile lacks fails when it is declared, not on the operator's screen."""
    from installer.wizard.model import Answer

    with pytest.raises(AttributeError, match=r"jupyterhub\.servce\.node_port"):
        Answer(("jupyterhub", "servce", "node_port"), "Port", "port")


async def test_a_wrong_answer_puts_the_focus_on_its_field(tmp_path: Path, monkeypatch) -> None:
    """The error comes from the profile model's own location and marks the field it names."""
    fixed_preflight(monkeypatch)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await to_jupyterhub_screen(pilot)
        screen = app.screen
        screen.query_one("#storage", Input).value = "lots"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen is screen
        assert "Storage per user: 'lots' is not a Kubernetes quantity" in text_of(app, "#form-error")
        assert app.focused is screen.query_one("#storage", Input)
        assert screen.query_one("#storage", Input).has_class("-invalid")
        screen.query_one("#storage", Input).value = "20Gi"
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.session.model.to_profile().jupyterhub.storage.size == "20Gi"


# --- issue 13 point 8: the image dialog validates ----------------------------------------------------


async def test_the_image_dialog_refuses_a_bad_memory_limit_and_names_the_image(tmp_path: Path, monkeypatch) -> None:
    """`lots` and `8Glo` are refused in the dialog by the profile's own rule; the error goes once fixed."""
    fixed_preflight(monkeypatch)
    app = InstallerApp(make_session(tmp_path, three_images()), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await to_jupyterhub_screen(pilot)
        app.screen.query_one(CatalogTable).focus()
        await pilot.press("down", "enter")  # the second image
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ImageEditScreen)
        for bad in ("lots", "8Glo"):
            dialog.query_one("#mem", Input).value = bad
            await pilot.click("#save")
            await pilot.pause()
            assert app.screen is dialog
            error = str(dialog.query_one("#edit-error", Static).render())
            assert f"Notebook image 'PyTorch (GPU)': Memory limit: '{bad}' is not a Kubernetes quantity" in error
            assert dialog.query_one("#mem", Input).has_class("-invalid")
        assert app.session.model.catalog[1].mem_limit is None  # nothing changed while wrong
        dialog.query_one("#mem", Input).value = "8G"
        await pilot.pause()
        assert str(dialog.query_one("#edit-error", Static).render()).strip() == ""
        await pilot.click("#save")
        await pilot.pause()
        assert isinstance(app.screen, JupyterHubScreen)
        assert app.session.model.catalog[1].mem_limit == "8G"


async def test_a_catalog_error_names_the_image_and_clears_when_fixed(tmp_path: Path, monkeypatch) -> None:
    """A wrong catalog value named on Next by its image, not `#2` with an index; fixing it in the dialog clears it."""
    fixed_preflight(monkeypatch)
    app = InstallerApp(make_session(tmp_path, three_images()), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await to_jupyterhub_screen(pilot)
        screen = app.screen
        app.session.model.catalog[1].mem_limit = "lots"  # as a hand-edited value would arrive
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.screen is screen
        error = text_of(app, "#form-error")
        assert "Notebook image 'PyTorch (GPU)' Memory limit: 'lots'" in error and "#2" not in error
        screen.query_one(CatalogTable).focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        app.screen.query_one("#mem", Input).value = "16G"
        await pilot.click("#save")
        await pilot.pause()
        assert app.screen is screen
        assert text_of(app, "#form-error").strip() == ""


# --- issue 13 point 9: on/off in words ---------------------------------------------------------------


async def test_switches_and_checkboxes_say_on_or_off(tmp_path: Path, monkeypatch) -> None:
    """State reads without colour: the Components switches and the form's checkboxes spell it."""
    fixed_preflight(monkeypatch, choices=[ComponentChoice("gpu_operator", "NVIDIA GPU Operator", True, "2 GPUs"),
                                          ComponentChoice("rdma", "RDMA shared device plugin", False, "none")])
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, ComponentsScreen)
        gpu, rdma = app.screen.query_one("#switch-gpu_operator", Switch), app.screen.query_one("#switch-rdma", Switch)
        assert gpu.render().plain.rstrip().endswith(" on")
        assert rdma.render().plain.rstrip().endswith(" off")
        assert gpu.region.width >= 7
        await pilot.press("ctrl+n")
        signup = app.screen.query_one("#open-signup", Checkbox)
        assert "off" in signup.render().plain
        signup.value = True
        assert "on" in signup.render().plain


# --- issue 13 point 10: the width given ------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), (120, 30)])
async def test_the_catalog_shows_every_row_and_uses_the_width(tmp_path: Path, monkeypatch, size) -> None:
    """At 80x24 all three images are on screen; at 120 columns names and refs are not cut off."""
    fixed_preflight(monkeypatch)
    app = InstallerApp(make_session(tmp_path, three_images()), animate=False)
    async with app.run_test(size=size) as pilot:
        await to_jupyterhub_screen(pilot)
        await pilot.pause()
        table = app.screen.query_one(CatalogTable)
        nav = app.screen.query_one("#nav")
        assert table.row_count == 3
        assert table.region.y + 1 + 3 <= nav.region.y, (table.region, nav.region)  # header and three rows
        if size[0] >= 120:
            widths = {column.key.value: column.width for column in table.columns.values()}
            assert widths["name"] >= len(KUBEFLOW.display_name)
            assert widths["image"] >= len("quay.io/jupyterhub/k8s-singleuser-sample:4.2.0")


# --- issue 13 points 7 and 12: keys that work where they are shown, words that match ----------------


def footer_keys(app: InstallerApp) -> dict[str, str]:
    """Key -> description of what the footer shows now."""
    from textual.widgets._footer import FooterKey

    return {key.key: key.description for key in app.screen.query(FooterKey)}


async def test_ctrl_s_on_review_is_confirmed_and_only_offered_there(tmp_path: Path, monkeypatch) -> None:
    """At 80x24 the save line is below the fold: a notification confirms; the footer offers Ctrl+S on Review only."""
    from .wizard_fakes import fake_plan

    fixed_preflight(monkeypatch)
    fake_plan(monkeypatch)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await to_jupyterhub_screen(pilot)
        assert "ctrl+s" not in footer_keys(app)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert footer_keys(app).get("ctrl+s") == "Save profile"
        await pilot.press("ctrl+s")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any(m.startswith(f"Saved {app.session.saved_profile}") and "without the password" in m
                   for m in messages), messages


async def test_after_the_install_the_log_offers_results_and_quit_not_cancel(tmp_path: Path, monkeypatch) -> None:
    """Back from Done, the log screen no longer offers "Cancel install"; q quits there as on Done."""
    from installer.tui.screens.done import DoneScreen
    from installer.tui.screens.install import InstallScreen

    from .wizard_fakes import fake_plan

    fixed_preflight(monkeypatch)
    fake_plan(monkeypatch)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await to_jupyterhub_screen(pilot)
        app.screen.query_one("#admins", Input).value = "admin, ops"
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n", "y")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        login = text_of(app, "#login")
        assert "Sign up first as one of the admins ('admin' or 'ops')" in login, login
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, InstallScreen)
        keys = footer_keys(app)
        assert "Cancel install" not in keys.values() and keys.get("q") == "Quit", keys
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DoneScreen)
        await pilot.press("escape", "q")
        await pilot.pause()
    assert app.return_value == 0


async def test_welcome_numbers_the_steps_as_the_header_does(tmp_path: Path, monkeypatch) -> None:
    """"2. Preflight checks" on Welcome is "Step 2 of 5: Preflight checks" in the header."""
    from installer.tui.app import STEPS
    from installer.tui.screens.base import STEP_TITLES

    fixed_preflight(monkeypatch)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        welcome = text_of(app, "#what-happens")
        for index, step in enumerate(STEPS, start=1):
            assert f"{index}. {STEP_TITLES[step]}" in welcome, (step, welcome)
        await pilot.press("enter")
        await settle(pilot)
        assert f"Step 2 of {len(STEPS)}: {STEP_TITLES['preflight']}" in text_of(app, "#step-line")
