"""Commands that fail, crash or hang: MicroK8s never ready, Helm failing or stuck, `ctr` crashing or stuck.

What the operator must see: never an endless wait. Every command has a finite
timeout; when it fails, crashes or is stopped, the error names the command, says
how it ended (exit code, the signal that killed it, or the timeout), shows its last
output and gives a hint; nothing it started is left running. MicroK8s and Helm are
stood in for by the recording runner (answers a stopped command the way the real
runner returns it); `ctr` is a real program on PATH that crashes or hangs for real.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from imagegen import make_image_archive

from installer.bundle.importer import ContainerdStore, ImageImporter, items_from_manifest
from installer.bundle.manifest import load_manifest, save_manifest
from installer.bundle.scan import lock_bundle
from installer.components.microk8s.steps import WaitReadyStep
from installer.config.profile import Profile
from installer.engine.commands import CommandResult, RealRunner, RecordingRunner
from installer.engine.files import DryRunFileWriter
from installer.engine.plan import StepContext
from installer.errors import CommandFailed, StepFailed
from tests.faults.support import (
    PY,
    cli,
    fake_install_argv,
    finish,
    make_host,
    make_install_bundle,
    processes_using,
    start,
    wait_for,
    write_profile,
)


class TimedRecorder(RecordingRunner):
    """A recording runner that also keeps the timeout each command was given."""

    def _execute(self, argv: tuple[str, ...], **kwargs: Any) -> CommandResult:
        self.timeouts = [*getattr(self, "timeouts", []), (argv, kwargs["timeout"])]
        return super()._execute(argv, **kwargs)


def test_microk8s_never_ready_is_a_bounded_wait_naming_the_command_output_and_hint(tmp_path: Path) -> None:
    """`microk8s status --wait-ready` never returns: the step gives it a finite timeout, and when the runner stops
    it the error names the command, the timeout, MicroK8s's last words, and what to look at."""
    runner = TimedRecorder()
    runner.answers[("microk8s", "status")] = CommandResult(
        ("microk8s",), None, "microk8s is not running. Use microk8s inspect for a deeper inspection.\n")
    ctx = StepContext(runner=runner, files=DryRunFileWriter(), sink=runner.sink, profile=Profile(),
                      state_dir=tmp_path)
    with pytest.raises(StepFailed) as caught:
        WaitReadyStep().run(ctx)
    (argv, timeout), = runner.timeouts
    assert argv == ("microk8s", "status", "--wait-ready", "--timeout", "600")
    assert timeout == 660  # the profile's ready_timeout plus a margin: finite
    message = caught.value.message
    assert "MicroK8s did not become ready within 600 s" in message
    assert "`microk8s status --wait-ready --timeout 600` did not finish within 660 s and was stopped" in message
    assert "microk8s is not running. Use microk8s inspect" in message
    assert "microk8s inspect" in caught.value.hint and "default route" in caught.value.hint


def _install(tmp_path: Path) -> dict[str, Path]:
    bundle = make_install_bundle(tmp_path)
    return {"cluster": tmp_path / "cluster.json", "profile": write_profile(tmp_path / "profile.yaml", bundle),
            "state": tmp_path / "state", "host": make_host(tmp_path / "host"), "log": tmp_path / "install.log"}


@pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")
@pytest.mark.parametrize(("fault", "step", "says"), [
    ({"never_ready": True}, "microk8s.wait-ready",
     "error: MicroK8s did not become ready within 600 s: `microk8s status --wait-ready --timeout 600` did not finish "
     "within 660 s and was stopped:\n  microk8s is not running. Use microk8s inspect for a deeper inspection."),
    ({"helm": "fails"}, "jupyterhub.install",
     "exited with code 1:\n  Error: INSTALLATION FAILED: failed pre-install: timed out waiting for the condition"),
    ({"helm": "hangs"}, "jupyterhub.install",
     "did not finish within 1020 s and was stopped:\n  Release \"jupyterhub\" does not exist. Installing it now."),
], ids=["microk8s-never-ready", "helm-fails", "helm-hangs"])  # the command's output indented under the error
def test_a_failing_or_stuck_cluster_command_ends_the_install_with_command_output_and_hint(
        fault: dict[str, Any], step: str, says: str, tmp_path: Path) -> None:
    """Through the real CLI: exit 1, the failed step named, the command with its last output on stderr, a hint;
    later steps not run; the re-run (once the cluster is healthy) resumes."""
    paths = _install(tmp_path)
    argv = fake_install_argv(paths["cluster"], paths["profile"], paths["state"], paths["host"], paths["log"],
                             **fault)
    code, out, err = finish(start(argv))
    assert code == 1, err
    assert f"FAIL  {step}" in out
    assert says in err, err
    hint = next(line for line in err.splitlines() if line.startswith("hint: "))
    assert "microk8s" in hint
    assert "jupyterhub.url" not in out.split(f"FAIL  {step}")[1]  # nothing after the failure ran
    if "helm" in fault:
        assert "microk8s helm3 upgrade --install jupyterhub" in err
        assert "`microk8s kubectl -n jupyterhub get pods`" in hint

    healthy = fake_install_argv(paths["cluster"], paths["profile"], paths["state"], paths["host"], paths["log"])
    code, out, err = finish(start(healthy))
    assert code == 0, err


# --- a real `ctr` that crashes or hangs ------------------------------------------------------------


def hang_marker(tmp_path: Path) -> str:
    """Names the hung ctr's child process, so the test can tell it is gone."""
    return f"hung-ctr-child-{tmp_path.name}"


def _fake_ctr(tmp_path: Path, behaviour: str) -> Path:
    """`ctr` that misbehaves on `images import` only (listing and the rest go to the real ctr).

    crash: says something, then dies of SIGSEGV. hang: says something, starts a child that holds its output
    open, and waits forever (as a ctr stuck on a frozen containerd does).
    """
    script = tmp_path / f"ctr-{behaviour}"
    child = f"{PY} -c 'import time; time.sleep(300)' {hang_marker(tmp_path)}"
    act = {"crash": "echo 'ctr: unpacking layers' >&2; kill -SEGV $$",
           "hang": f"echo 'ctr: waiting for containerd to answer' >&2; {child} & wait"}[behaviour]
    script.write_text('#!/bin/sh\ncase "$*" in *"images import"*) ' + act + ' ;; esac\nexec ctr "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    for n in range(2):
        make_image_archive(bundle / "images" / f"c{n}.tar", f"crash/c{n}:1", seed=n)
    save_manifest(lock_bundle(bundle), bundle)
    return bundle


@pytest.mark.containerd
def test_ctr_crashing_names_the_signal_and_last_output_and_exits_1(clean_containerd: Any, tmp_path: Path) -> None:
    """`import` with a `ctr` that dies of SIGSEGV on every import: each archive fails with "crashed (killed by
    SIGSEGV)" and ctr's last line, a hint points at containerd, exit 1 (the store failed, not the bundle)."""
    bundle = _bundle(tmp_path)
    done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(clean_containerd.socket),
               "--namespace", clean_containerd.namespace, "--ctr", str(_fake_ctr(tmp_path, "crash")),
               "--state-dir", str(tmp_path / "state"))
    assert done.returncode == 1, done.stdout + done.stderr
    failures = sorted(line for line in done.stdout.splitlines() if line.startswith("FAIL "))
    assert failures == [f"FAIL images/c{n}.tar: ctr-crash crashed (killed by SIGSEGV): ctr: unpacking layers"
                        for n in range(2)]
    assert f"hint: Is containerd running on {clean_containerd.socket}" in done.stderr
    assert "Traceback" not in done.stderr
    assert clean_containerd.images() == []


@pytest.mark.containerd
def test_ctr_hanging_is_stopped_at_the_timeout_with_everything_it_started(clean_containerd: Any, tmp_path: Path,
                                                                          reap: list[str]) -> None:
    """A `ctr images import` that never ends: stopped at the importer's timeout (lowered here from 10 minutes),
    reported with the timeout and its last output, not retried, and its child process killed with it."""
    reap.append(hang_marker(tmp_path))
    bundle = _bundle(tmp_path)
    fake = _fake_ctr(tmp_path, "hang")
    store = ContainerdStore(RealRunner(), clean_containerd.socket, clean_containerd.namespace, str(fake))
    importer = ImageImporter(store, jobs=2, timeout=1.0, min_rate=1e12, retry_delay=0.1)
    report = importer.run(items_from_manifest(bundle, load_manifest(bundle).images()))
    assert [r.status for r in report.results] == ["failed", "failed"]
    for result in report.results:
        assert result.reason == ("ctr-hang did not finish within 1 s and was stopped: "
                                 "ctr: waiting for containerd to answer")
        assert result.attempts == 1
    assert report.exit_code == 1
    wait_for(lambda: not processes_using(hang_marker(tmp_path)), "the hung ctr's child to die", 10)


def test_the_runner_stops_a_hung_command_and_all_it_started(tmp_path: Path, reap: list[str]) -> None:
    """The mechanism under every timeout above, with real processes: a command that prints, forks a child holding
    its output, and hangs, is stopped at its timeout with its whole process group; the error says so and shows the
    last output; the call returns promptly instead of waiting for the child."""
    marker = f"hung-grandchild-{tmp_path.name}"
    reap.append(marker)
    script = tmp_path / "hangs"
    script.write_text(f"#!/bin/sh\necho 'still waiting for the API server'\n"
                      f"{PY} -c 'import time; time.sleep(300)' {marker} &\nwait\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(CommandFailed) as caught:
        RealRunner().run([str(script)], timeout=1, hint="Check the API server.")
    assert f"`{script}` did not finish within 1 s and was stopped:\nstill waiting for the API server" == \
        caught.value.message
    assert caught.value.hint == "Check the API server."
    wait_for(lambda: not processes_using(marker), "the hung command's child to be killed", timeout=10)


def test_a_crash_is_named_by_its_signal(tmp_path: Path) -> None:
    """A command killed by a signal reads "crashed (killed by SIGABRT)", not "exited with code -6"."""
    with pytest.raises(CommandFailed, match=r"crashed \(killed by SIGABRT\):\nabout to abort"):
        RealRunner().run([PY, "-c", "import os, sys; print('about to abort', flush=True); os.abort()"], timeout=60)


@pytest.mark.containerd
def test_import_json_reports_a_crash_per_archive(clean_containerd: Any, tmp_path: Path) -> None:
    """The same crash through `import --json`: one document, every archive failed with the reason, exit 1."""
    bundle = _bundle(tmp_path)
    done = cli("import", "--bundle", str(bundle), "--containerd-socket", str(clean_containerd.socket),
               "--namespace", clean_containerd.namespace, "--ctr", str(_fake_ctr(tmp_path, "crash")),
               "--state-dir", str(tmp_path / "state"), "--json")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert {item["status"] for item in document["items"]} == {"failed"}
    assert all("crashed (killed by SIGSEGV)" in item["reason"] for item in document["items"])
    assert all(item["attempts"] == 3 for item in document["items"])  # a crash may be transient: retried twice
