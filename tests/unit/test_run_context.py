"""One run context: the bundle folder worked out once, its manifest parsed once, results handed back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from installer.bundle import manifest as manifest_module
from installer.components.jupyterhub.steps import HubUrlStep, HubWaitStep
from installer.config.profile import Profile, load_profile
from installer.demo.prepare import prepare_demo
from installer.engine.commands import RecordingRunner
from installer.engine.events import CollectingSink, PlanFinished, StepFinished, StepStarted
from installer.engine.files import FileWriter
from installer.engine.journal import Journal
from installer.engine.plan import Plan, StepContext
from installer.engine.runner import RunResult, run_plan
from installer.headless.summary import summary_lines
from installer.install_run import InstallOptions, run_install
from installer.wizard.backend import WizardSession, done_report, exit_summary

REPO = Path(__file__).resolve().parents[2]


def _count_parses(monkeypatch) -> list[object]:
    """Record every validation of a manifest document, whoever reads the file."""
    calls: list[object] = []
    original = manifest_module.Manifest.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls, *args, **kwargs):
        calls.append(args[0] if args else None)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(manifest_module.Manifest, "model_validate", classmethod(counting))
    return calls


def test_demo_dry_run_parses_the_manifest_once(tmp_path: Path, monkeypatch) -> None:
    """`./install.sh --demo --profile profiles/cpu.yaml --dry-run`: every step shares one parse (it was ten)."""
    with prepare_demo(tmp_path / "demo", start_containerd=False, keep_dir=tmp_path / "keep") as demo:
        options = demo.options_for(load_profile(REPO / "profiles" / "cpu.yaml"))
        assert options.dry_run
        calls = _count_parses(monkeypatch)
        sink = CollectingSink()
        result = run_install(options, sink)
    assert result.exit_code == 0, result.error
    assert len(calls) == 1


def test_the_bundle_override_is_the_one_folder_every_part_sees(tmp_path: Path) -> None:
    """`--bundle` wins over the profile's folder in the options, the plan options and the profile copy alike."""
    profile = Profile(bundle=tmp_path / "from-profile")
    override = tmp_path / "sub" / ".." / "given"
    options = InstallOptions(profile=profile, bundle_dir=override, state_dir=tmp_path / "state")
    expected = (tmp_path / "given").resolve()
    assert options.bundle() == expected
    assert options.plan_options().bundle(profile) == expected
    assert profile.with_bundle(override).bundle_dir() == expected
    assert profile.bundle_dir(override) == expected
    assert InstallOptions(profile=profile).bundle() == tmp_path / "from-profile"


def _url_step_run(tmp_path: Path) -> tuple[RunResult, CollectingSink]:
    """The real URL step, run by the real runner, against a node whose InternalIP is 192.0.2.7."""
    runner = RecordingRunner()
    runner.answer(["microk8s", "kubectl", "get", "nodes"], json.dumps({"items": [
        {"status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.7"}]}}]}))
    sink = CollectingSink()
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path)
    return run_plan(Plan([HubUrlStep(Profile().jupyterhub)]), ctx, Journal(None)), sink


def test_the_hub_url_comes_back_in_the_run_result_and_the_json_line(tmp_path: Path) -> None:
    """What the URL step read from the node is in the run result and in ``plan_finished``, word for word."""
    result, sink = _url_step_run(tmp_path)
    assert result.ok
    assert result.results.hub_url == "http://192.0.2.7:30080/"
    finished = sink.of(PlanFinished)[0].to_dict()
    assert finished["results"]["hub_url"] == "http://192.0.2.7:30080/"
    assert finished["results"]["images"] is None  # no import in this plan
    json.dumps(finished)  # the JSON line stays JSON


def test_done_screen_shows_the_url_the_install_step_read(tmp_path: Path) -> None:
    """The Done screen says what the step read from kubectl, never an address worked out again on this host."""
    result, _ = _url_step_run(tmp_path)
    session = WizardSession.start(InstallOptions(profile=Profile(), bundle_dir=tmp_path, state_dir=tmp_path / "s"),
                                  log_file=tmp_path / "install.log")
    session.result = result
    report = done_report(session)
    assert report.url == "http://192.0.2.7:30080/"
    assert any("http://192.0.2.7:30080/hub/signup" in line for line in report.login)


def test_wizard_and_headless_say_the_same_at_the_end(tmp_path: Path) -> None:
    """The lines the wizard leaves in the terminal are the headless summary's: URL, login, profile, log."""
    result, _ = _url_step_run(tmp_path)
    profile = Profile.model_validate({"jupyterhub": {"admin_users": ["admin", "ops"]}})
    session = WizardSession.start(InstallOptions(profile=profile, bundle_dir=tmp_path, state_dir=tmp_path / "s"),
                                  log_file=tmp_path / "install.log")
    session.result = result
    session.saved_profile = tmp_path / "profiles" / "node.yaml"
    lines = exit_summary(session)
    assert lines == summary_lines(result, profile, log_file=tmp_path / "install.log",
                                  saved_profile=tmp_path / "profiles" / "node.yaml")
    assert lines[0] == "JupyterHub is at http://192.0.2.7:30080/"
    assert "admin, ops" in lines[1] and "password" not in lines[1]
    assert lines[-2:] == [f"Profile: {tmp_path}/profiles/node.yaml", f"Log: {tmp_path}/install.log"]


def test_a_failed_run_ends_in_one_line_with_the_step_and_the_exit_code(tmp_path: Path) -> None:
    """On failure the wizard leaves one line naming the step and the exit code, then the files."""
    runner = RecordingRunner()
    runner.answer(["microk8s", "kubectl", "get", "--raw"], returncode=1)
    ticks = iter(range(0, 10_000, 100))
    sink = CollectingSink()
    profile = Profile.model_validate({"jupyterhub": {"auth": {"type": "dummy",
                                                              "password": "s3cret-Passw0rd"}}})
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=profile, state_dir=tmp_path)
    step = HubWaitStep(profile.jupyterhub, poll_interval=0.0, clock=lambda: float(next(ticks)))
    result = run_plan(Plan([step]), ctx, Journal(None))
    assert not result.ok
    session = WizardSession.start(InstallOptions(profile=profile, bundle_dir=tmp_path, state_dir=tmp_path / "s"),
                                  log_file=tmp_path / "install.log")
    session.result = result
    lines = exit_summary(session)
    assert lines[0].startswith(f"The install failed at step jupyterhub.wait (exit {int(result.exit_code)})")
    assert lines[-1] == f"Log: {tmp_path}/install.log"
    assert not any("s3cret" in line for line in lines)


def _demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "installer", "--demo", "--profile", str(REPO / "profiles" / "cpu.yaml"), "--dry-run",
         "--log-file", str(tmp_path / "demo.log"), "--state-dir", str(tmp_path / "state"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_json_lines_and_the_headless_summary_read_the_steps_results(tmp_path: Path) -> None:
    """`--output jsonl`: ``plan_finished.results`` is what the URL and import steps reported; text mode prints it."""
    done = _demo(tmp_path, "--output", "jsonl")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    said = next(e["message"] for e in events if e["event"] == "log" and e.get("step_id") == "jupyterhub.url")
    results = events[-1]["results"]
    assert events[-1]["event"] == "plan_finished"
    assert said.endswith(f" at {results['hub_url']}")
    imported = [e for e in events if e["event"] == "item_finished" and e["step_id"] == "import-images"]
    images = results["images"]
    assert images is not None and imported
    assert images["imported"] + images["present"] + images["would_import"] + images["failed"] == len(imported)
    assert images["imported"] == sum(e["status"] == "ok" for e in imported)

    text = _demo(tmp_path)
    assert text.returncode == 0, text.stderr
    tail = text.stdout.splitlines()[-5:]
    assert tail[0] == f"JupyterHub would be at {results['hub_url']} (dry-run)"
    assert tail[1].startswith("Log in: sign up as an admin (admin)")
    assert tail[2].startswith("Images: ")
    assert tail[3:] == [f"Profile: {REPO / 'profiles' / 'cpu.yaml'}", f"Log: {tmp_path / 'demo.log'}"]


def test_the_plan_verb_walks_with_the_install_runner(tmp_path: Path, monkeypatch) -> None:
    """`plan` reads the install's own walk: the same numbered start/finish events, one per step, in order."""
    from fakehost import no_gpu

    from installer.verbs import plan as plan_verb

    monkeypatch.setattr(plan_verb, "_can_import", lambda: False)  # no MicroK8s containerd to ask here
    host = tmp_path / "host"
    no_gpu(host).write("/etc/resolv.conf", "nameserver 10.20.0.2\n")
    planned, _, sink = plan_verb.make_plan(load_profile(REPO / "profiles" / "cpu.yaml"), host)
    started = sink.of(StepStarted)
    assert [e.step_id for e in started] == [p.id for p in planned]
    assert [(e.index, e.total) for e in started] == [(i, len(planned)) for i in range(1, len(planned) + 1)]
    finished = {e.step_id: e.status for e in sink.of(StepFinished)}
    shown = {"ok": "would run", "skipped": "skipped", "failed": "would fail"}
    assert {p.id: p.status for p in planned} == {step: shown[status] for step, status in finished.items()}
    # a step that would fail does not stop the dry-run walk (every step started, above); the walk ends with
    # the status a real run would end with (issue 13 point 6)
    assert sink.of(PlanFinished)[0].status == ("failed" if "failed" in finished.values() else "ok")


def test_ctrl_c_between_steps_is_recorded_as_interrupted(tmp_path: Path) -> None:
    """A Ctrl-C while an event is shown (outside any step) leaves last-run.json saying "interrupted", not "failed"."""
    from installer.engine.lastrun import read_record

    class StopAtFirstStep(CollectingSink):
        def emit(self, event: object) -> None:
            if isinstance(event, StepStarted):
                raise KeyboardInterrupt
            super().emit(event)  # type: ignore[arg-type]

    state = tmp_path / "state"
    profile = load_profile(REPO / "profiles" / "cpu.yaml").with_bundle(tmp_path / "bundle")
    sink = StopAtFirstStep()
    options = InstallOptions(profile=profile, state_dir=state)
    try:
        run_install(options, sink, runner=RecordingRunner(sink))
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the Ctrl-C did not reach the caller")
    record = read_record(state)
    assert record is not None
    assert (record.status, record.exit_code) == ("interrupted", 130)
