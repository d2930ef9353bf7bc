"""PreflightStep inside a plan: events, shared facts, exit 3, skipping by id."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakehost import GIB, gpu_and_infiniband, no_gpu

from installer.bundle.manifest import ComponentArtifacts, ImageEntry, Manifest, save_manifest
from installer.config.profile import Profile
from installer.engine.commands import RecordingRunner
from installer.engine.events import CheckReported, CollectingSink, LogLine
from installer.engine.files import FileWriter
from installer.engine.journal import Journal
from installer.engine.plan import Plan, StepContext
from installer.engine.runner import run_plan
from installer.errors import ExitCode, PreflightFailed, ProfileError, UsageError
from installer.preflight.checks import CHECK_IDS
from installer.preflight.report import BundleEstimate, estimate_bundle
from installer.preflight.step import PreflightStep

NO_BUNDLE = BundleEstimate(None, False)


def _ctx(tmp_path: Path, root: Path, profile: Profile | None = None, skip: frozenset[str] = frozenset(),
         runner: RecordingRunner | None = None) -> tuple[StepContext, CollectingSink]:
    sink = CollectingSink()
    ctx = StepContext(runner=runner or RecordingRunner(strict=True), files=FileWriter(sink), sink=sink,
                      profile=profile or Profile.model_validate({"preflight": {"disk_headroom_gib": 0}}),
                      state_dir=tmp_path / "state", host_root=root, skip_checks=skip)
    return ctx, sink


def test_failing_host_raises_exit_3_after_reporting_every_check(tmp_path: Path) -> None:
    no_gpu(tmp_path / "host")  # no MicroK8s, no snaps in the bundle
    ctx, sink = _ctx(tmp_path, tmp_path / "host")
    with pytest.raises(PreflightFailed) as caught:
        PreflightStep(bundle=NO_BUNDLE).run(ctx)
    assert caught.value.exit_code == ExitCode.PREFLIGHT_FAILED
    assert "microk8s: found not installed" in caught.value.message
    assert "--skip-check" in caught.value.hint
    assert [e.check_id for e in sink.of(CheckReported)] == list(CHECK_IDS)
    assert ctx.facts.system.os_id == "ubuntu"
    assert [c.id for c in ctx.preflight.checks] == list(CHECK_IDS)


def test_skipping_the_failed_check_lets_the_install_go_on_and_logs_it(tmp_path: Path) -> None:
    no_gpu(tmp_path / "host")
    ctx, sink = _ctx(tmp_path, tmp_path / "host", skip=frozenset({"microk8s", "root"}))
    PreflightStep(bundle=NO_BUNDLE).run(ctx)
    statuses = {e.check_id: e.status for e in sink.of(CheckReported)}
    assert statuses["microk8s"] == "skipped" and statuses["root"] == "skipped"
    logged = [e.message for e in sink.of(LogLine) if e.level == "warning"]
    assert any("check microk8s skipped" in m and "would have been 'fail'" in m for m in logged)
    assert any("check root skipped" in m for m in logged)


def test_profile_skip_checks_count_too(tmp_path: Path) -> None:
    no_gpu(tmp_path / "host")
    profile = Profile.model_validate({"preflight": {"disk_headroom_gib": 0, "skip_checks": ["microk8s", "root"]}})
    ctx, _ = _ctx(tmp_path, tmp_path / "host", profile)
    PreflightStep(bundle=NO_BUNDLE).run(ctx)
    assert {c.id for c in ctx.preflight.checks if c.status == "skipped"} == {"microk8s", "root"}


def test_unknown_skip_id_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    no_gpu(tmp_path / "host")
    ctx, _ = _ctx(tmp_path, tmp_path / "host", skip=frozenset({"microk8"}))
    with pytest.raises(UsageError, match="unknown check id 'microk8'") as caught:
        PreflightStep(bundle=NO_BUNDLE).run(ctx)
    assert "did you mean 'microk8s'?" in caught.value.hint
    profile = Profile.model_validate({"preflight": {"skip_checks": ["gpus"]}})
    ctx, _ = _ctx(tmp_path, tmp_path / "host", profile)
    with pytest.raises(ProfileError, match=r"preflight\.skip_checks"):
        PreflightStep(bundle=NO_BUNDLE).run(ctx)


def test_gpu_operator_on_a_cpu_host_stops_the_plan_with_exit_3(tmp_path: Path) -> None:
    no_gpu(tmp_path / "host").microk8s()
    profile = Profile.model_validate({"preflight": {"disk_headroom_gib": 0, "skip_checks": ["root"]},
                                      "gpu_operator": {"enabled": True}})
    ctx, sink = _ctx(tmp_path, tmp_path / "host", profile)
    result = run_plan(Plan([PreflightStep(bundle=NO_BUNDLE)]), ctx, Journal(tmp_path / "journal.json"))
    assert result.exit_code == ExitCode.PREFLIGHT_FAILED
    failed = [e for e in sink.of(CheckReported) if e.status == "fail"]
    assert [e.check_id for e in failed] == ["gpu"]


def test_gpu_and_infiniband_host_passes_and_shares_facts(tmp_path: Path) -> None:
    gpu_and_infiniband(tmp_path / "host").microk8s()
    profile = Profile.model_validate({"preflight": {"disk_headroom_gib": 0, "skip_checks": ["root"]},
                                      "gpu_operator": {"enabled": True}, "rdma": {"enabled": True}})
    ctx, sink = _ctx(tmp_path, tmp_path / "host", profile)
    result = run_plan(Plan([PreflightStep(bundle=NO_BUNDLE)]), ctx, Journal(tmp_path / "journal.json"))
    assert result.exit_code == ExitCode.OK, [e for e in sink.of(CheckReported) if e.status == "fail"]
    facts = ctx.facts
    assert len(facts.gpus) == 8 and facts.host_driver == "550.54.15"
    assert [p.device for p in facts.active_ports] == ["mlx5_0"]
    assert [s.component for s in ctx.preflight.suggestions if s.suggested] == ["gpu_operator", "rdma"]
    assert ctx.runner.calls == []  # a copied tree: no command ran


def test_preflight_always_runs_again(tmp_path: Path) -> None:
    ctx, _ = _ctx(tmp_path, tmp_path)
    assert PreflightStep().is_done(ctx) is False


def test_dry_run_reports_failures_without_stopping(tmp_path: Path) -> None:
    from installer.engine.events import PlanFinished
    from installer.engine.journal import Journal
    from installer.engine.plan import Plan, Step
    from installer.engine.runner import run_plan
    from installer.errors import ExitCode

    class Marker(Step):
        id, title = "after", "a later step"

        def run(self, ctx: object) -> None:
            """Nothing: it only shows that the plan went on."""

    no_gpu(tmp_path / "host")

    class DryRecording(RecordingRunner):
        dry_run = True

    ctx, sink = _ctx(tmp_path, tmp_path / "host", runner=DryRecording(strict=True))
    result = run_plan(Plan([PreflightStep(bundle=NO_BUNDLE), Marker()]), ctx, Journal(None))
    assert [o.status for o in result.outcomes] == ["failed", "ok"]  # the plan goes on
    assert result.exit_code == ExitCode.PREFLIGHT_FAILED  # what the real run would end with
    assert "a real run would stop at: preflight" in sink.of(PlanFinished)[0].summary


def test_bundle_estimate_counts_images_and_finds_snaps(tmp_path: Path) -> None:
    assert estimate_bundle(tmp_path / "absent") == BundleEstimate(None, False)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.tar.zst").write_bytes(b"x" * 1000)
    (tmp_path / "images" / "b.tar").write_bytes(b"x" * 24)
    (tmp_path / "charts").mkdir()
    (tmp_path / "charts" / "jupyterhub-4.2.0.tgz").write_bytes(b"x" * 5000)  # a chart, not an image
    assert estimate_bundle(tmp_path) == BundleEstimate(3 * 1000 + 24, False)  # unpacked: zstd counted 3x
    (tmp_path / "snaps").mkdir()
    (tmp_path / "snaps" / "microk8s_7964.snap").write_bytes(b"")
    assert estimate_bundle(tmp_path).has_snaps


def test_bundle_estimate_counts_the_unpacked_size_the_manifest_records(tmp_path: Path) -> None:
    """containerd stores an archive's content without the file's compression: the recorded size counts."""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.tar.zst").write_bytes(b"x" * 1000)
    (tmp_path / "images" / "b.tar").write_bytes(b"x" * 24)
    entry = ImageEntry(refs=["docker.io/f/a:1"], file="images/a.tar.zst", sha256="0" * 64, size=1000,
                       digest="sha256:" + "1" * 64, content_size=7 * 1000)
    save_manifest(Manifest(components={"extra": ComponentArtifacts(images=[entry])}), tmp_path)  # type: ignore[dict-item]
    assert estimate_bundle(tmp_path).image_bytes == 7 * 1000 + 24


def test_bundle_size_raises_the_disk_requirement(tmp_path: Path) -> None:
    no_gpu(tmp_path / "host")
    ctx, _ = _ctx(tmp_path, tmp_path / "host", skip=frozenset({"microk8s", "root", "disk-containerd"}))
    PreflightStep(bundle=BundleEstimate(8 * GIB, True)).run(ctx)
    disk = next(c for c in ctx.preflight.checks if c.id == "disk-containerd")
    assert disk.required.startswith("20.0 GiB free = 2.5 x 8.0 GiB of image files")


def test_bundle_dir_given_to_the_step_is_the_one_measured(tmp_path: Path) -> None:
    no_gpu(tmp_path / "host")
    bundle = tmp_path / "usb" / "offline-images"
    (bundle / "snaps").mkdir(parents=True)
    (bundle / "snaps" / "microk8s_7964.snap").write_bytes(b"")
    (bundle / "x.tar").write_bytes(b"x" * 2048)
    ctx, _ = _ctx(tmp_path, tmp_path / "host", skip=frozenset({"root"}))
    PreflightStep(bundle_dir=bundle).run(ctx)  # snaps found: MicroK8s missing is only a warning
    checks = {c.id: c for c in ctx.preflight.checks}
    assert checks["microk8s"].status == "warn"
    assert ctx.facts.disk("bundle").path == str(bundle)
