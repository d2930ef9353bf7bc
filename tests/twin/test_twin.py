"""The twin's upstream rules, one test each, through its executables and the real containerd.

These pin what the twin says MicroK8s, Helm, the GPU toolkit and the RDMA plugin do
(sources in the twin's comments and docs/upstream-facts.md), so a change that makes
the twin agree with a wrong belief fails here first.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import base_host, eight_h100
from imagegen import make_image_archive
from twin.charts import gpu_operator_chart, jupyterhub_chart
from twin.fixture import BIN, Twin, make_twin

from installer.components.gpu_operator.settings import GpuOperatorSettings
from installer.components.gpu_operator.values import gpu_operator_values, known_images

pytestmark = pytest.mark.containerd

CNI, PAUSE, COREDNS = "docker.io/calico/cni:v3.28.1", "registry.k8s.io/pause:3.10", "docker.io/coredns/coredns:1.10.1"
HOSTPATH, BUSYBOX = "docker.io/cdkbot/hostpath-provisioner:1.5.0", "docker.io/library/busybox:1.28.4"
HEALTH = "/api/v1/namespaces/jupyterhub/services/proxy-public:http/proxy/hub/health"


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """stdout of a command that must succeed."""
    assert done.returncode == 0, (done.args, done.stdout, done.stderr)
    return done.stdout


def install_microk8s(twin: Twin) -> None:
    """snapd's order: ack each assertion, core20, then microk8s --classic."""
    for name in ("core20", "microk8s"):
        ok(twin.run("snap", "ack", f"/b/snaps/{name}_1.assert"))
    ok(twin.run("snap", "install", "/b/snaps/core20_1.snap"))
    ok(twin.run("snap", "install", "/b/snaps/microk8s_1.snap", "--classic"))


def load(twin: Twin, tmp_path: Path, *refs: str) -> None:
    """Import images through ``microk8s ctr`` (the wrapper's socket, namespace and snapshotter)."""
    for n, ref in enumerate(refs):
        path = tmp_path / f"img-{abs(hash(ref))}.tar"
        make_image_archive(path, ref, seed=n + 7, size=2048)
        ok(twin.run("microk8s", "ctr", "images", "import", str(path)))


def node(twin: Twin) -> dict[str, Any]:
    """The node as the API returns it."""
    return json.loads(ok(twin.run("microk8s", "kubectl", "get", "nodes", "-o", "json")))["items"][0]  # type: ignore[no-any-return]


def pod(twin: Twin, namespace: str, owner: str) -> dict[str, Any]:
    """The pod of one workload."""
    items = json.loads(ok(twin.run("microk8s", "kubectl", "-n", namespace, "get", "pods", "-o", "json")))["items"]
    return next(p for p in items if p["metadata"]["ownerReferences"][0]["name"] == owner)


def waiting_reason(p: dict[str, Any]) -> str:
    return p["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason", "")


def apply(twin: Twin, tmp_path: Path, *docs: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"apply-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return twin.run("microk8s", "kubectl", "apply", "-f", str(path))


def test_microk8s_absent_until_installed_and_snapd_rules(twin: Twin) -> None:
    """No snap, no command; a local snap needs its acked assertion, core20 first, and --classic."""
    assert twin.run("microk8s", "status").returncode == 127
    assert "no matching snaps" in twin.run("snap", "list", "microk8s").stderr
    assert "cannot find signatures" in twin.run("snap", "install", "/b/snaps/microk8s_1.snap", "--classic").stderr
    ok(twin.run("snap", "ack", "/b/snaps/microk8s_1.assert"))
    assert 'cannot install snap base "core20"' in twin.run("snap", "install", "/b/snaps/microk8s_1.snap",
                                                            "--classic").stderr
    install_microk8s(twin)
    ok(twin.run("snap", "ack", "/b/snaps/microk8s_2.assert"))
    assert "--classic" in twin.run("snap", "install", "/b/snaps/microk8s_2.snap").stderr
    assert " 1 " in ok(twin.run("snap", "list", "microk8s"))


def test_install_lays_out_upstream_files(twin: Twin) -> None:
    """containerd-env limits memlock to 16 MiB; the template names pause:3.10; /var/lib/kubelet is linked."""
    install_microk8s(twin)
    assert "ulimit -l 16384" in twin.host.path("/var/snap/microk8s/current/args/containerd-env").read_text()
    template = twin.host.path("/var/snap/microk8s/current/args/containerd-template.toml").read_text()
    assert 'sandbox_image = "registry.k8s.io/pause:3.10"' in template
    assert os.readlink(twin.host.path("/var/lib/kubelet")) == "/var/snap/microk8s/common/var/lib/kubelet"


def test_existing_kubelet_folder_is_left_as_it_is(tmp_path: Path, clean_containerd: Any) -> None:
    """The install hook links /var/lib/kubelet only when it does not exist."""
    made = make_twin(tmp_path, clean_containerd, lambda root: base_host(root).kubelet_dir(real=True))
    install_microk8s(made)
    kubelet = made.host.path("/var/lib/kubelet")
    assert kubelet.is_dir() and not kubelet.is_symlink()


def test_node_ready_only_with_cni_and_pause_images(twin: Twin, tmp_path: Path) -> None:
    """Fresh install: NotReady (cni not initialised), and --wait-ready times out as upstream does."""
    install_microk8s(twin)
    status = twin.run("microk8s", "status", "--format", "yaml")
    assert status.returncode == 1
    parsed = yaml.safe_load(status.stdout)
    assert parsed["microk8s"]["running"] is False
    assert "microk8s is not running" in parsed["high-availability"]["message"]
    waited = twin.run("microk8s", "status", "--wait-ready", "--timeout", "30")
    assert waited.returncode == 1 and "microk8s is not running. Use microk8s inspect" in waited.stdout
    assert "cni plugin not initialized" in node(twin)["status"]["conditions"][0]["message"]
    load(twin, tmp_path, CNI)
    assert "sandbox image" in node(twin)["status"]["conditions"][0]["message"]
    load(twin, tmp_path, PAUSE)
    ok(twin.run("microk8s", "status", "--wait-ready", "--timeout", "30"))
    assert node(twin)["status"]["conditions"][0]["status"] == "True"


def test_no_default_route_no_api_until_one_is_added(tmp_path: Path, clean_containerd: Any) -> None:
    """Without a default route the API never comes up; the link-scope route the installer adds fixes it."""
    made = make_twin(tmp_path, clean_containerd, lambda root: base_host(root).routes(default=False))
    install_microk8s(made)
    assert "connection to the server" in made.run("microk8s", "kubectl", "get", "nodes").stderr
    ok(made.run("ip", "route", "add", "default", "dev", "eno1", "scope", "link"))
    ok(made.run("microk8s", "kubectl", "get", "nodes"))


def test_launch_config_enables_dns_whose_pod_needs_its_image(twin: Twin, tmp_path: Path) -> None:
    """dns is on from the first start, forwarding to resolv.conf; status calls it enabled though its pod cannot pull."""
    install_microk8s(twin)
    load(twin, tmp_path, CNI, PAUSE)
    status = yaml.safe_load(ok(twin.run("microk8s", "status", "--format", "yaml")))
    dns = next(a for a in status["addons"] if a["name"] == "dns")
    assert {"name": "dns", "status": "enabled"}.items() <= dns.items()
    assert waiting_reason(pod(twin, "kube-system", "coredns")) == "ImagePullBackOff"
    corefile = json.loads(ok(twin.run("microk8s", "kubectl", "-n", "kube-system", "get", "configmap", "coredns",
                                      "-o", "json")))["data"]["Corefile"]
    assert "forward . /etc/resolv.conf" in corefile
    load(twin, tmp_path, COREDNS)
    assert pod(twin, "kube-system", "coredns")["status"]["phase"] == "Running"


def test_dns_without_any_host_server_falls_back_to_google(tmp_path: Path, clean_containerd: Any) -> None:
    """core-addons dns/enable: no non-loopback nameserver on the host means 8.8.8.8 8.8.4.4."""
    made = make_twin(tmp_path, clean_containerd)
    made.host.write("/etc/resolv.conf", "nameserver 127.0.0.53\n")
    install_microk8s(made)
    corefile = json.loads(ok(made.run("microk8s", "kubectl", "-n", "kube-system", "get", "configmap", "coredns",
                                      "-o", "json")))["data"]["Corefile"]
    assert "forward . 8.8.8.8 8.8.4.4" in corefile


def test_reenabling_dns_restarts_the_api(twin: Twin, tmp_path: Path) -> None:
    """disable returns with the API up; enable dns:IP restarts kubelite and returns at once: refused for a while."""
    install_microk8s(twin)
    load(twin, tmp_path, CNI, PAUSE)
    twin.configure(time_scale=0.3)  # a 4.5 s restart: the next command surely lands inside it
    ok(twin.run("microk8s", "disable", "dns"))
    ok(twin.run("microk8s", "kubectl", "get", "nodes"))
    assert "Restarting kubelet" in ok(twin.run("microk8s", "enable", "dns:10.0.0.2"))
    refused = twin.run("microk8s", "kubectl", "get", "nodes")
    assert refused.returncode == 1 and "connection to the server" in refused.stderr and "refused" in refused.stderr
    ok(twin.run("microk8s", "status", "--wait-ready"))  # no timeout: until kubelite is back
    corefile = json.loads(ok(twin.run("microk8s", "kubectl", "-n", "kube-system", "get", "configmap", "coredns",
                                      "-o", "json")))["data"]["Corefile"]
    assert "forward . 10.0.0.2" in corefile


def test_hostpath_volume_binds_only_with_provisioner_and_busybox(twin: Twin, tmp_path: Path) -> None:
    """The claim stays unbound until the provisioner runs AND its busybox helper image is there."""
    install_microk8s(twin)
    load(twin, tmp_path, CNI, PAUSE)
    ok(twin.run("microk8s", "enable", "hostpath-storage"))
    ok(apply(twin, tmp_path,
             {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
              "spec": {"storageClassName": "microk8s-hostpath"}},
             {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "user"},
              "spec": {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
                       "containers": [{"name": "c", "image": PAUSE}]}}))
    assert "unbound" in pod(twin, "default", "user")["status"]["message"]
    load(twin, tmp_path, HOSTPATH)
    assert "unbound" in pod(twin, "default", "user")["status"]["message"]
    load(twin, tmp_path, BUSYBOX)
    assert pod(twin, "default", "user")["status"]["phase"] == "Running"


def test_missing_image_is_the_air_gap_failure(twin: Twin, tmp_path: Path) -> None:
    """Not in containerd: ImagePullBackOff (ErrImageNeverPull with pull policy Never); imported: Running."""
    install_microk8s(twin)
    load(twin, tmp_path, CNI, PAUSE)
    ok(apply(twin, tmp_path,
             {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
              "spec": {"containers": [{"name": "c", "image": "quay.io/x/a:1"}]}},
             {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"},
              "spec": {"containers": [{"name": "c", "image": "quay.io/x/a:1", "imagePullPolicy": "Never"}]}}))
    assert waiting_reason(pod(twin, "default", "a")) == "ImagePullBackOff"
    assert waiting_reason(pod(twin, "default", "b")) == "ErrImageNeverPull"
    load(twin, tmp_path, "quay.io/x/a:1")
    assert pod(twin, "default", "a")["status"]["phase"] == "Running"


def test_apply_into_a_missing_namespace_is_refused(twin: Twin, tmp_path: Path) -> None:
    install_microk8s(twin)
    done = apply(twin, tmp_path,
                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "nope"}})
    assert done.returncode == 1 and 'namespaces "nope" not found' in done.stderr


def _hub_values(tmp_path: Path, tag: str = "4.2.0") -> Path:
    path = tmp_path / f"values-{tag}.yaml"
    path.write_text(yaml.safe_dump({"hub": {"image": {"name": "quay.io/jupyterhub/k8s-hub", "tag": tag},
                                            "db": {"pvc": {"storageClassName": "microk8s-hostpath"}}},
                                    "proxy": {"service": {"type": "NodePort", "nodePorts": {"http": 30080}}}}))
    return path


def _ready_cluster(twin: Twin, tmp_path: Path) -> Path:
    install_microk8s(twin)
    load(twin, tmp_path, CNI, PAUSE, COREDNS, HOSTPATH, BUSYBOX)
    ok(twin.run("microk8s", "enable", "hostpath-storage"))
    return jupyterhub_chart(tmp_path / "jupyterhub-4.2.0.tgz")


def _helm(twin: Twin, *args: str) -> subprocess.CompletedProcess[str]:
    return twin.run("microk8s", "helm3", *args)


def test_helm_release_lifecycle(twin: Twin, tmp_path: Path) -> None:
    """install, list, get values, upgrade, history, rollback, uninstall: Helm's answers."""
    chart = _ready_cluster(twin, tmp_path)
    load(twin, tmp_path, "quay.io/jupyterhub/k8s-hub:4.2.0", "quay.io/jupyterhub/configurable-http-proxy:4.6.3")
    assert "does not exist. Installing it now" in ok(_helm(
        twin, "upgrade", "--install", "jupyterhub", str(chart), "--namespace", "jupyterhub", "--create-namespace",
        "--values", str(_hub_values(tmp_path)), "--timeout", "900s"))
    listed = json.loads(ok(_helm(twin, "list", "--namespace", "jupyterhub", "-o", "json")))
    assert [(r["name"], r["status"], r["chart"], r["revision"]) for r in listed] == [
        ("jupyterhub", "deployed", "jupyterhub-4.2.0", "1")]
    assert json.loads(ok(_helm(twin, "get", "values", "jupyterhub", "-n", "jupyterhub", "-o", "json")))["hub"]["image"][
        "tag"] == "4.2.0"
    ok(twin.run("microk8s", "kubectl", "get", "--raw", HEALTH))
    ok(_helm(twin, "upgrade", "--install", "jupyterhub", str(chart), "-n", "jupyterhub",
             "--values", str(_hub_values(tmp_path, "9.9.9"))))
    assert twin.run("microk8s", "kubectl", "get", "--raw", HEALTH).returncode == 1  # hub 9.9.9 cannot pull
    ok(_helm(twin, "rollback", "jupyterhub", "-n", "jupyterhub"))
    history = ok(_helm(twin, "history", "jupyterhub", "-n", "jupyterhub"))
    assert [line.split("\t")[2] for line in history.splitlines()[1:]] == ["superseded", "superseded", "deployed"]
    ok(twin.run("microk8s", "kubectl", "get", "--raw", HEALTH))
    assert "uninstalled" in ok(_helm(twin, "uninstall", "jupyterhub", "-n", "jupyterhub"))
    assert json.loads(ok(_helm(twin, "list", "-n", "jupyterhub", "-o", "json"))) == []


def test_helm_wait_fails_when_a_pod_cannot_start(twin: Twin, tmp_path: Path) -> None:
    """--wait with the hub image missing: exit 1, context deadline exceeded, release failed."""
    chart = _ready_cluster(twin, tmp_path)
    done = _helm(twin, "upgrade", "--install", "jupyterhub", str(chart), "-n", "jupyterhub", "--create-namespace",
                 "--values", str(_hub_values(tmp_path)), "--wait", "--timeout", "60s")
    assert done.returncode == 1 and "INSTALLATION FAILED: context deadline exceeded" in done.stderr
    assert json.loads(ok(_helm(twin, "list", "-n", "jupyterhub", "-o", "json")))[0]["status"] == "failed"
    hub = pod(twin, "jupyterhub", "hub")
    assert waiting_reason(hub) == "ImagePullBackOff" and "k8s-hub:4.2.0" in hub["status"]["message"]


def test_killed_helm_leaves_a_pending_release_that_blocks_upgrades(twin: Twin, tmp_path: Path) -> None:
    """pending-install is hidden from `helm list` without --all, and every upgrade says an operation is in progress."""
    chart = _ready_cluster(twin, tmp_path)
    twin.configure(helm_delay=60.0)
    argv = [str(BIN / "microk8s"), "helm3", "upgrade", "--install", "jupyterhub", str(chart), "-n", "jupyterhub",
            "--create-namespace", "--values", str(_hub_values(tmp_path))]
    proc = subprocess.Popen(argv, env=twin.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not twin.state()["releases"] and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    twin.configure(helm_delay=0.0)
    assert json.loads(ok(_helm(twin, "list", "-n", "jupyterhub", "-o", "json"))) == []
    listed = json.loads(ok(_helm(twin, "list", "-n", "jupyterhub", "--all", "-o", "json")))
    assert listed[0]["status"] == "pending-install"
    again = _helm(twin, "upgrade", "--install", "jupyterhub", str(chart), "-n", "jupyterhub",
                  "--values", str(_hub_values(tmp_path)))
    assert again.returncode == 1 and "another operation (install/upgrade/rollback) is in progress" in again.stderr


RDMA_PLUGIN = "ghcr.io/mellanox/k8s-rdma-shared-dev-plugin:v1.5.3"


def _rdma_objects(hca_max: int, selectors: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    config = {"periodicUpdateInterval": 300, "configList": [
        {"resourceName": "hca_shared_devices_a", "rdmaHcaMax": hca_max,
         "selectors": selectors or {"vendors": ["15b3"]}}]}
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rdma-devices", "namespace": "kube-system"},
             "data": {"config.json": json.dumps(config)}},
            {"apiVersion": "apps/v1", "kind": "DaemonSet",
             "metadata": {"name": "rdma-shared-dp-ds", "namespace": "kube-system"},
             "spec": {"template": {"spec": {"containers": [{"name": "p", "image": RDMA_PLUGIN}]}}}}]


def test_rdma_resource_comes_back_in_the_apis_normalised_form(tmp_path: Path, clean_containerd: Any) -> None:
    """rdmaHcaMax 1000 is advertised as ``1k``, and only while the plugin pod runs."""
    from fakehost import gpu_and_infiniband

    made = make_twin(tmp_path, clean_containerd, gpu_and_infiniband)
    install_microk8s(made)
    load(made, tmp_path, CNI, PAUSE)
    ok(apply(made, tmp_path, *_rdma_objects(1000)))
    assert "rdma/hca_shared_devices_a" not in node(made)["status"]["allocatable"]
    load(made, tmp_path, RDMA_PLUGIN)
    assert node(made)["status"]["allocatable"]["rdma/hca_shared_devices_a"] == "1k"


TEMPLATE_ENV = [{"name": "CONTAINERD_CONFIG", "value": "/var/snap/microk8s/current/args/containerd-template.toml"},
                {"name": "RUNTIME_CONFIG_SOURCE", "value": "file=/var/snap/microk8s/current/args/containerd.toml"}]
"""The toolkit settings the installer had before issue 11: RUNTIME_CONFIG_SOURCE alone."""


def _gpu_cluster(tmp_path: Path, containerd: Any, version: str, *, host_containerd: bool,
                 gpus: Any = eight_h100, node_labels: tuple[str, ...] = (),
                 toolkit_env: list[dict[str, str]] | None = None, mig_manager: bool = False) -> Twin:
    def host(root: Path) -> Any:
        made = gpus(root)
        return made.write("/usr/bin/containerd", "") if host_containerd else made

    made = make_twin(tmp_path, containerd, host)
    install_microk8s(made)
    if node_labels:
        ok(made.run("microk8s", "kubectl", "label", "node", made.config.node_name, *node_labels))
    images = known_images(version)
    load(made, tmp_path, CNI, PAUSE, *sorted(set(images.values())))
    values = gpu_operator_values(GpuOperatorSettings(enabled=True, version=version), host_driver="550.54.15",
                                 images=images)
    if toolkit_env is not None:
        values["toolkit"]["env"] = toolkit_env
    if mig_manager:  # what the installer did before issue 11 item 3, whatever it does now
        repository, _, rest = images["migManager"].rpartition("/")
        image, _, tag = rest.partition(":")
        values["migManager"] = {"enabled": True, "repository": repository, "image": image, "version": tag}
    (tmp_path / "gpu-values.yaml").write_text(yaml.safe_dump(values))
    chart = gpu_operator_chart(tmp_path / f"gpu-operator-{version}.tgz", version)
    ok(made.run("microk8s", "helm3", "upgrade", "--install", "gpu-operator", str(chart), "-n",
                "gpu-operator-resources", "--create-namespace", "--values", str(tmp_path / "gpu-values.yaml")))
    return made


def test_toolkit_v1_17_on_a_host_with_containerd_kills_cri(tmp_path: Path, clean_containerd: Any) -> None:
    """gpu-operator#1367: chart v25.3.4's toolkit dumps the host's containerd config into the template
    (RUNTIME_CONFIG_SOURCE does not exist in toolkit 1.17)."""
    made = _gpu_cluster(tmp_path, clean_containerd, "v25.3.4", host_containerd=True, toolkit_env=TEMPLATE_ENV)
    ready = node(made)["status"]
    template = made.host.path("/var/snap/microk8s/current/args/containerd-template.toml").read_text()
    assert 'disabled_plugins = ["cri"]' in template
    assert ready["conditions"][0]["status"] == "False" and "CRI plugin is disabled" in ready["conditions"][0]["message"]
    assert "nvidia.com/gpu" not in ready["allocatable"]


def test_toolkit_v1_17_with_a_failing_executable_path_reads_the_file(tmp_path: Path, clean_containerd: Any) -> None:
    """RUNTIME_EXECUTABLE_PATH=/bin/false: ``config dump`` fails, LoadFirst falls back to the template file."""
    env = [*TEMPLATE_ENV, {"name": "RUNTIME_EXECUTABLE_PATH", "value": "/bin/false"}]
    made = _gpu_cluster(tmp_path, clean_containerd, "v25.3.4", host_containerd=True, toolkit_env=env)
    template = made.host.path("/var/snap/microk8s/current/args/containerd-template.toml").read_text()
    assert "args/cni-network" in template and "disabled_plugins" not in template
    assert node(made)["status"]["allocatable"]["nvidia.com/gpu"] == "8"


def test_toolkit_v1_18_reads_the_file_source(tmp_path: Path, clean_containerd: Any) -> None:
    """v25.10.1 (toolkit 1.18) honours RUNTIME_CONFIG_SOURCE=file=...: the template keeps CRI, GPUs appear."""
    made = _gpu_cluster(tmp_path, clean_containerd, "v25.10.1", host_containerd=True, toolkit_env=TEMPLATE_ENV)
    status = node(made)["status"]
    template = made.host.path("/var/snap/microk8s/current/args/containerd-template.toml").read_text()
    assert "runtimes.nvidia]" in template and "args/cni-network" in template
    assert status["conditions"][0]["status"] == "True"
    assert status["allocatable"]["nvidia.com/gpu"] == "8"


def test_gpus_appear_only_once_the_operator_runs_its_operands(tmp_path: Path, clean_containerd: Any) -> None:
    """No host containerd: v25.3.4 works; without the device plugin image, no nvidia.com/gpu."""
    made = _gpu_cluster(tmp_path, clean_containerd, "v25.3.4", host_containerd=False)
    assert node(made)["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    plugin = known_images("v25.3.4")["devicePlugin"]
    clean_containerd.ctr("images", "rm", plugin)
    assert "nvidia.com/gpu" not in node(made)["status"]["allocatable"]


def test_ctr_wrapper_uses_the_native_snapshotter_on_zfs(twin: Twin, tmp_path: Path, clean_containerd: Any) -> None:
    """microk8s-ctr.wrapper exports CONTAINERD_SNAPSHOTTER: native on ZFS, overlayfs elsewhere."""
    install_microk8s(twin)
    twin.configure(fs_type="zfs")
    load(twin, tmp_path, "quay.io/x/zfs:1")
    assert clean_containerd.ctr("snapshots", "--snapshotter", "native", "ls").stdout.count("\n") > 1


def test_netplan_generate_refuses_a_changed_device_type(twin: Twin) -> None:
    """A route file naming a bond under ``ethernets`` does not pass ``netplan generate``."""
    twin.host.write("/etc/netplan/01-net.yaml", "network:\n  version: 2\n  bonds:\n    bond0:\n"
                                                "      interfaces: [eno1, eno2]\n")
    ok(twin.run("netplan", "generate"))
    assert "bond0" in ok(twin.run("netplan", "get"))
    twin.host.write("/etc/netplan/90-route.yaml", "network:\n  version: 2\n  ethernets:\n    bond0:\n"
                                                  "      routes: [{to: 0.0.0.0/0, scope: link}]\n")
    done = twin.run("netplan", "generate")
    assert done.returncode == 1 and "changes device type" in done.stderr


def test_operator_turns_mig_off_on_an_unlabelled_mig_node(tmp_path: Path, clean_containerd: Any) -> None:
    """migManager on, node without nvidia.com/mig.config: labelled all-disabled, and MIG goes off on the GPU."""
    from fakehost import a100_mig

    made = _gpu_cluster(tmp_path, clean_containerd, "v25.3.4", host_containerd=False, gpus=a100_mig,
                        mig_manager=True)
    assert node(made)["metadata"]["labels"]["nvidia.com/mig.config"] == "all-disabled"
    assert made.host.path("/.installer/nvidia-smi.csv").read_text().rstrip().endswith(", Disabled")


def test_a_labelled_mig_node_keeps_its_layout(tmp_path: Path, clean_containerd: Any) -> None:
    """A node labelled with its MIG config before the operator starts is left as it is."""
    from fakehost import a100_mig

    made = _gpu_cluster(tmp_path, clean_containerd, "v25.3.4", host_containerd=False, gpus=a100_mig,
                        node_labels=("nvidia.com/mig.config=all-1g.10gb",), mig_manager=True)
    assert node(made)["metadata"]["labels"]["nvidia.com/mig.config"] == "all-1g.10gb"
    assert made.host.path("/.installer/nvidia-smi.csv").read_text().rstrip().endswith(", Enabled")


def test_pods_get_the_memlock_limit_containerd_started_with(twin: Twin, tmp_path: Path) -> None:
    """containerd-env's ulimit -l reaches containers only after MicroK8s's containerd restarts."""
    install_microk8s(twin)
    load(twin, tmp_path, CNI, PAUSE)
    probe = ("microk8s", "kubectl", "run", "memlock", f"--image={PAUSE}", "--restart=Never", "--rm", "-i", "--",
             "sh", "-c", "ulimit -l")
    assert ok(twin.run(*probe)).strip() == "16384"
    env = twin.host.path("/var/snap/microk8s/current/args/containerd-env")
    env.write_text(env.read_text().replace("ulimit -l 16384", "ulimit -l unlimited"))
    assert ok(twin.run(*probe)).strip() == "16384"
    pid = ok(twin.run("systemctl", "show", "--property", "MainPID", "--value", "snap.microk8s.daemon-containerd"))
    ok(twin.run("snap", "restart", "microk8s.daemon-containerd"))
    assert ok(twin.run(*probe)).strip() == "unlimited"
    new_pid = ok(twin.run("systemctl", "show", "--property", "MainPID", "--value", "snap.microk8s.daemon-containerd"))
    assert new_pid != pid
    limits = twin.host.path(f"/proc/{new_pid.strip()}/limits").read_text()
    assert any(line.startswith("Max locked memory") and line.split()[3] == "unlimited" for line in limits.splitlines())


def test_operator_driver_image_follows_the_host_os(tmp_path: Path, clean_containerd: Any) -> None:
    """driver: operator on Ubuntu 24.04: the operator asks for ``<version>-ubuntu24.04``, whatever was imported."""
    from fakehost import gpus_without_driver

    made = make_twin(tmp_path, clean_containerd, lambda root: gpus_without_driver(root).os_release(version="24.04"))
    install_microk8s(made)
    images = known_images("v25.3.4")
    load(made, tmp_path, CNI, PAUSE, *sorted(set(images.values())), images["driver"] + "-ubuntu22.04")
    values = gpu_operator_values(GpuOperatorSettings(enabled=True, driver="operator"), host_driver=None, images=images)
    (tmp_path / "v.yaml").write_text(yaml.safe_dump(values))
    chart = gpu_operator_chart(tmp_path / "gpu-operator-v25.3.4.tgz")
    ok(made.run("microk8s", "helm3", "upgrade", "--install", "gpu-operator", str(chart), "-n", "gpu-operator-resources",
                "--create-namespace", "--values", str(tmp_path / "v.yaml")))
    driver = pod(made, "gpu-operator-resources", "nvidia-driver-daemonset")
    assert waiting_reason(driver) == "ImagePullBackOff" and "-ubuntu24.04" in driver["status"]["message"]
    assert "nvidia.com/gpu" not in node(made)["status"]["allocatable"]


def test_rdma_link_type_selector_never_matches_a_port_without_netdev(tmp_path: Path, clean_containerd: Any) -> None:
    """No IPoIB netdev: linkType is "", so ``linkTypes: [infiniband]`` selects nothing and nothing is advertised."""
    from fakehost import IB_ACTIVE_NDR

    made = make_twin(tmp_path, clean_containerd,
                     lambda root: base_host(root).ib_device("mlx5_0", "0000:1a:00.0", [IB_ACTIVE_NDR]))
    install_microk8s(made)
    load(made, tmp_path, CNI, PAUSE, RDMA_PLUGIN)
    ok(apply(made, tmp_path, *_rdma_objects(8, {"vendors": ["15b3"], "linkTypes": ["infiniband"]})))
    assert "rdma/hca_shared_devices_a" not in node(made)["status"]["allocatable"]
    ok(apply(made, tmp_path, *_rdma_objects(8, {"vendors": ["15b3"]})))
    assert node(made)["status"]["allocatable"]["rdma/hca_shared_devices_a"] == "8"


def test_without_helm_a_plain_chart_installs_and_a_templated_one_is_refused(twin: Twin, tmp_path: Path) -> None:
    """The demo's twin has no helm: the demo's plain-manifest chart installs and the hub answers; a chart
    with template directives is refused naming the file and the missing helm (never rendered by guesswork)."""
    from installer.demo.prepare import _chart_archive

    templated = _ready_cluster(twin, tmp_path)
    twin.configure(helm="")
    load(twin, tmp_path, "quay.io/jupyterhub/k8s-hub:4.2.0", "quay.io/jupyterhub/configurable-http-proxy:4.6.3")
    refused = _helm(twin, "template", "jupyterhub", str(templated), "--values", str(_hub_values(tmp_path)))
    assert refused.returncode == 1
    assert "templates/hub-deployment.yaml" in refused.stderr or "templates/hub-pvc.yaml" in refused.stderr
    assert "no helm binary" in refused.stderr
    failed = _helm(twin, "upgrade", "--install", "jupyterhub", str(templated), "-n", "jupyterhub", "--create-namespace")
    assert failed.returncode == 1 and "no helm binary" in failed.stderr
    plain = tmp_path / "plain-jupyterhub-4.2.0.tgz"
    plain.write_bytes(_chart_archive())
    rendered = ok(_helm(twin, "template", "jupyterhub", str(plain)))
    assert "image: quay.io/jupyterhub/k8s-hub:4.2.0" in rendered
    ok(_helm(twin, "upgrade", "--install", "jupyterhub", str(plain), "-n", "jupyterhub", "--create-namespace",
             "--wait", "--timeout", "300s"))
    ok(twin.run("microk8s", "kubectl", "get", "--raw", HEALTH))
