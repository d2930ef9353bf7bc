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


async def test_a_short_shared_password_puts_the_focus_on_the_password(tmp_path: Path, monkeypatch) -> None:
    """The auth section's own check (dummy needs 8 characters) points at the password field."""
    fixed_preflight(monkeypatch)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await to_jupyterhub_screen(pilot)
        screen = app.screen
        screen.query_one("#auth").value = "dummy"
        await pilot.pause()
        screen.query_one("#password", Input).value = "short"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "Authentication: auth type 'dummy' needs 'password'" in text_of(app, "#form-error")
        assert app.focused is screen.query_one("#password", Input)


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
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert "off" in app.screen.query_one("#save-secrets", Checkbox).render().plain


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


# --- issue 13 point 1 (and 12): no dead end after a choice the host or the bundle cannot take ---------


def gpuless_preflight(monkeypatch) -> None:
    """A host without a GPU: the GPU check fails exactly when the profile turns the GPU Operator on."""
    import dataclasses

    from installer.wizard import backend

    from .wizard_fakes import CHECKS, FACTS, check

    facts = dataclasses.replace(FACTS, gpus=(), host_driver=None)

    def engine(options, sink):
        on = options.profile.gpu_operator.enabled
        checks = [*CHECKS[:5], check("gpu", "NVIDIA GPUs", "fail" if on else "pass", "none",
                                     "an NVIDIA GPU (gpu_operator.enabled is true)" if on else "none needed",
                                     "Set gpu_operator.enabled: false." if on else "")]
        for event in checks:
            sink.emit(event)
        return facts, checks, [ComponentChoice("gpu_operator", "NVIDIA GPU Operator", False, "no NVIDIA GPU found"),
                               ComponentChoice("rdma", "RDMA shared device plugin", False, "no active port")]

    monkeypatch.setattr(backend, "_preflight_engine", engine)
    monkeypatch.setattr(backend, "notebook_image_warnings", lambda options: {})


def preflight_plan(monkeypatch) -> None:
    """The install's plan: a preflight step that fails the GPU check when the GPU Operator is on, then a command."""
    from installer import install_run
    from installer.engine.plan import Plan, Step
    from installer.errors import PreflightFailed

    from .wizard_fakes import CommandStep, check

    class GpuPreflight(Step):
        id, title, component = "preflight", "Preflight checks", "preflight"

        def __init__(self, gpu_on: bool) -> None:
            self.gpu_on = gpu_on

        def run(self, ctx) -> None:
            if self.gpu_on:
                ctx.sink.emit(check("gpu", "NVIDIA GPUs", "fail", "none", "an NVIDIA GPU"))
                msg = "gpu: found none; required an NVIDIA GPU"
                raise PreflightFailed(msg, "Set gpu_operator.enabled: false.")

    monkeypatch.setattr(install_run, "install_plan", lambda options: Plan([
        GpuPreflight(options.profile.gpu_operator.enabled), CommandStep("jupyterhub", "Install JupyterHub")]))


async def to_components(pilot) -> None:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("ctrl+n")
    assert isinstance(pilot.app.screen, ComponentsScreen)


async def test_gpu_operator_without_a_gpu_is_flagged_and_preflight_reruns(tmp_path: Path, monkeypatch) -> None:
    """The switch warns at once; Preflight runs again when it is shown after the change; Review says what would
    stop the install (the GPU check, the bundle's missing GPU Operator images) before Install."""
    from imagegen import make_image_archive

    from installer.bundle.manifest import save_manifest
    from installer.bundle.scan import lock_bundle

    gpuless_preflight(monkeypatch)
    preflight_plan(monkeypatch)
    bundle = tmp_path / "offline-images"  # a bundle for a CPU server: no GPU Operator images
    make_image_archive(bundle / "images" / "hub.tar", "quay.io/jupyterhub/k8s-hub:4.2.0", seed=1)
    save_manifest(lock_bundle(bundle, known_refs={"quay.io/jupyterhub/k8s-hub:4.2.0": "jupyterhub"}), bundle)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await to_components(pilot)
        switch = app.screen.query_one("#switch-gpu_operator", Switch)
        assert switch.value is False
        await pilot.click("#switch-gpu_operator")
        await pilot.pause()
        warned = [n.message for n in app._notifications]
        assert any("No NVIDIA GPU was found" in m for m in warned), warned
        assert any("The bundle lacks" in m and "nvcr.io/nvidia/gpu-operator" in m for m in warned), warned
        await pilot.press("escape")  # back to Preflight: the GPU check now applies
        await settle(pilot)
        verdict = text_of(app, "#verdict")
        assert "fail with the current choices" in verdict and "Components" in verdict, verdict
        assert app.screen.query_one("#checks").checks["gpu"].status == "fail"
        await pilot.press("ctrl+n")  # not a dead end: the fix is on the next screen
        assert isinstance(app.screen, ComponentsScreen)
        await pilot.press("ctrl+n", "ctrl+n")
        await settle(pilot)
        concerns = text_of(app, "#concerns")
        assert "The install would stop" in concerns
        assert "NVIDIA GPUs: found none" in concerns and "(change it on: Components)" in concerns, concerns
        assert "gpu_operator: image" in concerns and "is not in the bundle" in concerns, concerns
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "With these answers the install would stop" in str(app.screen.query_one("#question").render())


async def test_a_failed_preflight_leads_back_to_the_screen_that_fixes_it(tmp_path: Path, monkeypatch) -> None:
    """After the install stopped at preflight, "Change the answers" opens Components with every answer kept;
    turning the GPU Operator off there and installing again succeeds."""
    from installer.tui.screens.done import DoneScreen

    gpuless_preflight(monkeypatch)
    preflight_plan(monkeypatch)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await to_components(pilot)
        await pilot.click("#switch-gpu_operator")
        await pilot.press("ctrl+n")
        app.screen.query_one("#admins", Input).value = "root-admin, ops"
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n", "y")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        assert app.session.result.exit_code == 3
        assert footer_keys(app).get("b") == "Change the answers"
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, ComponentsScreen)
        assert app.session.result is None
        assert app.session.model.profile.jupyterhub.admin_users == ["root-admin", "ops"]
        await pilot.click("#switch-gpu_operator")
        await pilot.press("ctrl+n")
        assert app.screen.query_one("#admins", Input).value == "root-admin, ops"
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert "NVIDIA GPUs" not in text_of(app, "#concerns")
        await pilot.press("ctrl+n", "y")
        await settle(pilot)
        assert isinstance(app.screen, DoneScreen)
        assert app.session.result.ok
        assert "b" not in footer_keys(app)


async def test_review_says_an_offered_image_would_never_start(tmp_path: Path, monkeypatch) -> None:
    """An offered Kubeflow image without jupyterhub-singleuser: Review repeats its check's words, not a label."""
    from imagegen import make_image_archive

    from installer.bundle.manifest import save_manifest
    from installer.bundle.scan import lock_bundle
    from installer.wizard import backend

    real_warnings = backend.notebook_image_warnings
    fixed_preflight(monkeypatch)
    monkeypatch.setattr(backend, "notebook_image_warnings", real_warnings)
    bundle = tmp_path / "offline-images"
    make_image_archive(bundle / "images" / "kf.tar", KUBEFLOW.image, seed=3, user="0")
    save_manifest(lock_bundle(bundle, known_refs={}), bundle)
    profile = Profile(jupyterhub=JupyterHubSettings(images=[KUBEFLOW.model_copy(update={"enabled": True})]))
    app = InstallerApp(make_session(tmp_path, profile), animate=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await to_jupyterhub_screen(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        concerns = text_of(app, "#concerns")
        assert "Kubeflow SciPy (check warnings): " in concerns
        assert "servers would never start" in concerns, concerns


def visible_text(widget) -> str:
    """What a scrolling widget shows now, line by line."""
    return "\n".join("".join(segment.text for segment in widget.render_line(y)) for y in range(widget.size.height))


async def test_the_install_log_wraps_long_lines(tmp_path: Path, monkeypatch) -> None:
    """A hint longer than the terminal is wrapped, not cut off at the right edge."""
    from installer.engine.events import LogLine
    from installer.tui.screens.install import InstallScreen

    session = make_session(tmp_path)
    app = InstallerApp(session, animate=False)
    message = ("the bundle lacks quay.io/jupyterhub/k8s-hub:4.2.0 for jupyterhub: add it on the connected machine "
               "with ./install.sh export and copy the folder again (TAIL-OF-THE-HINT)")
    async with app.run_test(size=SIZE) as pilot:
        screen = InstallScreen(session, start=False)
        await app.push_screen(screen)
        await pilot.pause()
        screen.apply(LogLine(level="error", message=message, ts=0.0))
        await pilot.pause()
        shown = visible_text(screen.query_one("#log"))
        assert "(TAIL-OF-THE-HINT)" in shown, shown


async def test_the_checks_take_the_width_when_the_terminal_grows(tmp_path: Path, monkeypatch) -> None:
    """Widened from 80 to 120 columns, found and required are shown whole (no `a GPU for the GPU O`)."""
    from .wizard_fakes import CHECKS

    fixed_preflight(monkeypatch)
    app = InstallerApp(make_session(tmp_path), animate=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.resize_terminal(120, 30)
        await settle(pilot)
        table = app.screen.query_one("#checks")
        widths = {column.key.value: column.width for column in table.columns.values()}
        assert widths["found"] >= max(len(c.found) for c in CHECKS), widths
        assert widths["required"] >= max(len(c.required) for c in CHECKS), widths
        assert table.row_count == len(CHECKS)
