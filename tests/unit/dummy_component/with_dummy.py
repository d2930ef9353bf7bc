"""Register the dummy component with one line, then report what the installer makes of it (JSON on stdout).

Run in a fresh interpreter (``python -m tests.unit.dummy_component.with_dummy WORK_DIR``) so the
line comes before anything reads the registry, as a line in ``registry.py`` would: the profile model
is built when ``installer.config.profile`` is first imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

from installer.components import registry
from tests.unit.dummy_component import COMPONENT, IMAGE

if "installer.config.profile" in sys.modules:  # the profile would have been built without the dummy
    raise SystemExit("installer.config.profile was imported before the dummy was registered")

registry.COMPONENTS = (*registry.COMPONENTS, COMPONENT)  # the one line a new component adds

from fakehost import no_gpu  # noqa: E402 - after the registration, on purpose
from imagegen import make_image_archive  # noqa: E402

from installer.cli import main  # noqa: E402
from installer.config.profile import Profile, dump_profile, schema_json  # noqa: E402


def _cli(argv: list[str]) -> tuple[int, Any]:
    """Run the CLI with ``--json`` and parse what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*argv, "--json"])
    return code, json.loads(out.getvalue())


def schema() -> dict[str, Any]:
    """The dummy's section in the profile schema and in a saved profile."""
    data = json.loads(schema_json())
    return {"properties": sorted(data["properties"]), "dummy": data["properties"].get("dummy"),
            "saved": dump_profile(Profile.model_validate({"dummy": {"enabled": True, "replicas": 2}}))}


def plan(work: Path) -> dict[str, Any]:
    """``plan --out`` on a fake CPU host with the dummy turned on."""
    import installer.verbs.plan as plan_verb

    plan_verb._can_import = lambda: False  # no image import step: it waits for an absent containerd
    host = work / "host"
    no_gpu(host).write("/etc/resolv.conf", "nameserver 10.20.0.2\n")
    profile = work / "dummy.yaml"
    (work / "bundle").mkdir()
    profile.write_text("bundle: bundle\ndummy:\n  enabled: true\n  replicas: 4\n")
    code, report = _cli(["plan", "--profile", str(profile), "--host-root", str(host), "--out", str(work / "out")])
    return {"code": code, "steps": [(s["id"], s["commands"]) for s in report["steps"]],
            "files": sorted(p.name for p in (work / "out").iterdir()),
            "dummy.yaml": (work / "out" / "dummy.yaml").read_text() if (work / "out" / "dummy.yaml").exists() else ""}


def verify(work: Path) -> dict[str, Any]:
    """The bundle check wants the dummy's image; ``bundle lock`` files it under the dummy; ``verify`` checks it."""
    from installer.bundle.contents import load_bundle
    from installer.bundle.requirements import missing_artifacts

    bundle = work / "offline-images"
    make_image_archive(bundle / "images" / "busybox.tar", "docker.io/library/busybox:1.28.4", seed=4)
    enabled = Profile.model_validate({"dummy": {"enabled": True}})
    missing = [m.message for m in missing_artifacts(enabled, load_bundle(bundle), ["dummy"])]
    make_image_archive(bundle / "images" / "dummy.tar", IMAGE, seed=5)
    lock_code, _ = _cli(["bundle", "lock", "--bundle", str(bundle)])
    code, report = _cli(["verify", "--bundle", str(bundle)])
    return {"missing_before": missing, "lock_code": lock_code, "code": code,
            "checks": [(c["component"], c["file"], c["status"]) for c in report.get("files", [])]}


async def wizard(work: Path) -> dict[str, Any]:
    """The Components screen: the dummy's switch, on as its suggestion says, and its settings in the profile."""
    from textual.widgets import Static, Switch

    from installer.engine.commands import RecordingRunner
    from installer.install_run import InstallOptions
    from installer.preflight import report as preflight
    from installer.preflight.suggestions import suggest
    from installer.probes import probe_host
    from installer.tui.app import InstallerApp
    from installer.tui.screens.components import ComponentsScreen
    from installer.wizard import backend
    from installer.wizard.backend import WizardSession

    host = work / "wizard-host"
    no_gpu(host)
    facts = probe_host(RecordingRunner(strict=True), host)

    def fixed_report(*args: Any, **kwargs: Any) -> preflight.PreflightReport:
        return preflight.PreflightReport(facts, (), tuple(suggest(facts)))

    preflight.run_preflight = fixed_report  # this machine is not probed; the suggestions are the real ones
    backend.notebook_image_warnings = lambda options: {}
    (work / "bundle").mkdir()
    options = InstallOptions(profile=Profile(), state_dir=work / "state", bundle_dir=work / "bundle")
    session = WizardSession.start(options, log_file=work / "install.log", profile_dir=work / "profiles")
    app = InstallerApp(session, animate=False)
    seen: dict[str, Any] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("enter", "ctrl+n"):
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press(key)
        await pilot.pause()
        seen["screen"] = type(app.screen).__name__
        if isinstance(app.screen, ComponentsScreen):
            seen["switches"] = [s.id for s in app.screen.query(Switch)]
            seen["dummy_on"] = app.screen.query_one("#switch-dummy", Switch).value
            seen["text"] = " ".join(str(s.render()) for s in app.screen.query(Static))
            profile = session.model.to_profile()
            seen["suggested"] = profile.model_dump(mode="json")["dummy"]
            await pilot.click("#switch-dummy")
            await pilot.pause()
            seen["after_click"] = session.model.to_profile().model_dump(mode="json")["dummy"]["enabled"]
        await pilot.press("ctrl+q")
    return seen


def run(work: Path) -> dict[str, Any]:
    """Every check, each in its own folder."""
    for name in ("plan", "verify", "wizard"):
        (work / name).mkdir(parents=True)
    return {"schema": schema(), "plan": plan(work / "plan"), "verify": verify(work / "verify"),
            "wizard": asyncio.run(wizard(work / "wizard"))}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run(Path(sys.argv[1]))) + "\n")
