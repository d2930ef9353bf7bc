"""SVG snapshots of every screen at 80x24, on fixed data (no clock, no blinking cursor, no host facts).

Accept a deliberate change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs in ``__snapshots__/`` before committing them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from installer.config.profile import Profile
from installer.engine.events import (
    CommandRan,
    ItemFinished,
    LogLine,
    PlanStarted,
    StepFinished,
    StepProgress,
    StepStarted,
)
from installer.engine.plan import RunResults
from installer.engine.runner import RunResult, StepOutcome
from installer.errors import ExitCode
from installer.install_run import InstallOptions
from installer.tui.app import InstallerApp
from installer.tui.screens.components import ComponentsScreen
from installer.tui.screens.done import DoneScreen
from installer.tui.screens.install import InstallScreen
from installer.tui.screens.jupyterhub import JupyterHubScreen
from installer.tui.screens.preflight import PreflightScreen
from installer.tui.screens.review import ReviewScreen
from installer.wizard import backend
from installer.wizard.backend import BundleSummary, WizardSession

from .wizard_fakes import CHOICES, TS, fixed_preflight

SIZE = (80, 24)
BUNDLE = Path("/srv/usb/offline-images")
STEPS = (("preflight", "Preflight checks"), ("microk8s.snaps", "Install MicroK8s snaps"),
         ("import-images", "Import images"), ("microk8s.dns", "Enable DNS"),
         ("jupyterhub.install", "Install JupyterHub"), ("jupyterhub.url", "Hub URL"))


@pytest.fixture
def session(monkeypatch) -> WizardSession:
    """A session on fixed paths and fixed host facts; the plan and URL are fixed too."""
    fixed_preflight(monkeypatch)
    from installer.tui.screens import review, welcome

    monkeypatch.setattr(welcome, "summarize_bundle", lambda path, trust=None: BundleSummary(
        path, exists=True, total_bytes=14_300_000_000, image_files=23,
        components=("jupyterhub", "microk8s", "gpu_operator"),
        has_manifest=True))
    monkeypatch.setattr(welcome, "verify_summary",
                        lambda summary, sink=None, cancel=None: dataclasses.replace(summary, verified=True))
    monkeypatch.setattr(backend, "plan_outline", lambda options: [(i, t, i.split(".")[0]) for i, t in STEPS])
    monkeypatch.setattr(review, "plan_outline", backend.plan_outline)
    monkeypatch.setattr(backend, "bundle_concerns", lambda options: [])  # the fixed bundle path is not on disk
    options = InstallOptions(profile=Profile(), bundle_dir=BUNDLE,
                             state_dir=Path("/var/lib/jupyterhub-offline-installer"))
    session = WizardSession.start(options, log_file=Path("/var/log/jupyterhub-offline-installer/install.log"),
                                  profile_dir=Path("/root/profiles"))
    session.model.save_path = Path("/root/profiles/gpu-node-01.yaml")
    return session


async def _show(pilot, screen) -> None:
    await pilot.app.push_screen(screen)
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    # A worker's end starts a chain of messages (state change, focus, highlight, hint): let it finish
    # even when a loaded machine makes the idle wait return early.
    for _ in range(3):
        await pilot.pause()


def test_welcome(snap_compare, session: WizardSession) -> None:
    """Welcome: what happens, the bundle, the log file."""

    async def ready(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(InstallerApp(session, animate=False), terminal_size=SIZE, run_before=ready)


def test_preflight(snap_compare, session: WizardSession) -> None:
    """Preflight: checks with status, found/required, the hint of the highlighted one, hardware."""
    assert snap_compare(InstallerApp(session, animate=False), terminal_size=SIZE,
                        run_before=lambda pilot: _show(pilot, PreflightScreen(session)))


def test_preflight_hardware(snap_compare, session: WizardSession) -> None:
    """Preflight scrolled down: each GPU with memory and driver, each InfiniBand port with state and rate."""

    async def scrolled(pilot) -> None:
        await _show(pilot, PreflightScreen(session))
        pilot.app.screen.query_one("#body").scroll_end(animate=False)
        await pilot.pause()

    assert snap_compare(InstallerApp(session, animate=False), terminal_size=SIZE, run_before=scrolled)


def test_components(snap_compare, session: WizardSession) -> None:
    """Components: recommendations and reasons from the hardware."""
    session.model.apply_recommendations(CHOICES)
    session.preflight = backend.WizardPreflight(choices=list(CHOICES))
    assert snap_compare(InstallerApp(session, animate=False), terminal_size=SIZE,
                        run_before=lambda pilot: _show(pilot, ComponentsScreen(session)))


def test_jupyterhub(snap_compare, session: WizardSession) -> None:
    """JupyterHub: the form and the catalog with an image warning."""
    from installer.components.jupyterhub.settings import JupyterHubSettings, NotebookImage
    from installer.config.profile import Profile as _Profile
    from installer.wizard.model import WizardModel

    images = [NotebookImage(name="minimal", display_name="Minimal Python",
                            image="quay.io/jupyterhub/k8s-singleuser-sample:4.2.0",
                            default=True, cpu_limit=2, mem_limit="4G"),
              NotebookImage(name="pytorch", display_name="PyTorch (GPU)",
                            image="quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06",
                            cpu_limit=16, mem_limit="64G", gpus=1, shm_size="8G"),
              NotebookImage(name="kubeflow", display_name="Kubeflow SciPy",
                            image="docker.io/kubeflownotebookswg/jupyter-scipy:v1.9.2", enabled=False)]
    session.model = WizardModel.from_profile(_Profile(jupyterhub=JupyterHubSettings(images=images)))
    warning = "runs as root (UID 0); JupyterHub starts it as UID 1000"
    session.preflight = backend.WizardPreflight(
        image_warnings={"docker.io/kubeflownotebookswg/jupyter-scipy:v1.9.2": [warning]})
    assert snap_compare(InstallerApp(session, animate=False), terminal_size=SIZE,
                        run_before=lambda pilot: _show(pilot, JupyterHubScreen(session)))


def test_review(snap_compare, session: WizardSession) -> None:
    """Review: the choices, the plan, and saving the profile."""
    assert snap_compare(InstallerApp(session, animate=False), terminal_size=SIZE,
                        run_before=lambda pilot: _show(pilot, ReviewScreen(session)))


def install_events() -> list:
    """An install in the middle of the image import."""
    events: list = [PlanStarted(steps=STEPS, ts=TS)]
    events += [StepStarted(step_id="preflight", title="Preflight checks", index=1, total=6, ts=TS),
               StepFinished(step_id="preflight", status="ok", duration=0.4, ts=TS),
               StepStarted(step_id="microk8s.snaps", title="Install MicroK8s snaps", index=2, total=6, ts=TS),
               CommandRan(argv=("snap", "ack", "/srv/usb/offline-images/snaps/microk8s_7394.assert"), returncode=0,
                          duration=0.1, ts=TS),
               CommandRan(argv=("snap", "install", "--classic", "/srv/usb/offline-images/snaps/microk8s_7394.snap"),
                          returncode=0, duration=40.0, ts=TS),
               StepFinished(step_id="microk8s.snaps", status="ok", duration=41.0, ts=TS),
               StepStarted(step_id="import-images", title="Import images", index=3, total=6, ts=TS)]
    hub, proxy, torch, lab = ("quay.io/jupyterhub/k8s-hub:4.2.0", "quay.io/jupyterhub/configurable-http-proxy:4.6.3",
                              "quay.io/jupyter/pytorch-notebook:cuda12-2025-01-06",
                              "quay.io/jupyter/datascience-notebook:2025-01-06")

    def archive(ref: str) -> str:  # the item is the archive file; people read the label, its ref
        return "images/" + ref.replace("/", "_").replace(":", "_") + ".tar.zst"

    events += [StepProgress(step_id="import-images", done=120 << 20, total=120 << 20, item=archive(hub),
                            overall_done=120 << 20, overall_total=9 << 30, message="importing", label=hub, ts=TS),
               ItemFinished(step_id="import-images", item=archive(hub), status="ok", label=hub, ts=TS + 1),
               ItemFinished(step_id="import-images", item=archive("registry.k8s.io/pause:3.10"), status="skipped",
                            reason="present, same image ID", label="registry.k8s.io/pause:3.10", ts=TS + 1),
               LogLine(level="info", message="verified 23 files against the manifest (sha256)", ts=TS),
               LogLine(level="warning", message="docker.io/library/busybox:1.28.4: retry 1 of 3 (layer in use)", ts=TS),
               CommandRan(argv=("snap", "list", "core20"), returncode=1, duration=0.1, probe=True, ts=TS),
               # checked, and waiting for a free import lane: no bar, no rate
               StepProgress(step_id="import-images", done=2 << 30, total=2 << 30, item=archive(lab),
                            overall_done=120 << 20, overall_total=9 << 30, message="verifying", label=lab, ts=TS + 2)]
    for second in range(6):
        done = (second + 1) * 70 << 20
        events.append(StepProgress(step_id="import-images", done=done, total=6 << 30, item=archive(torch),
                                   overall_done=(120 << 20) + done, overall_total=9 << 30, message="importing",
                                   label=torch, ts=TS + 2 + second))
        events.append(StepProgress(step_id="import-images", done=min(done // 2, 60 << 20), total=60 << 20,
                                   item=archive(proxy), overall_done=(120 << 20) + done, overall_total=9 << 30,
                                   message="importing", label=proxy, ts=TS + 2 + second))
    return events


def test_install(snap_compare, session: WizardSession) -> None:
    """Install: overall bar, step list, a line per image with bytes, rate and ETA, and the log."""

    async def feed(pilot) -> None:
        screen = InstallScreen(session, start=False)
        await _show(pilot, screen)
        progress = []
        for event in install_events():
            if isinstance(event, StepProgress):
                progress.append(event)
                continue
            screen._apply_progress(progress)  # what the progress tick handler does
            progress = []
            screen.apply(event)
        screen._apply_progress(progress)
        await pilot.pause()

    assert snap_compare(InstallerApp(session, animate=False), terminal_size=SIZE, run_before=feed)


def test_done(snap_compare, session: WizardSession) -> None:
    """Done: the URL, how to log in, what was skipped, the files to keep."""
    session.saved_profile = Path("/root/profiles/gpu-node-01.yaml")
    session.result = RunResult("ok", ExitCode.OK, [
        StepOutcome("preflight", "Preflight checks", "ok"),
        StepOutcome("microk8s.snaps", "Install MicroK8s snaps", "skipped", "already done on this host"),
        StepOutcome("images", "Import images", "ok"),
        StepOutcome("jupyterhub.install", "Install JupyterHub", "ok"),
    ], results=RunResults(hub_url="http://10.20.0.5:30080/"))
    assert snap_compare(InstallerApp(session, animate=False), terminal_size=SIZE,
                        run_before=lambda pilot: _show(pilot, DoneScreen(session)))
