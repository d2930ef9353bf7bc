"""Every shipped profile, installed for real against the MicroK8s twin.

The session and plan are the product's (``run_install``, or the CLI as a process for
the kill); the commands go through the RealRunner to the twin's executables; images
go into the fixtures' real containerd; charts are rendered by a real helm. What is
checked is what the operator sees: the hub URL, every step skipped on a re-run, a
kill that a re-run finishes, and a missing image named before anything is touched.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import FakeHost, base_host, eight_h100, gpu_and_infiniband
from twin.charts import build_bundle
from twin.fixture import Twin

from installer.bundle.requirements import component_needs
from installer.config.profile import Profile, load_profile
from installer.engine.events import Event
from installer.engine.runner import RunResult
from installer.install_run import InstallOptions, run_install

pytestmark = [pytest.mark.containerd,
              pytest.mark.skipif(os.geteuid() != 0, reason="a real install runs as root only")]

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "install_child.py"
ALWAYS_RUN = {"preflight", "bundle-check", "jupyterhub.url", "check"}
"""Steps that run on every run by design (they check or report; they change nothing)."""


def _gpu_rdma_host(root: Path) -> FakeHost:
    return gpu_and_infiniband(root)


PROFILES: dict[str, Callable[[Path], FakeHost]] = {"cpu": base_host, "gpu": eight_h100, "gpu-rdma": _gpu_rdma_host}


def _profiles(**marks: Any) -> list[Any]:
    """The shipped profiles as parameters, with a mark on some."""
    return [pytest.param(name, marks=marks.get(name.replace("-", "_"), ())) for name in PROFILES]


class Events:
    """Collects the run's events."""

    def __init__(self) -> None:
        self.items: list[Event] = []

    def emit(self, event: Event) -> None:
        self.items.append(event)

    def close(self) -> None:
        pass

    def steps(self) -> dict[str, str]:
        """step id -> status of its last StepFinished."""
        return {e.step_id: e.status for e in self.items if type(e).__name__ == "StepFinished"}  # type: ignore[attr-defined]

    def logs(self) -> list[str]:
        return [e.message for e in self.items if type(e).__name__ == "LogLine"]  # type: ignore[attr-defined]


def write_profile(name: str, path: Path, bundle: Path) -> Path:
    """The shipped profile pointed at ``bundle``, with the shortest waits the schema allows."""
    data = yaml.safe_load((REPO / "profiles" / f"{name}.yaml").read_text())
    data["bundle"] = str(bundle)
    data["jupyterhub"]["ready_timeout"] = 30
    if data.get("gpu_operator", {}).get("enabled"):
        data["gpu_operator"]["wait_timeout"] = 60
    if data.get("rdma", {}).get("enabled"):
        data["rdma"]["wait_timeout"] = 30
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path, clean_containerd: Any,
         monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A twin on the profile's host (GPUs, InfiniBand), the profile and its bundle."""
    from twin.fixture import make_twin, use_twin

    name = request.param
    twin = make_twin(tmp_path, clean_containerd, PROFILES[name])
    use_twin(monkeypatch, twin)
    bundle = tmp_path / "offline-images"
    profile_path = write_profile(name, tmp_path / f"{name}.yaml", bundle)
    profile = load_profile(profile_path)
    build_bundle(bundle, profile, leave_out=getattr(request, "leave_out", ()))
    return {"name": name, "twin": twin, "profile": profile, "profile_path": profile_path, "bundle": bundle,
            "state": tmp_path / "state", "tmp": tmp_path}


def install(site: dict[str, Any], profile: Profile | None = None, *, check: bool = True) -> tuple[RunResult, Events]:
    """One run of the real session against the twin (ending with the acceptance check unless ``check`` is off)."""
    events = Events()
    twin: Twin = site["twin"]
    options = InstallOptions(profile=profile or site["profile"], state_dir=site["state"], host_root=twin.host.root,
                             bundle_dir=site["bundle"], containerd_socket=twin.containerd.socket,
                             namespace=twin.containerd.namespace, check=check)
    return run_install(options, events), events


def hub_url(events: Events) -> str | None:
    """The URL the last step announced."""
    return next((m.split(" is at ", 1)[1] for m in events.logs() if m.startswith("JupyterHub is at ")), None)


def assert_hub_up(twin: Twin) -> None:
    """The hub answers through the proxy (asked of the twin directly, not through the installer)."""
    done = twin.run("microk8s", "kubectl", "get", "--raw",
                    "/api/v1/namespaces/jupyterhub/services/proxy-public:http/proxy/hub/health")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("site", _profiles(), indirect=True)
def test_fresh_host_installs_to_the_hub_url(site: dict[str, Any]) -> None:
    """A host without MicroK8s: the whole install runs and ends with the hub's URL."""
    result, events = install(site)
    assert result.ok, (result.error, result.results.check)
    assert hub_url(events) == f"http://{site['twin'].config.node_ip}:30080/"
    assert_hub_up(site["twin"])
    check = result.results.check  # issue 14: the install ends with the acceptance check, every entry probed
    assert check is not None and check["ok"] and check["entries"], check
    probes = {p["name"]: p["found"] for e in check["entries"] for p in e["probes"]}
    assert probes["server"].startswith("GET /user/acceptance-check/check-") and probes["server"].endswith(": HTTP 200")
    if any(i.rdma for i in site["profile"].jupyterhub.images if i.enabled):
        assert re.fullmatch(r"ibv_devinfo: [1-9]\d* of \d+ port\(s\) active", probes["rdma port"]), probes
    if site["profile"].rdma.enabled:  # issue 11 item 4: NCCL needs unlimited locked memory in the pods
        memlock = site["twin"].run("microk8s", "kubectl", "run", "memlock", "--image=registry.k8s.io/pause:3.10",
                                   "--restart=Never", "--rm", "-i", "--", "sh", "-c", "ulimit -l")
        assert memlock.stdout.strip() == "unlimited", memlock
        assert not [m for m in events.logs() if "still locks" in m], events.logs()


@pytest.mark.parametrize("site", _profiles(), indirect=True)
def test_rerun_skips_every_install_step(site: dict[str, Any]) -> None:
    """Run again on the installed host: nothing is done twice, the URL is shown again."""
    first, _ = install(site)
    assert first.ok, first.error
    again, events = install(site)
    assert again.ok, again.error
    steps = events.steps()
    assert {s for s, status in steps.items() if status != "skipped"} == ALWAYS_RUN, steps
    assert hub_url(events) is not None


@pytest.mark.parametrize("site", _profiles(), indirect=True)
def test_kill_during_helm_then_rerun_finishes(site: dict[str, Any]) -> None:
    """SIGKILL the installer (a process, as the operator runs it) while Helm installs a release.

    The release is left ``pending-install`` exactly as a killed Helm leaves it; the re-run
    clears it and finishes with the hub's URL.
    """
    twin: Twin = site["twin"]
    twin.configure(helm_delay=60.0)
    argv = [sys.executable, str(CHILD), str(twin.containerd.socket), "--", "--profile", str(site["profile_path"]),
            "--yes", "--state-dir", str(site["state"]), "--host-root", str(twin.host.root),
            "--log-file", str(site["tmp"] / "install.log"), "--output", "jsonl"]
    out = (site["tmp"] / "child.out").open("w")  # a file, not a pipe: nobody reads it while the child runs
    proc = subprocess.Popen(argv, cwd=REPO, env=twin.env(), stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        from tests.faults.support import wait_for

        wait_for(lambda: any(h[-1]["status"] == "pending-install" for h in twin.state()["releases"].values())
                 or proc.poll() is not None, "Helm to start installing a release")
        assert proc.poll() is None, (site["tmp"] / "child.out").read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
    pending = [k for k, h in twin.state()["releases"].items() if h[-1]["status"] == "pending-install"]
    assert pending, "the kill did not leave a release pending"
    twin.configure(helm_delay=0.0)
    result, events = install(site)
    assert result.ok, (result.error, events.steps())
    assert any("interrupted run" in m for m in events.logs()), events.logs()
    assert all(h[-1]["status"] == "deployed" for h in twin.state()["releases"].values())
    assert hub_url(events) is not None
    assert_hub_up(twin)


MISSING = {"cpu": ("microk8s", "/calico/cni:"), "gpu": ("gpu_operator", "/container-toolkit:"),
           "gpu-rdma": ("rdma", "k8s-rdma-shared-dev-plugin")}
"""Per profile, one image removed from the bundle: a base image, the GPU toolkit, the RDMA plugin."""


@pytest.mark.parametrize("name", list(PROFILES))
def test_missing_bundle_image_stops_first_naming_it(name: str, tmp_path: Path, clean_containerd: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """One image missing from the bundle: the run stops at the bundle check, names it, changes nothing."""
    from twin.fixture import make_twin, use_twin

    twin = make_twin(tmp_path, clean_containerd, PROFILES[name])
    use_twin(monkeypatch, twin)
    bundle = tmp_path / "offline-images"
    profile = load_profile(write_profile(name, tmp_path / f"{name}.yaml", bundle))
    component, part = MISSING[name]
    ref = next(r for r in component_needs(profile, component).images if part in r)
    build_bundle(bundle, profile, leave_out=(ref,))
    site = {"twin": twin, "profile": profile, "bundle": bundle, "state": tmp_path / "state"}
    result, events = install(site)
    assert result.exit_code == 2, (result.error, events.steps())
    failed = [s for s, status in events.steps().items() if status == "failed"]
    assert failed == ["bundle-check"]
    assert result.error is not None and ref in result.error.message
    assert twin.state()["snaps"] == {}, "the host was changed before the missing image was named"
    assert clean_containerd.images() == []


def test_fresh_host_gets_past_wait_ready(twin: Twin, tmp_path: Path) -> None:
    """Issue 11 fix 1: on a fresh host the images are imported before waiting for a Ready node.

    MicroK8s's node is Ready only once calico/cni and pause are in containerd; waiting
    first timed out (600 s on a real host), on every run.
    """
    bundle = tmp_path / "offline-images"
    profile = load_profile(write_profile("cpu", tmp_path / "cpu.yaml", bundle))
    build_bundle(bundle, profile)
    site = {"twin": twin, "profile": profile, "bundle": bundle, "state": tmp_path / "state"}
    result, events = install(site)
    assert events.steps().get("microk8s.wait-ready") in ("ok", "skipped"), result.error
    steps = list(events.steps())
    assert steps.index("import-images") < steps.index("microk8s.wait-ready"), steps
    assert result.ok, result.error
    node = json.loads(twin.run("microk8s", "kubectl", "get", "nodes", "-o", "json").stdout)["items"][0]
    assert node["status"]["conditions"][0]["status"] == "True"


def test_channel_1_30_renders_the_hub_for_the_clusters_version(tmp_path: Path, clean_containerd: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """MicroK8s 1.30's helm (v3.9.1) assumes Kubernetes v1.24.0 without ``--kube-version``.

    z2jh 4.2.0 requires >=1.28, so rendering without the cluster's version stopped every
    1.30 install at the hub's image check.
    """
    from twin.fixture import make_twin, use_twin

    twin = make_twin(tmp_path, clean_containerd, channel="1.30")
    use_twin(monkeypatch, twin)
    bundle = tmp_path / "offline-images"
    path = write_profile("cpu", tmp_path / "cpu.yaml", bundle)
    data = yaml.safe_load(path.read_text())
    data["microk8s"]["channel"] = "1.30"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    profile = load_profile(path)
    build_bundle(bundle, profile)
    result, events = install({"twin": twin, "profile": profile, "bundle": bundle, "state": tmp_path / "state"})
    assert result.ok, (result.error, events.steps())
    assert hub_url(events) is not None


# --- hosts where upstream says the install fails (fixed by other issue 11 items) ----------------


def _site_on(tmp_path: Path, containerd: Any, monkeypatch: pytest.MonkeyPatch, name: str,
             host: Callable[[Path], FakeHost]) -> dict[str, Any]:
    from twin.fixture import make_twin, use_twin

    twin = make_twin(tmp_path, containerd, host)
    use_twin(monkeypatch, twin)
    bundle = tmp_path / "offline-images"
    profile = load_profile(write_profile(name, tmp_path / f"{name}.yaml", bundle))
    build_bundle(bundle, profile)
    return {"twin": twin, "profile": profile, "bundle": bundle, "state": tmp_path / "state"}


def test_leftover_kubelet_folder_is_moved_aside_on_the_host(tmp_path: Path, clean_containerd: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A host with a real /var/lib/kubelet folder: it is moved aside and linked, in the host tree."""
    site = _site_on(tmp_path, clean_containerd, monkeypatch, "cpu", lambda root: base_host(root).kubelet_dir(real=True))
    result, events = install(site)
    assert result.ok, (result.error, events.steps())
    kubelet = site["twin"].host.path("/var/lib/kubelet")
    assert os.readlink(kubelet).endswith("var/snap/microk8s/common/var/lib/kubelet")
    assert site["twin"].host.path("/var/lib/kubelet.before-microk8s/pods").is_dir()


def test_host_without_any_dns_server_installs_without_google_dns(tmp_path: Path, clean_containerd: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """resolv.conf names only the local stub and the profile no server: the hub still installs, CoreDNS
    answers cluster.local by itself and forwards nowhere (certainly not to 8.8.8.8)."""
    site = _site_on(tmp_path, clean_containerd, monkeypatch, "cpu", base_host)
    site["twin"].host.write("/etc/resolv.conf", "nameserver 127.0.0.53\n")
    result, events = install(site)
    assert result.ok, (result.error, events.steps())
    corefile = json.loads(site["twin"].run("microk8s", "kubectl", "-n", "kube-system", "get", "configmap", "coredns",
                                           "-o", "json").stdout)["data"]["Corefile"]
    assert "8.8.8.8" not in corefile
    assert hub_url(events) is not None


def test_gpu_host_with_a_containerd_binary_never_ends_with_a_dead_node(tmp_path: Path, clean_containerd: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """docker.io/containerd installed on the GPU server: preflight stops naming it, or the node stays Ready."""
    site = _site_on(tmp_path, clean_containerd, monkeypatch, "gpu",
                    lambda root: eight_h100(root).write("/usr/bin/containerd", ""))
    result, events = install(site)
    if result.exit_code == 3:
        assert result.error is not None and "containerd" in result.error.message
        assert site["twin"].state()["snaps"] == {}
        return
    assert result.ok, (result.error, events.steps())
    node = json.loads(site["twin"].run("microk8s", "kubectl", "get", "nodes", "-o", "json").stdout)["items"][0]
    assert node["status"]["conditions"][0]["status"] == "True", node["status"]["conditions"]


def test_mig_host_keeps_its_mig_layout(tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An A100 with MIG on: after the install its GPU still has MIG on (the admin's layout is kept)."""
    from fakehost import a100_mig

    site = _site_on(tmp_path, clean_containerd, monkeypatch, "gpu", a100_mig)
    result, events = install(site)
    assert result.ok, (result.error, events.steps())
    assert site["twin"].host.path("/.installer/nvidia-smi.csv").read_text().rstrip().endswith(", Enabled")
