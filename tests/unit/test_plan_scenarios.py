"""The whole install plan against a scripted MicroK8s: fresh host, re-run, GPU and InfiniBand hosts, resume.

MicroK8s, Helm and the Kubernetes API cannot run here, so a :class:`FakeCluster`
answers ``microk8s``/``snap``/``ip`` commands through the :class:`RecordingRunner`
and keeps state the way the real cluster would: ``snap install`` installs, ``enable``
enables, ``helm upgrade --install`` records the release with the values file the
step really wrote, the GPU Operator makes the node advertise ``nvidia.com/gpu``.
A second run on the same fake host must then find everything done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import base_host, eight_h100, gpu_and_infiniband, gpus_without_driver

from installer.components.plan import PlanOptions, build_plan
from installer.config.profile import Profile, load_profile
from installer.engine.commands import CommandResult, RecordingRunner, Redactor
from installer.engine.events import CollectingSink, LogLine, StepFinished
from installer.engine.files import FileWriter
from installer.engine.journal import Journal
from installer.engine.plan import StepContext
from installer.engine.runner import RunResult, run_plan
from installer.probes import probe_host

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"


@dataclass
class FakeCluster:
    """A scripted MicroK8s node with just enough state for every step's check and action."""

    snaps: dict[str, str] = field(default_factory=dict)
    running: bool = False
    addons: set[str] = field(default_factory=set)
    forwarders: list[str] = field(default_factory=list)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    allocatable: dict[str, str] = field(default_factory=dict)
    daemonsets: dict[str, dict[str, Any]] = field(default_factory=dict)
    hub_up: bool = False
    gpus_when_operator: int = 8
    rdma_when_plugin: int = 1000
    fail: set[str] = field(default_factory=set)
    """Command words that fail once (``helm-gpu-operator``...)."""
    pending: dict[str, list[Any]] = field(default_factory=dict)
    """resource -> [polls left, amount]: device plugins take a while to register."""
    register_after: int = 3
    """``get nodes`` calls after an install before the node advertises the resource."""
    host_root: Path | None = None
    """The fake host tree that ``ln``/``mv``/``rm`` act on, as they would on the real host."""

    def installed(self) -> FakeCluster:
        """Everything a previous install left."""
        self.snaps = {"snapd": "21759", "core20": "2264", "microk8s": "7394"}
        self.running = True
        self.addons = {"dns", "hostpath-storage", "ha-cluster", "helm3"}
        return self

    def runner(self, redactor: Redactor | None = None) -> RecordingRunner:
        """A recording runner answering from this cluster."""
        runner = RecordingRunner(redactor_=redactor)
        for program in ("microk8s", "snap", "ip", "ln", "mv", "rm"):
            runner.answers[(program,)] = self.answer
        return runner

    # --- answers ----------------------------------------------------------------------

    def answer(self, argv: tuple[str, ...]) -> CommandResult:
        """Dispatch on the command."""
        self._snap_data()
        if argv[0] == "snap":
            return self._snap(argv)
        if argv[0] == "ip":
            return self._ip(argv)
        if argv[0] in ("ln", "mv", "rm"):
            return self._files(argv)
        if argv[:2] == ("microk8s", "kubectl"):
            return self._kubectl(argv[2:], argv)
        if argv[:2] == ("microk8s", "helm3"):
            return self._helm(argv[2:], argv)
        return self._microk8s(argv[1:], argv)

    def _snap_data(self) -> None:
        """An installed microk8s has its args folder (the install hook copies default-args there)."""
        if self.host_root is None or "microk8s" not in self.snaps:
            return
        env = self.host_root / "var/snap/microk8s/current/args/containerd-env"
        if not env.exists():
            env.parent.mkdir(parents=True, exist_ok=True)
            env.write_text("ulimit -n 65536 || true\nulimit -l 16384 || true\n")

    def _snap(self, argv: tuple[str, ...]) -> CommandResult:
        if argv[1] == "list":
            name = argv[2]
            if name not in self.snaps:
                return CommandResult(argv, 1, "", "error: no matching snaps installed\n")
            return _ok(argv, "Name Version Rev Tracking Publisher Notes\n"
                             f"{name} 1.0 {self.snaps[name]} - canonical -\n")
        if argv[1] == "install":
            name = Path(argv[2]).name.split("_")[0]
            self.snaps[name] = Path(argv[2]).stem.split("_")[1]
            if name == "microk8s":
                self.running = True
                self.addons |= {"dns", "ha-cluster", "helm3"}  # MicroK8s enables dns at first start...
                self.forwarders = ["8.8.8.8", "8.8.4.4"]  # ...with the fallback an air-gapped host cannot reach
        return _ok(argv)

    def _files(self, argv: tuple[str, ...]) -> CommandResult:
        if self.host_root is None:
            return _ok(argv)
        inside = Path  # the kubelet-dir step names paths under --host-root itself, as ln/mv/rm get them
        if argv[:2] == ("ln", "-s"):
            inside(argv[3]).parent.mkdir(parents=True, exist_ok=True)
            inside(argv[3]).symlink_to(argv[2])
        elif argv[:2] == ("mv", "-T"):
            inside(argv[2]).rename(inside(argv[3]))
        elif argv[0] == "rm":
            inside(argv[1]).unlink()
        return _ok(argv)

    def _ip(self, argv: tuple[str, ...]) -> CommandResult:
        if argv[1:3] == ("-j", "-4"):
            links = [{"ifname": "lo", "flags": ["LOOPBACK", "UP"], "operstate": "UNKNOWN",
                      "addr_info": [{"family": "inet", "local": "127.0.0.1"}]},
                     {"ifname": "eno1", "flags": ["UP"], "operstate": "UP",
                      "addr_info": [{"family": "inet", "local": "10.0.0.5"}]}]
            return _ok(argv, json.dumps(links))
        return _ok(argv)

    def _microk8s(self, args: tuple[str, ...], argv: tuple[str, ...]) -> CommandResult:
        if not self.snaps.get("microk8s"):
            return CommandResult(argv, 127, "", "microk8s: not found")
        if args[:1] == ("status",):
            if "--wait-ready" in args:
                return _ok(argv, "microk8s is running\n") if self.running else CommandResult(argv, 1)
            if not self.running:
                return CommandResult(argv, 1, "microk8s is not running. Use microk8s inspect for a deeper inspection.")
            status = {"microk8s": {"running": True},
                      "addons": [{"name": a, "repository": "core", "status": "enabled"} for a in sorted(self.addons)]
                      + [{"name": "gpu", "repository": "core", "status": "disabled"}]}
            return _ok(argv, yaml.safe_dump(status))
        if args[:1] == ("enable",):
            name, _, params = args[1].partition(":")
            self.addons.add(name)
            if name == "dns":
                self.forwarders = params.split(",") if params else ["8.8.8.8", "8.8.4.4"]
            return _ok(argv)
        if args[:1] == ("disable",):
            self.addons.discard(args[1])
            return _ok(argv)
        return _ok(argv)

    def _kubectl(self, args: tuple[str, ...], argv: tuple[str, ...]) -> CommandResult:
        if not self.running:
            return CommandResult(argv, 1, "", "The connection to the server 127.0.0.1:16443 was refused")
        if args[:2] == ("get", "nodes"):
            for resource, left in list(self.pending.items()):
                left[0] -= 1
                if left[0] <= 0:
                    self.allocatable[resource] = str(left[1])
                    del self.pending[resource]
            node = {"metadata": {"name": "gpu-node-1"},
                    "status": {"allocatable": {"cpu": "64", "memory": "527Gi", **self.allocatable},
                               "addresses": [{"type": "InternalIP", "address": "10.0.0.5"},
                                             {"type": "Hostname", "address": "gpu-node-1"}]}}
            return _ok(argv, json.dumps({"items": [node]}))
        if "configmap" in args and "coredns" in args:
            if "dns" not in self.addons:
                return CommandResult(argv, 1, "", 'Error from server (NotFound): configmaps "coredns" not found')
            corefile = f".:53 {{\n    errors\n    forward . {' '.join(self.forwarders)}\n    cache 30\n}}\n"
            return _ok(argv, json.dumps({"data": {"Corefile": corefile}}))
        if "daemonset" in args:
            name = args[args.index("daemonset") + 1]
            if name not in self.daemonsets:
                return CommandResult(argv, 1, "", f'Error from server (NotFound): daemonsets.apps "{name}" not found')
            return _ok(argv, json.dumps(self.daemonsets[name]))
        if args[:1] == ("apply",):
            for doc in yaml.safe_load_all(Path(args[2]).read_text()):
                if doc["kind"] == "DaemonSet":
                    self.daemonsets[doc["metadata"]["name"]] = doc
                    self.pending["rdma/hca_shared_devices_a"] = [self.register_after, self.rdma_when_plugin]
            return _ok(argv)
        if args[:2] == ("get", "--raw"):
            return _ok(argv, "") if self.hub_up else CommandResult(argv, 1, "", "service unavailable")
        if "rollout" in args:
            self.hub_up = "jupyterhub" in self.releases
            return _ok(argv)
        return _ok(argv)

    def _helm(self, args: tuple[str, ...], argv: tuple[str, ...]) -> CommandResult:
        if not self.running:
            return CommandResult(argv, 1, "", "Error: Kubernetes cluster unreachable")
        if args[:1] == ("list",):
            namespace = args[args.index("--namespace") + 1]
            found = [{"name": n, "namespace": namespace, "revision": str(r["revision"]), "status": "deployed",
                      "chart": r["chart"]} for n, r in self.releases.items() if r["namespace"] == namespace]
            return _ok(argv, json.dumps(found))
        if args[:2] == ("get", "values"):
            release = self.releases.get(args[2])
            return _ok(argv, json.dumps(release["values"]) if release else "null")
        if args[:2] == ("upgrade", "--install"):
            release, chart = args[2], Path(args[3])
            if f"helm-{release}" in self.fail:
                self.fail.discard(f"helm-{release}")
                return CommandResult(argv, 1, "", f"Error: UPGRADE FAILED: timed out waiting for {release}")
            values = yaml.safe_load(Path(args[args.index("--values") + 1]).read_text())
            previous = self.releases.get(release, {"revision": 0})
            self.releases[release] = {"namespace": args[args.index("--namespace") + 1], "values": values,
                                      "chart": chart.name.removesuffix(".tgz"),
                                      "revision": previous["revision"] + 1}
            if release == "gpu-operator" and self.gpus_when_operator:
                self.pending["nvidia.com/gpu"] = [self.register_after, self.gpus_when_operator]
            return _ok(argv)
        return _ok(argv)


def _ok(argv: tuple[str, ...], stdout: str = "") -> CommandResult:
    return CommandResult(argv, 0, stdout)


# --- fixtures ------------------------------------------------------------------------------


def make_bundle(root: Path, *, gpu: bool = False) -> Path:
    """A bundle folder with the snaps and charts the steps look for (content is not read by these tests)."""
    bundle = root / "offline-images"
    for name, rev in (("snapd", "21759"), ("core20", "2264"), ("microk8s", "7394")):
        (bundle / "snaps").mkdir(parents=True, exist_ok=True)
        (bundle / "snaps" / f"{name}_{rev}.snap").write_bytes(b"snap")
        (bundle / "snaps" / f"{name}_{rev}.assert").write_text("assertion")
    (bundle / "charts").mkdir(exist_ok=True)
    (bundle / "charts" / "jupyterhub-4.2.0.tgz").write_bytes(b"chart")
    if gpu:
        (bundle / "charts" / "gpu-operator-v25.3.4.tgz").write_bytes(b"chart")
    return bundle


@dataclass
class Run:
    """One run's context pieces, kept so a second run can reuse the state folder and journal."""

    ctx: StepContext
    sink: CollectingSink
    runner: RecordingRunner
    result: RunResult

    def statuses(self) -> dict[str, str]:
        """step id -> ok / skipped / failed."""
        return {e.step_id: e.status for e in self.sink.of(StepFinished)}


def run_install(profile: Profile, cluster: FakeCluster, host_root: Path, state_dir: Path) -> Run:
    """Run the plan (no preflight, no image import: those have their own tests) with the fake cluster."""
    redactor = Redactor(profile.secrets())
    sink = CollectingSink()
    cluster.host_root = host_root
    runner = cluster.runner(redactor)
    runner.sink = sink
    ctx = StepContext(runner=runner, files=FileWriter(sink, redactor), sink=sink, profile=profile,
                      state_dir=state_dir, host_root=host_root)
    ctx.facts = probe_host(RecordingRunner(), host_root, profile.bundle_dir())
    plan = build_plan(profile, PlanOptions(host_root=host_root, preflight=False, import_images=False,
                                           poll_interval=0.0, check=False))  # the check needs a hub: tests/twin
    result = run_plan(plan, ctx, Journal(state_dir / "journal.json"))
    return Run(ctx, sink, runner, result)


def profile_from(path: str, bundle: Path, **updates: Any) -> Profile:
    profile = load_profile(REPO / "profiles" / path)
    profile = profile.model_copy(update={"bundle": bundle, **updates})
    return profile


@pytest.fixture
def host(tmp_path: Path) -> Path:
    root = tmp_path / "host"
    base_host(root).write("/etc/resolv.conf", "nameserver 127.0.0.53\noptions edns0\n")
    (root / "run/systemd/resolve").mkdir(parents=True)
    (root / "run/systemd/resolve/resolv.conf").write_text("nameserver 10.0.0.2\nnameserver 10.0.0.3\n")
    return root


# --- scenarios ------------------------------------------------------------------------------


def test_fresh_host_runs_every_step_in_order(tmp_path: Path, host: Path) -> None:
    """On a host without MicroK8s every step runs, snaps are acked before install, DNS avoids 8.8.8.8."""
    profile = profile_from("cpu.yaml", make_bundle(tmp_path))
    cluster = FakeCluster()
    run = run_install(profile, cluster, host, tmp_path / "state")

    assert run.result.ok, run.result.error
    assert list(run.statuses()) == [s for s, _ in build_plan(profile, PlanOptions(
        preflight=False, import_images=False, check=False)).outline()]
    assert run.statuses()["microk8s.default-route"] == "skipped"  # base_host has a default route
    snap_calls = [c[1:3] for c in run.runner.ran("snap") if c[1] in ("ack", "install")]
    assert [c[0] for c in snap_calls] == ["ack", "install"] * 3
    assert [Path(c[1]).name.split("_")[0] for c in snap_calls[1::2]] == ["snapd", "core20", "microk8s"]
    assert run.runner.ran("snap", "install")[-1][-1] == "--classic"
    assert "--classic" not in run.runner.ran("snap", "install")[0]
    # MicroK8s enabled dns with 8.8.8.8 at first start: it is re-enabled with the host's real upstreams.
    assert ("microk8s", "disable", "dns") in run.runner.calls
    assert ("microk8s", "enable", "dns:10.0.0.2,10.0.0.3") in run.runner.calls
    assert cluster.forwarders == ["10.0.0.2", "10.0.0.3"]
    values_file = tmp_path / "state" / "jupyterhub-values.yaml"
    assert values_file.stat().st_mode & 0o777 == 0o600
    assert cluster.releases["jupyterhub"]["chart"] == "jupyterhub-4.2.0"
    assert run.ctx.results.hub_url == "http://10.0.0.5:30080/"


def test_second_run_skips_everything(tmp_path: Path, host: Path) -> None:
    """Re-running on the same host changes nothing: every step reports skipped except the URL report."""
    profile = profile_from("cpu.yaml", make_bundle(tmp_path))
    cluster = FakeCluster()
    first = run_install(profile, cluster, host, tmp_path / "state")
    assert first.result.ok

    second = run_install(profile, cluster, host, tmp_path / "state")
    statuses = second.statuses()
    assert second.result.ok
    assert {s for i, s in statuses.items() if i != "jupyterhub.url"} == {"skipped"}
    assert statuses["jupyterhub.url"] == "ok"
    mutating = [c for c in second.runner.calls
                if c[:2] != ("snap", "list") and "get" not in c and "list" not in c and "status" not in c[:2]]
    assert mutating == [], mutating


def test_installed_host_skips_everything_even_without_a_journal(tmp_path: Path, host: Path) -> None:
    """The host's truth decides: a cluster installed by an earlier run (journal lost) is all skipped."""
    profile = profile_from("cpu.yaml", make_bundle(tmp_path))
    cluster = FakeCluster()
    run_install(profile, cluster, host, tmp_path / "first-state")

    again = run_install(profile, cluster, host, tmp_path / "fresh-state")
    statuses = again.statuses()
    # The image checks read the bundle, not the host: without a journal they run again (and change nothing).
    assert statuses.pop("jupyterhub.image-checks") == "ok"
    assert {s for i, s in statuses.items() if i != "jupyterhub.url"} == {"skipped"}


def test_changed_profile_upgrades_the_release(tmp_path: Path, host: Path) -> None:
    """A new storage size is a values change: the hub release is upgraded, nothing else runs."""
    bundle = make_bundle(tmp_path)
    profile = profile_from("cpu.yaml", bundle)
    cluster = FakeCluster()
    run_install(profile, cluster, host, tmp_path / "state")
    bigger = profile.model_copy(deep=True)
    bigger.jupyterhub.storage.size = "20Gi"

    again = run_install(bigger, cluster, host, tmp_path / "state")
    statuses = again.statuses()
    assert statuses["jupyterhub.install"] == "ok"
    assert statuses["microk8s.dns"] == "skipped"
    assert cluster.releases["jupyterhub"]["revision"] == 2
    assert cluster.releases["jupyterhub"]["values"]["singleuser"]["storage"]["capacity"] == "20Gi"


def test_gpu_host_with_driver_uses_it(tmp_path: Path) -> None:
    """Eight H100 with driver 550: driver container off, MicroK8s toolkit settings, wait sees 8 GPUs."""
    host = tmp_path / "host"
    eight_h100(host).write("/etc/resolv.conf", "nameserver 10.0.0.2\n")
    profile = profile_from("gpu.yaml", make_bundle(tmp_path, gpu=True))
    cluster = FakeCluster()
    run = run_install(profile, cluster, host, tmp_path / "state")

    assert run.result.ok, run.result.error
    values = cluster.releases["gpu-operator"]["values"]
    assert values["driver"] == {"enabled": False}
    env = {e["name"]: e["value"] for e in values["toolkit"]["env"]}
    assert env["CONTAINERD_SOCKET"] == "/var/snap/microk8s/common/run/containerd.sock"
    assert env["RUNTIME_CONFIG_SOURCE"] == "file=/var/snap/microk8s/current/args/containerd.toml"
    assert cluster.releases["gpu-operator"]["namespace"] == "gpu-operator-resources"
    assert any("8 × nvidia.com/gpu" in e.message for e in run.sink.of(LogLine))
    order = list(run.statuses())
    assert order.index("gpu-operator.wait") < order.index("jupyterhub.install")
    hub = cluster.releases["jupyterhub"]["values"]
    gpu_entry = next(p for p in hub["singleuser"]["profileList"] if p["slug"] == "pytorch-gpu")
    assert gpu_entry["kubespawner_override"]["extra_resource_limits"] == {"nvidia.com/gpu": "1"}


def test_gpu_host_without_driver_runs_the_driver_container_and_warns(tmp_path: Path) -> None:
    """No host driver: the operator's driver is enabled and pinned, with a warning about OS packages."""
    host = tmp_path / "host"
    gpus_without_driver(host).write("/etc/resolv.conf", "nameserver 10.0.0.2\n")
    profile = profile_from("gpu.yaml", make_bundle(tmp_path, gpu=True))
    cluster = FakeCluster()
    run = run_install(profile, cluster, host, tmp_path / "state")

    assert run.result.ok, run.result.error
    driver = cluster.releases["gpu-operator"]["values"]["driver"]
    assert driver["enabled"] is True
    assert driver["imagePullPolicy"] == "IfNotPresent"
    assert driver["version"] == "580.82.07"
    warnings = [e.message for e in run.sink.of(LogLine) if e.level == "warning"]
    assert any("no host NVIDIA driver" in w for w in warnings)


def test_gpu_wait_times_out_with_a_hint(tmp_path: Path) -> None:
    """A node that never advertises GPUs fails the wait step with what to look at; the hub is not installed."""
    host = tmp_path / "host"
    eight_h100(host).write("/etc/resolv.conf", "nameserver 10.0.0.2\n")
    profile = profile_from("gpu.yaml", make_bundle(tmp_path, gpu=True))
    cluster = FakeCluster(gpus_when_operator=0)
    clock = iter(range(0, 100_000, 100))
    redactor = Redactor(profile.secrets())
    sink = CollectingSink()
    runner = cluster.runner(redactor)
    ctx = StepContext(runner=runner, files=FileWriter(sink, redactor), sink=sink, profile=profile,
                      state_dir=tmp_path / "state", host_root=host)
    ctx.facts = probe_host(RecordingRunner(), host, profile.bundle_dir())
    plan = build_plan(profile, PlanOptions(preflight=False, import_images=False, poll_interval=0.0, check=False))
    for step in plan.steps:
        if step.id == "gpu-operator.wait":
            step.clock = lambda: float(next(clock))  # type: ignore[attr-defined]
    result = run_plan(plan, ctx, Journal(None))

    assert result.status == "failed"
    assert result.error is not None and "nvidia.com/gpu" in result.error.message
    assert "feature.node.kubernetes.io/pci-10de.present" in result.error.hint
    assert "jupyterhub" not in cluster.releases


def test_infiniband_host_gets_rdma_plugin_and_limits(tmp_path: Path) -> None:
    """GPU + InfiniBand: the plugin's selectors name ib0 (the active port) and the hub offers rdma/... limits."""
    host = tmp_path / "host"
    gpu_and_infiniband(host).write("/etc/resolv.conf", "nameserver 10.0.0.2\n")
    profile = profile_from("gpu-rdma.yaml", make_bundle(tmp_path, gpu=True))
    cluster = FakeCluster()
    run = run_install(profile, cluster, host, tmp_path / "state")

    assert run.result.ok, run.result.error
    manifest = list(yaml.safe_load_all((tmp_path / "state" / "rdma-shared-dev-plugin.yaml").read_text()))
    config = json.loads(manifest[0]["data"]["config.json"])
    assert config["configList"][0]["selectors"] == {"vendors": ["15b3"], "ifNames": ["ib0"],
                                                    "linkTypes": ["infiniband"]}
    assert manifest[1]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":v1.5.3")
    assert run.statuses()["rdma.wait"] == "ok"
    hub = cluster.releases["jupyterhub"]["values"]
    rdma_entry = next(p for p in hub["singleuser"]["profileList"] if p["slug"] == "pytorch-multi-gpu-rdma")
    override = rdma_entry["kubespawner_override"]
    assert override["extra_resource_limits"] == {"nvidia.com/gpu": "4", "rdma/hca_shared_devices_a": "1"}
    assert "container_security_context" not in override  # IPC_LOCK does nothing for uid 1000
    env = host / "var/snap/microk8s/current/args/containerd-env"
    assert "ulimit -l unlimited" in env.read_text() and "16384" not in env.read_text()
    assert run.statuses()["rdma.memlock"] == "ok"

    again = run_install(profile, cluster, host, tmp_path / "state")
    assert again.statuses()["rdma.plugin"] == "skipped"
    assert again.statuses()["rdma.memlock"] == "skipped"


def test_failure_in_the_middle_then_resume(tmp_path: Path) -> None:
    """The GPU Operator install fails once: later steps do not run; the re-run skips what is done and finishes."""
    host = tmp_path / "host"
    eight_h100(host).write("/etc/resolv.conf", "nameserver 10.0.0.2\n")
    profile = profile_from("gpu.yaml", make_bundle(tmp_path, gpu=True))
    cluster = FakeCluster(fail={"helm-gpu-operator"})
    state = tmp_path / "state"

    first = run_install(profile, cluster, host, state)
    assert first.result.status == "failed"
    assert "UPGRADE FAILED" in first.result.error.message  # type: ignore[union-attr]
    outcomes = {o.step_id: o.status for o in first.result.outcomes}
    assert outcomes["gpu-operator.install"] == "failed"
    assert outcomes["jupyterhub.install"] == "not_run"
    journal = json.loads((state / "journal.json").read_text())["steps"]
    assert "microk8s.snaps" in journal and "gpu-operator.install" not in journal

    second = run_install(profile, cluster, host, state)
    statuses = second.statuses()
    assert second.result.ok, second.result.error
    assert statuses["microk8s.snaps"] == statuses["microk8s.dns"] == "skipped"
    assert statuses["gpu-operator.install"] == "ok"
    assert statuses["jupyterhub.install"] == "ok"
    assert not second.runner.ran("snap", "install")


def test_dummy_password_stays_out_of_events(tmp_path: Path, host: Path) -> None:
    """The shared password is in the 0600 values file, and masked in every event and command output."""
    profile = profile_from("cpu.yaml", make_bundle(tmp_path))
    profile = Profile.model_validate({**profile.model_dump(exclude={"source"}),
                                      "jupyterhub": {**profile.jupyterhub.model_dump(),
                                                     "auth": {"type": "dummy", "password": PASSWORD}}})
    cluster = FakeCluster()
    run = run_install(profile, cluster, host, tmp_path / "state")

    assert run.result.ok, run.result.error
    assert PASSWORD in (tmp_path / "state" / "jupyterhub-values.yaml").read_text()
    assert PASSWORD not in json.dumps([e.to_dict() for e in run.sink.events], default=str)
    assert cluster.releases["jupyterhub"]["values"]["hub"]["config"]["DummyAuthenticator"]["password"] == PASSWORD
    again = run_install(profile, cluster, host, tmp_path / "state")
    assert again.statuses()["jupyterhub.install"] == "skipped"  # compared through the same mask


def test_plan_order_with_image_import(tmp_path: Path) -> None:
    """The import follows the snaps and precedes wait-ready (the node is Ready only with calico/cni and pause
    imported: issue 11 fix 1) and the addons, and imports only the enabled components."""
    profile = profile_from("gpu.yaml", make_bundle(tmp_path, gpu=True))
    plan = build_plan(profile, PlanOptions(jobs=3))
    ids = [s.id for s in plan.steps]
    assert ids[:3] == ["preflight", "bundle-check", "jupyterhub.image-checks"]
    assert ids.index("microk8s.snaps") < ids.index("import-images") < ids.index("microk8s.default-route") \
        < ids.index("microk8s.wait-ready") < ids.index("microk8s.dns") < ids.index("gpu-operator.install") \
        < ids.index("jupyterhub.install")
    step = plan.steps[ids.index("import-images")]
    assert step.components == ("microk8s", "jupyterhub", "gpu_operator")  # type: ignore[attr-defined]
    assert step.jobs == 3  # type: ignore[attr-defined]


def test_install_plan_accepts_the_session_options(tmp_path: Path) -> None:
    """The session's InstallOptions decide the profile, bundle, socket and jobs of the plan."""
    from installer.install_run import InstallOptions, install_plan

    profile = profile_from("cpu.yaml", make_bundle(tmp_path))
    options = InstallOptions(profile=profile, dry_run=True, bundle_dir=tmp_path / "other", jobs=4,
                             containerd_socket=tmp_path / "ctr.sock")
    plan = install_plan(options)
    snaps = next(s for s in plan.steps if s.id == "microk8s.snaps")
    assert snaps.bundle_dir == tmp_path / "other"  # type: ignore[attr-defined]
    imports = next(s for s in plan.steps if s.id == "import-images")
    assert imports.socket == tmp_path / "ctr.sock" and imports.jobs == 4  # type: ignore[attr-defined]
