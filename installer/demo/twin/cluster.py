"""The twin's single-node cluster: API, node readiness, pods, addons, operands, node resources.

Nothing here is scripted per test: every answer is computed from the twin's state,
the fake host's files and the real containerd, by rules taken from upstream (each
cites its source). Objects live in ``state["objects"]`` keyed ``Kind/namespace/name``.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import yaml

from installer.demo.twin import images
from installer.demo.twin.state import KUBELET_ARGS, TEMPLATE, Config

CLUSTER_SCOPED = {"Namespace", "StorageClass", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "ClusterPolicy", "PriorityClass", "RuntimeClass", "NodeFeatureRule", "MutatingWebhookConfiguration"}
BUILTIN_KINDS = {"Namespace", "StorageClass", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                 "PriorityClass", "RuntimeClass", "ConfigMap", "Secret", "Service", "ServiceAccount", "Role",
                 "RoleBinding", "Deployment", "DaemonSet", "StatefulSet", "Job", "Pod", "PersistentVolumeClaim",
                 "NetworkPolicy", "PodDisruptionBudget", "Ingress", "ReplicaSet", "CronJob",
                 "MutatingWebhookConfiguration"}
WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "Job", "Pod")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
API_REFUSED = ("The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?")
"""What kubectl prints while kubelite restarts (the API server runs inside kubelite on 16443)."""
RESTART_SECONDS = 15.0
"""How long the API is down after ``restart_service kubelet`` (twin time, scaled)."""
DNS_IP = "10.152.183.10"


def key(kind: str, namespace: str | None, name: str) -> str:
    """The object's key in the state."""
    return f"{kind}/{'' if kind in CLUSTER_SCOPED else namespace or 'default'}/{name}"


def objects(state: dict[str, Any], kind: str | None = None, namespace: str | None = None) -> Iterator[dict[str, Any]]:
    """Stored objects, optionally of one kind and namespace."""
    for obj in state["objects"].values():
        if kind is not None and obj["kind"] != kind:
            continue
        if namespace is not None and obj["metadata"].get("namespace", "") != namespace:
            continue
        yield obj


def get(state: dict[str, Any], kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
    """One stored object, or None."""
    return state["objects"].get(key(kind, namespace, name))  # type: ignore[no-any-return]


class ApplyError(Exception):
    """What the API server refuses, in kubectl's words."""


def put(state: dict[str, Any], obj: dict[str, Any], namespace: str | None = None) -> str:
    """Create or replace ``obj``; returns ``created``/``configured``/``unchanged``.

    Refused as the API server does: a namespaced object into a namespace that does not
    exist, a custom resource whose CRD is not installed.
    """
    kind = obj.get("kind")
    meta = obj.setdefault("metadata", {})
    if not kind or not meta.get("name"):
        raise ApplyError("error: error validating data: kind or metadata.name not set")
    if kind not in CLUSTER_SCOPED:
        meta["namespace"] = meta.get("namespace") or namespace or "default"
        ns = meta["namespace"]
        if ns not in SYSTEM_NAMESPACES and get(state, "Namespace", None, ns) is None:
            raise ApplyError(f'Error from server (NotFound): namespaces "{ns}" not found')
    else:
        meta.pop("namespace", None)
    if kind not in BUILTIN_KINDS and not any(
            (crd.get("spec") or {}).get("names", {}).get("kind") == kind
            for crd in objects(state, "CustomResourceDefinition")):
        raise ApplyError(f'resource mapping not found for name: "{meta["name"]}" '
                         f'namespace: "{meta.get("namespace", "")}" '
                         f'from "": no matches for kind "{kind}" in version "{obj.get("apiVersion")}"\n'
                         "ensure CRDs are installed first")
    k = key(kind, meta.get("namespace"), meta["name"])
    old = state["objects"].get(k)
    state["objects"][k] = obj
    return "created" if old is None else ("unchanged" if old == obj else "configured")


def delete(state: dict[str, Any], kind: str, namespace: str | None, name: str) -> bool:
    """Remove an object; False when it did not exist."""
    return state["objects"].pop(key(kind, namespace, name), None) is not None


# --- host -------------------------------------------------------------------------------------


def has_default_route(config: Config) -> bool:
    """A default route in the fake host's /proc/net/route (or an IPv6 one).

    Without one the apiserver and kube-proxy cannot pick an address and MicroK8s never
    gets ready (microk8s#392, #1653, #3017; upstream's own tests/libs/airgap.sh adds one).
    """
    try:
        for line in config.host("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
                return True
    except OSError:
        pass
    try:
        for line in config.host("/proc/net/ipv6_route").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 10 and fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo":
                return True
    except OSError:
        pass
    return False


def reachable(config: Config, address: str) -> bool:
    """``ip route get ADDRESS`` succeeds: a default route, or the address is on the node's subnet."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return has_default_route(config) or ip in ipaddress.ip_network(f"{config.node_ip}/24", strict=False)


def host_resolv_upstream(config: Config) -> str | None:
    """microk8s@1.32 scripts/find-resolv-conf.py: the first resolv.conf whose nameservers are all non-loopback.

    One loopback (or unparsable) server disqualifies the whole file, as upstream's check
    over every ``nameserver`` line does.
    """
    for path in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        try:
            text = config.host(path).read_text()
        except OSError:
            continue
        servers = [f[1] for f in (line.split() for line in text.splitlines()) if len(f) >= 2 and f[0] == "nameserver"]
        if servers and all(_non_loopback(server) for server in servers):
            return path
    return None


def _non_loopback(server: str) -> bool:
    try:
        return not ipaddress.ip_address(server.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def gpu_count(config: Config) -> int:
    """NVIDIA GPUs on the PCI bus (vendor 10de, display class 03xx; NVSwitch bridges excluded), as NFD sees them."""
    count = 0
    for device in config.host("/sys/bus/pci/devices").glob("*"):
        try:
            vendor = (device / "vendor").read_text().strip()
            pci_class = (device / "class").read_text().strip()
        except OSError:
            continue
        count += vendor == "0x10de" and pci_class.startswith("0x03")
    return count


def host_driver(config: Config) -> bool:
    """The NVIDIA kernel module is loaded on the host (/proc/driver/nvidia/version)."""
    return config.host("/proc/driver/nvidia/version").exists()


def rdma_devices(config: Config) -> list[dict[str, Any]]:
    """The host's RDMA devices as the plugin sees them: PCI vendor/device/driver, netdevs, link type.

    Mellanox/k8s-rdma-shared-dev-plugin@v1.5.3 pkg/resources/pci_net_device.go: the link type
    comes from the netdev; a device without a netdev has link type "" (so a ``linkTypes``
    selector never matches it).
    """
    found = []
    for ib in sorted(config.host("/sys/class/infiniband").glob("*")):
        pci = (ib / "device").resolve()
        netdevs = sorted(p.name for p in (pci / "net").glob("*")) if (pci / "net").is_dir() else []
        layers = {p.read_text().strip() for p in ib.glob("ports/*/link_layer")}
        link = ("infiniband" if "InfiniBand" in layers else "ether") if netdevs else ""
        driver = (pci / "driver").resolve().name if (pci / "driver").exists() else ""
        found.append({"vendor": _hex(pci / "vendor"), "device": _hex(pci / "device"), "driver": driver,
                      "netdevs": netdevs, "link": link})
    return found


def _hex(path: Any) -> str:
    try:
        return str(path.read_text().strip().removeprefix("0x"))
    except OSError:
        return ""


def rdma_selected(entry: dict[str, Any], device: dict[str, Any]) -> bool:
    """k8s-rdma-shared-dev-plugin@v1.5.3 README: values in one selector are OR'd, selectors are AND'd;
    ``devices`` lists interface names."""
    selectors = dict(entry.get("selectors") or {})
    if entry.get("devices"):
        selectors["ifNames"] = entry["devices"]
    checks = {"vendors": [device["vendor"]], "deviceIDs": [device["device"]], "drivers": [device["driver"]],
              "ifNames": device["netdevs"], "linkTypes": [device["link"]]}
    return all(set(values) & set(checks.get(key, [])) for key, values in selectors.items() if values)


# --- API and node -------------------------------------------------------------------------------


def installed(state: dict[str, Any]) -> bool:
    """The microk8s snap is installed."""
    return "microk8s" in state["snaps"]


def api_up(config: Config, state: dict[str, Any]) -> bool:
    """kubelite serves the API: installed, a default route, and not in a restart."""
    return installed(state) and has_default_route(config) and time.time() >= state["api_down_until"]


def restart_kubelite(config: Config, state: dict[str, Any]) -> None:
    """``restart_service kubelet`` (kubelite since 1.21): the API is down for a while."""
    state["api_down_until"] = time.time() + RESTART_SECONDS * config.time_scale


def template_problem(config: Config) -> str | None:
    """Why containerd's CRI cannot run pods with the current containerd-template.toml, or None.

    MicroK8s renders containerd.toml from the template at every containerd start. A
    template without the CRI plugin or without MicroK8s's CNI folder (what the GPU
    toolkit writes when it dumps a host containerd's config, gpu-operator#1367) leaves
    the node without a runtime or a network.
    """
    try:
        text = config.host(TEMPLATE).read_text()
    except OSError:
        return "containerd-template.toml is missing"
    disabled = re.search(r"^\s*disabled_plugins\s*=\s*\[([^\]]*)\]", text, re.MULTILINE)
    if disabled and re.search(r"""["'](io\.containerd\.grpc\.v1\.)?cri["']""", disabled.group(1)):
        return "container runtime is down: the CRI plugin is disabled in containerd-template.toml"
    if "args/cni-network" not in text:
        return "cni config uninitialized: containerd no longer reads MicroK8s's CNI folder"
    return None


def sandbox_image(config: Config) -> str | None:
    """The template's ``sandbox_image``."""
    try:
        match = re.search(r'^\s*sandbox_image\s*=\s*"([^"]+)"', config.host(TEMPLATE).read_text(), re.MULTILINE)
    except OSError:
        return None
    return match.group(1) if match else None


def node_ready(config: Config, state: dict[str, Any]) -> tuple[bool, str]:
    """Whether the node is Ready, and the kubelet's reason when not.

    microk8s@1.32 scripts/wrappers/common/utils.py is_cluster_ready: ``" Ready "`` in
    ``kubectl get nodes``. The node turns Ready only once calico's install-cni init
    container (image calico/cni) wrote the CNI config into args/cni-network (which the
    install hook empties), and every pod sandbox needs the pause image; offline, both
    must already be in containerd (microk8s#2015, #3956).
    """
    if not api_up(config, state):
        return False, "the API server is not up"
    problem = template_problem(config)
    if problem:
        return False, problem
    cni, _, _ = config.images()
    if not images.has(config, cni):
        return False, ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                       "message:Network plugin returns error: cni plugin not initialized")
    pause = sandbox_image(config)
    if pause is None or not images.has(config, pause):
        # calico-node's own sandbox needs pause before install-cni can run at all
        return False, f"failed to get sandbox image \"{pause}\": not found in containerd (offline: import it)"
    return True, "kubelet is posting ready status"


def format_quantity(count: int) -> str:
    """An integer quantity in the API's canonical form (1000 -> ``1k``, 2000000 -> ``2M``).

    Device plugins report a count; the kubelet stores it as a DecimalSI quantity and the
    API returns its canonical string (k8s.io/apimachinery pkg/api/resource/quantity.go
    CanonicalizeBytes; seen against a real API server in issue 11 item 8).
    """
    for suffix, exponent in (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3)):
        if count and count % 10**exponent == 0:
            return f"{count // 10**exponent}{suffix}"
    return str(count)


def parse_quantity(text: str) -> int:
    """A whole-number quantity in any suffix form (``1k``, ``2Mi``, ``8``), for the twin's own scheduling."""
    factors = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
               "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
    match = re.fullmatch(r"(\d+)([a-zA-Z]*)", text.strip())
    if match is None or match.group(2) not in ("", *factors):
        msg = f"not a whole-number quantity: {text!r}"
        raise ValueError(msg)
    return int(match.group(1)) * factors.get(match.group(2), 1)


# --- pods ---------------------------------------------------------------------------------------


@dataclass
class PodState:
    """One pod the twin runs for a workload."""

    name: str
    namespace: str
    owner: str
    spec: dict[str, Any]
    labels: dict[str, str]
    phase: str
    reason: str = ""
    message: str = ""
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    """The pod template's annotations (KubeSpawner names the user in ``hub.jupyter.org/username``)."""

    @property
    def running(self) -> bool:
        """Running (or finished, for a Job)."""
        return self.phase in ("Running", "Succeeded")

    def to_json(self) -> dict[str, Any]:
        """The pod as ``kubectl get pod -o json`` shows it."""
        waiting = {"waiting": {"reason": self.reason, "message": self.message}} if self.reason else {}
        statuses = [{"name": c.get("name"), "image": c.get("image"), "ready": self.phase == "Running",
                     "state": waiting or {"running": {}}} for c in self.spec.get("containers") or []]
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels,
                             "annotations": self.annotations, "ownerReferences": [{"name": self.owner}]},
                "spec": self.spec,
                "status": {"phase": self.phase if self.phase != "Waiting" else "Pending", "reason": self.reason,
                           "message": self.message, "containerStatuses": statuses}}


def _pod_templates(config: Config, state: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """``(owner object, pod template)`` for every workload, operator-made DaemonSets included."""
    for obj in list(state["objects"].values()) + operands(config, state):
        if obj["kind"] not in WORKLOADS:
            continue
        spec = obj.get("spec") or {}
        if obj["kind"] == "Pod":
            yield obj, {"metadata": obj["metadata"], "spec": spec}
        elif obj["kind"] == "Deployment" and spec.get("replicas", 1) == 0:
            continue
        else:
            template = spec.get("template") or {}
            if obj["kind"] == "Job":
                template = {**template, "job": True}
            yield obj, template


def pods(config: Config, state: dict[str, Any]) -> list[PodState]:
    """Every pod with its phase, computed now."""
    ready, why = node_ready(config, state)
    resources = allocatable(config, state, ready=ready)
    found = []
    for owner, template in _pod_templates(config, state):
        meta = owner["metadata"]
        spec = template.get("spec") or {}
        name = meta["name"] if owner["kind"] == "Pod" else f"{meta['name']}-twin"
        phase, reason, message = _phase(config, state, meta.get("namespace", ""), spec, ready, why, resources,
                                        job=bool(template.get("job")))
        labels = (template.get("metadata") or {}).get("labels") or {}
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        found.append(PodState(name, meta.get("namespace", ""), meta["name"], spec, labels, phase, reason, message,
                              annotations))
    return found


HAMI_MANAGED: Final = frozenset({"nvidia.com/gpumem", "nvidia.com/gpucores", "nvidia.com/gpumem-percentage",
                                  "nvidia.com/priority"})
"""Resources no node advertises: HAMi's scheduler extender counts them (``managedResources`` with
``ignoredByScheduler: true`` in HAMi v2.8.3 ``charts/hami/templates/scheduler/configmap.yaml``), and its
admission webhook sends the pods asking for them to that scheduler (``schedulerName: hami-scheduler``)."""


def hami_scheduling(state: dict[str, Any]) -> bool:
    """HAMi's scheduler is deployed (without it, a pod asking for a GPU slice is unschedulable, as upstream)."""
    return any(obj["metadata"]["name"] == "hami-scheduler" for obj in objects(state, "Deployment"))


def _phase(config: Config, state: dict[str, Any], namespace: str, spec: dict[str, Any], ready: bool, why: str,
           resources: dict[str, str], *, job: bool = False) -> tuple[str, str, str]:
    if not ready:
        return "Pending", "Unschedulable", ("0/1 nodes are available: 1 node(s) had untolerated taint "
                                            f"{{node.kubernetes.io/not-ready: }} ({why})")
    for volume in spec.get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and not pvc_bound(config, state, namespace, claim):
            return "Pending", "Unschedulable", f'pod has unbound immediate PersistentVolumeClaims ("{claim}")'
    ignored = HAMI_MANAGED if hami_scheduling(state) else frozenset()
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for resource, amount in ((container.get("resources") or {}).get("limits") or {}).items():
            extended = "/" in resource and not resource.startswith("hugepages") and resource not in ignored
            if extended and parse_quantity(resources.get(resource, "0")) < parse_quantity(str(amount)):
                return "Pending", "Unschedulable", f"0/1 nodes are available: 1 Insufficient {resource}"
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        image = container.get("image") or ""
        if not images.has(config, image):
            # kubelet: with pull policy Never a missing image is ErrImageNeverPull; otherwise the pull
            # fails offline and backs off (ImagePullBackOff) (kubernetes pkg/kubelet/images/image_manager.go).
            if container.get("imagePullPolicy") == "Never":
                return "Waiting", "ErrImageNeverPull", (f'Container image "{image}" is not present with pull '
                                                        "policy of Never")
            return "Waiting", "ImagePullBackOff", f'Back-off pulling image "{image}"'
    return ("Succeeded" if job else "Running"), "", ""


def running(config: Config, state: dict[str, Any], namespace: str | None, name_part: str) -> bool:
    """Some pod whose owner's name contains ``name_part`` runs (in ``namespace`` when given)."""
    return any(p.running and name_part in p.owner and (namespace is None or p.namespace == namespace)
               for p in _base_pods(config, state))


def _base_pods(config: Config, state: dict[str, Any]) -> list[PodState]:
    """Pods that request no extended resource (what node resources depend on: no recursion)."""
    ready, why = node_ready(config, state)
    found = []
    for owner, template in _pod_templates(config, state):
        spec = template.get("spec") or {}
        if any("/" in r for c in spec.get("containers") or []
               for r in ((c.get("resources") or {}).get("limits") or {})):
            continue
        meta = owner["metadata"]
        phase, reason, message = _phase(config, state, meta.get("namespace", ""), spec, ready, why, {})
        found.append(PodState(meta["name"], meta.get("namespace", ""), meta["name"], spec, {}, phase, reason, message))
    return found


def pvc_bound(config: Config, state: dict[str, Any], namespace: str, claim: str) -> bool:
    """A claim on ``microk8s-hostpath`` binds once the provisioner runs and its busybox helper can.

    core-addons@1.32 addons/hostpath-storage/storage.yaml: StorageClass microk8s-hostpath,
    provisioner image cdkbot/hostpath-provisioner:1.5.0 with BUSYBOX_IMAGE=busybox:1.28.4;
    canonical/hostpath-provisioner@v1.5.0 hostpath-provisioner.go Provision runs a busybox
    pod (runOnNode, ``mkdir``) before the volume exists.
    """
    pvc = get(state, "PersistentVolumeClaim", namespace, claim)
    if pvc is None:
        return False
    wanted = (pvc.get("spec") or {}).get("storageClassName")
    classes = {c["metadata"]["name"]: c for c in objects(state, "StorageClass")}
    if wanted is None:
        wanted = next((n for n, c in classes.items() if (c["metadata"].get("annotations") or {}).get(
            "storageclass.kubernetes.io/is-default-class") == "true"), None)
    if wanted not in classes or wanted != "microk8s-hostpath":
        return False
    provisioner = get(state, "Deployment", "kube-system", "hostpath-provisioner")
    if provisioner is None:
        return False
    ready, why = node_ready(config, state)
    if _phase(config, state, "kube-system", provisioner["spec"]["template"]["spec"], ready, why, {})[0] != "Running":
        return False
    env = {e.get("name"): e.get("value") for c in provisioner["spec"]["template"]["spec"]["containers"]
           for e in c.get("env") or []}
    return images.has(config, env.get("BUSYBOX_IMAGE") or "busybox:1.34.1")


# --- node resources -----------------------------------------------------------------------------


def allocatable(config: Config, state: dict[str, Any], *, ready: bool | None = None) -> dict[str, str]:
    """The node's allocatable resources, extended ones only while their device plugin runs."""
    result = {"cpu": "64", "memory": "527951828Ki", "pods": "110", "ephemeral-storage": "101430960Ki"}
    if ready is None:
        ready = node_ready(config, state)[0]
    if not ready:
        return result
    # gpu-operator: nvidia.com/gpu is advertised by the device plugin, which the operator deploys
    # only after the toolkit is ready (validator init containers); no device plugin pod, no GPUs.
    gpus = gpu_count(config)
    driver = host_driver(config) or running(config, state, None, "nvidia-driver-daemonset")
    toolkit = running(config, state, None, "nvidia-container-toolkit-daemonset")
    if gpus and driver and toolkit and running(config, state, None, "nvidia-device-plugin-daemonset"):
        result["nvidia.com/gpu"] = format_quantity(gpus * time_slicing_replicas(state))
    # HAMi v2.8.3: its device plugin (DaemonSet <release>-device-plugin) advertises deviceSplitCount
    # virtual GPUs per GPU, from the scheduler's device ConfigMap (templates/scheduler/device-configmap.yaml);
    # it starts once the operator's toolkit is ready (devicePlugin.gpuOperatorToolkitReady).
    if gpus and driver and toolkit and running(config, state, None, "hami-device-plugin"):
        result["nvidia.com/gpu"] = format_quantity(gpus * hami_split_count(state))
    # k8s-rdma-shared-dev-plugin@v1.5.3: each configList entry becomes rdma/<resourceName> with
    # rdmaHcaMax devices, while the plugin daemonset runs and its selectors match a device
    # (no match: no resource server, nothing advertised).
    config_map = get(state, "ConfigMap", "kube-system", "rdma-devices")
    if config_map is not None and running(config, state, "kube-system", "rdma-shared-dp-ds"):
        import json

        data = json.loads((config_map.get("data") or {}).get("config.json") or "{}")
        devices = rdma_devices(config)
        for entry in data.get("configList") or []:
            if any(rdma_selected(entry, d) for d in devices):
                prefix = entry.get("resourcePrefix") or "rdma"
                result[f"{prefix}/{entry['resourceName']}"] = format_quantity(int(entry.get("rdmaHcaMax", 0)))
    return result


def time_slicing_replicas(state: dict[str, Any]) -> int:
    """How many times the operator's device plugin advertises each GPU (1 without a sharing config).

    The ClusterPolicy's ``devicePlugin.config`` names a ConfigMap in the operator's namespace and
    its default entry (gpu-operator v25.3.4 ``templates/clusterpolicy.yaml``); the entry is the
    plugin's ``sharing.timeSlicing.resources[].replicas`` file (``tests/plugin-config.yaml``).
    """
    policy = next((p for p in state["objects"].values() if p["kind"] == "ClusterPolicy"), None)
    plugin_config = (((policy or {}).get("spec") or {}).get("devicePlugin") or {}).get("config") or {}
    if not plugin_config.get("name"):
        return 1
    maps = [o for o in state["objects"].values() if o["kind"] == "ConfigMap"
            and o["metadata"]["name"] == plugin_config["name"]]
    text = ((maps[0].get("data") or {}).get(plugin_config.get("default") or "") if maps else None) or ""
    data = yaml.safe_load(text) if text else None
    resources = ((((data or {}).get("sharing") or {}).get("timeSlicing") or {}).get("resources") or [])
    replicas = [int(r.get("replicas") or 1) for r in resources if r.get("name") == "nvidia.com/gpu"]
    return replicas[0] if replicas else 1


def hami_split_count(state: dict[str, Any]) -> int:
    """HAMi's ``deviceSplitCount`` from its scheduler's device ConfigMap (10, the chart's default, without one)."""
    maps = [o for o in state["objects"].values() if o["kind"] == "ConfigMap"
            and o["metadata"]["name"].endswith("-scheduler-device")]
    text = ((maps[0].get("data") or {}).get("device-config.yaml") if maps else None) or ""
    data = yaml.safe_load(text) if text else None
    return int(((data or {}).get("nvidia") or {}).get("deviceSplitCount") or 10)


def node_json(config: Config, state: dict[str, Any]) -> dict[str, Any]:
    """The node as ``kubectl get nodes -o json`` returns it."""
    ready, why = node_ready(config, state)
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": config.node_name, "labels": {"kubernetes.io/hostname": config.node_name,
                                                             "microk8s.io/cluster": "true",
                                                             **state.get("node_labels", {})}},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "reason": "KubeletReady" if ready else "KubeletNotReady", "message": why}],
                       "addresses": [{"type": "InternalIP", "address": config.node_ip},
                                     {"type": "Hostname", "address": config.node_name}],
                       "allocatable": allocatable(config, state, ready=ready),
                       "capacity": allocatable(config, state, ready=ready),
                       "nodeInfo": {"kubeletVersion": f"v{config.channel}.3", "containerRuntimeVersion":
                                    "containerd://1.7.29"}}}


# --- what MicroK8s runs by itself ----------------------------------------------------------------

def _workload(kind: str, namespace: str, name: str, containers: list[dict[str, Any]],
              init: list[dict[str, Any]] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"metadata": {"labels": labels or {"app": name}}, "spec": spec}}}

def launch(config: Config, state: dict[str, Any]) -> None:
    """What MicroK8s starts once its API is up: calico, and the launch configuration's dns addon.

    microk8s@1.32 build-scripts/images.txt (calico cni/node/kube-controllers) and
    microk8s-resources/microk8s.default.yaml (``addons: [dns]`` at first start).
    """
    if state["launched"] or not api_up(config, state):
        return
    cni = config.images()[0]
    version = cni.rsplit(":", 1)[1]
    put(state, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"},
                "spec": {"clusterIP": "10.152.183.1"}})
    put(state, _workload("DaemonSet", "kube-system", "calico-node",
                         [{"name": "calico-node", "image": f"docker.io/calico/node:{version}"}],
                         [{"name": "upgrade-ipam", "image": cni}, {"name": "install-cni", "image": cni}],
                         {"k8s-app": "calico-node"}))
    put(state, _workload("Deployment", "kube-system", "calico-kube-controllers",
                         [{"name": "calico-kube-controllers", "image": f"docker.io/calico/kube-controllers:{version}"}],
                         labels={"k8s-app": "calico-kube-controllers"}))
    enable_dns(config, state, [])
    state["launched"] = True

def enable_dns(config: Config, state: dict[str, Any], servers: list[str]) -> list[str]:
    """core-addons@1.32 addons/dns/enable: apply CoreDNS; returns the lines it prints.

    No argument: the host's resolv.conf when it names a non-loopback server
    (``forward . /etc/resolv.conf``), else the 8.8.8.8 8.8.4.4 fallback. Each given
    server must pass ``ip route get`` or the addon stops. The kubelet (kubelite) is
    restarted when its --cluster-dns/--cluster-domain arguments change.
    """
    out = ["Enabling DNS"]
    if servers:
        for server in servers:
            if not reachable(config, server):
                raise AddonFailed([*out, f"Your input value ({server}) is not a valid and reachable IP address"])
        nameservers = " ".join(servers)
        out.append(f"Will use  {nameservers} as upstream nameservers")
    elif host_resolv_upstream(config):
        out.append(f"Using host configuration from {host_resolv_upstream(config)}")
        nameservers = "/etc/resolv.conf"
    else:
        out += ["No valid resolv.conf file could be found", "Falling back to 8.8.8.8 8.8.4.4 as upstream nameservers"]
        nameservers = "8.8.8.8 8.8.4.4"
    out.append("Applying manifest")
    coredns = config.images()[2]
    corefile = (".:53 {\n    errors\n    health {\n      lameduck 5s\n    }\n    ready\n"
                "    log . {\n      class error\n"
                "    }\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n      pods insecure\n"
                "      fallthrough in-addr.arpa ip6.arpa\n    }\n    prometheus :9153\n"
                f"    forward . {nameservers}\n    cache 30\n    loop\n    reload\n    loadbalance\n}}\n")
    put(state, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
                "data": {"Corefile": corefile}})
    put(state, _workload("Deployment", "kube-system", "coredns",
                         [{"name": "coredns", "image": coredns.removeprefix("docker.io/"),
                           "imagePullPolicy": "IfNotPresent"}], labels={"k8s-app": "kube-dns"}))
    put(state, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-dns", "namespace": "kube-system"},
                "spec": {"clusterIP": DNS_IP}})
    out.append(f"CoreDNS service deployed with IP address {DNS_IP}")
    args = config.host(KUBELET_ARGS)
    text = args.read_text() if args.exists() else ""
    if "--cluster-domain=cluster.local" not in text or f"--cluster-dns={DNS_IP}" not in text:
        lines = [line for line in text.splitlines() if not line.startswith(("--cluster-domain", "--cluster-dns"))]
        args.write_text("\n".join([*lines, "--cluster-domain=cluster.local", f"--cluster-dns={DNS_IP}"]) + "\n")
        out.append("Restarting kubelet")
        restart_kubelite(config, state)
    out.append("DNS is enabled")
    return out

def disable_dns(config: Config, state: dict[str, Any]) -> list[str]:
    """core-addons@1.32 addons/dns/disable: delete CoreDNS, drop the kubelet arguments, restart kubelite.

    The script waits for the kubelet to come back (and sleeps 15 s twice), so the API
    is up again when it returns.
    """
    for kind, name in (("Deployment", "coredns"), ("ConfigMap", "coredns"), ("Service", "kube-dns")):
        delete(state, kind, "kube-system", name)
    args = config.host(KUBELET_ARGS)
    if args.exists():
        args.write_text("".join(line + "\n" for line in args.read_text().splitlines()
                                if not line.startswith(("--cluster-domain", "--cluster-dns"))))
    restart_kubelite(config, state)
    return ["Disabling DNS", "Reconfiguring kubelet", "Removing DNS manifest", "DNS is disabled"]

def enable_hostpath(config: Config, state: dict[str, Any]) -> list[str]:
    """core-addons@1.32 addons/hostpath-storage/enable + storage.yaml: provisioner and StorageClass (no wait)."""
    deployment = _workload("Deployment", "kube-system", "hostpath-provisioner",
                           [{"name": "hostpath-provisioner", "image": "cdkbot/hostpath-provisioner:1.5.0",
                             "env": [{"name": "BUSYBOX_IMAGE", "value": "busybox:1.28.4"}]}],
                           labels={"k8s-app": "hostpath-provisioner"})
    put(state, deployment)
    put(state, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "microk8s-hostpath",
                             "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "microk8s.io/hostpath", "reclaimPolicy": "Delete",
                "volumeBindingMode": "WaitForFirstConsumer"})
    return ["Enabling default storage class.", "WARNING: Hostpath storage is not suitable for production environments.",
            "Storage will be available soon."]

class AddonFailed(Exception):
    """An addon script exited non-zero; ``lines`` is what it printed."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

# addons.yaml of core-addons@1.32: ``check_status`` is what `microk8s status` looks for in
# `kubectl get all` (the pod or deployment existing, running or not).
ADDONS = {"dns": ("CoreDNS", "pod/coredns"),
          "hostpath-storage": ("Storage class; allocates storage from host directory",
                               "deployment.apps/hostpath-provisioner"),
          "metallb": ("Loadbalancer for your Kubernetes cluster", "daemonset.apps/speaker"),
          "ingress": ("Ingress controller for external access", "daemonset.apps/nginx-ingress-microk8s-controller")}

def get_all_lines(config: Config, state: dict[str, Any]) -> list[str]:
    """``kubectl get all -A`` rows as ``kind/name`` (enough for upstream's substring checks)."""
    rows = [f"pod/{p.name}" for p in pods(config, state)]
    for obj in state["objects"].values():
        kind = obj["kind"]
        if kind == "Service":
            rows.append(f"service/{obj['metadata']['name']}")
        elif kind in ("Deployment", "DaemonSet", "StatefulSet"):
            rows.append(f"{kind.lower()}.apps/{obj['metadata']['name']}")
    return rows

def enabled_addons(config: Config, state: dict[str, Any]) -> set[str]:
    """core-addons@1.32 addons.yaml check_status, as scripts/wrappers/common/utils.py get_status uses it."""
    rows = get_all_lines(config, state)
    return {name for name, (_, check) in ADDONS.items() if any(check in row for row in rows)}

# --- the GPU Operator's operator ------------------------------------------------------------------

OPERANDS = {"toolkit": "nvidia-container-toolkit-daemonset", "devicePlugin": "nvidia-device-plugin-daemonset",
            "validator": "nvidia-operator-validator", "driver": "nvidia-driver-daemonset",
            "dcgmExporter": "nvidia-dcgm-exporter", "gfd": "gpu-feature-discovery", "migManager": "nvidia-mig-manager"}
"""ClusterPolicy spec key -> the DaemonSet the operator creates (gpu-operator assets/state-*)."""

def operands(config: Config, state: dict[str, Any]) -> list[dict[str, Any]]:
    """The DaemonSets gpu-operator makes from the ClusterPolicy, once it and NFD run.

    gpu-operator v25.3.4 controllers/clusterpolicy_controller.go: the operand states are
    deployed on nodes labelled by NFD (feature.node.kubernetes.io/pci-10de.present), so
    no operator pod or no NFD worker means no operands. The images are the ClusterPolicy's
    ``repository/image:version`` (internal/image ImagePath).
    """
    policies = [p for p in state["objects"].values() if p["kind"] == "ClusterPolicy"]
    operator = [d for d in state["objects"].values()
                if d["kind"] == "Deployment" and d["metadata"]["name"] == "gpu-operator"]
    if not policies or not operator or not gpu_count(config):
        return []
    namespace = operator[0]["metadata"]["namespace"]
    ready = node_ready(config, state)[0]
    if not ready:
        return []
    base = [p for p in _base_pods_plain(config, state) if p.running]
    if (not any(p.owner == "gpu-operator" for p in base)
            or not any("node-feature-discovery-worker" in p.owner for p in base)):
        return []
    spec = policies[0].get("spec") or {}
    made = []
    for field, name in OPERANDS.items():
        section = spec.get(field) or {}
        if not section or section.get("enabled") is False:
            continue
        image = f"{section.get('repository')}/{section.get('image')}:{section.get('version')}"
        if field == "driver" and "sha256:" not in image:
            # gpu-operator v25.3.4 controllers/object_controls.go resolveDriverTag: the node's OS
            # (NFD's os_release ID + VERSION_ID labels) is appended to the driver version.
            image += f"-{os_tag(config)}"
        container = {"name": field, "image": image, "imagePullPolicy": section.get("imagePullPolicy", "IfNotPresent"),
                     "env": section.get("env") or []}
        made.append(_workload("DaemonSet", namespace, name, [container], labels={"app": name}))
    return made

def os_tag(config: Config) -> str:
    """``ubuntu22.04`` from the host's /etc/os-release."""
    fields = {}
    for line in config.host("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        fields[key] = value.strip('"')
    return f"{fields.get('ID', 'ubuntu')}{fields.get('VERSION_ID', '')}"

def _base_pods_plain(config: Config, state: dict[str, Any]) -> list[PodState]:
    """Pods of the stored workloads only (no operands), for the operator's own decisions."""
    ready, why = node_ready(config, state)
    found = []
    for obj in state["objects"].values():
        if obj["kind"] not in ("Deployment", "DaemonSet"):
            continue
        spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        phase, reason, message = _phase(config, state, obj["metadata"].get("namespace", ""), spec, ready, why, {})
        found.append(PodState(obj["metadata"]["name"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                              spec, {}, phase, reason, message))
    return found

def toolkit_effect(config: Config, state: dict[str, Any]) -> None:
    """What the container toolkit does to MicroK8s's containerd-template.toml once its pod runs.

    nvidia-container-toolkit v1.17.8 tools/container/runtime/containerd/containerd.go:
    the config is loaded from ``chroot /host <RUNTIME_EXECUTABLE_PATH or containerd> config
    dump`` FIRST, then the file (toml.LoadFirst takes the first source that does not fail;
    pkg/config/engine/containerd/containerd.go CommandLineSource, pkg/config/toml/list.go);
    RUNTIME_CONFIG_SOURCE does not exist before v1.18.0 (runtime.go). On a host with a
    ``containerd`` on PATH the host's config (``disabled_plugins = ["cri"]`` from
    docker/containerd.io packages, no MicroK8s CNI folder) is written into the template
    and MicroK8s's containerd loses CRI (gpu-operator#1367). From v1.18 (operator
    v25.10.1) ``RUNTIME_CONFIG_SOURCE=file=...`` makes it read the file only.
    """
    if state["toolkit_applied"]:
        return
    daemonset = next((d for d in operands(config, state) if d["metadata"]["name"] == OPERANDS["toolkit"]), None)
    if daemonset is None:
        return
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    if not images.has(config, container["image"]):
        return
    env = {e.get("name"): e.get("value") for e in container.get("env") or []}
    version = re.search(r"v?(\d+)\.(\d+)", container["image"].rsplit(":", 1)[-1])
    major_minor = (int(version.group(1)), int(version.group(2))) if version else (0, 0)
    sources = ["command", "file"]
    if major_minor >= (1, 18) and env.get("RUNTIME_CONFIG_SOURCE"):
        sources = [s.split("=", 1)[0] for s in env["RUNTIME_CONFIG_SOURCE"].split(",")]
    template = config.host(TEMPLATE)
    executable = env.get("RUNTIME_EXECUTABLE_PATH") or "containerd"
    candidates = [executable] if executable.startswith("/") else [
        f"{d}/{executable}" for d in ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")]
    # The dump works only when the program run in the host's root is a containerd.
    host_containerd = next((c for c in candidates if c.rsplit("/", 1)[-1] == "containerd"
                            and config.host(c).exists()), None)
    if sources[0] == "command" and host_containerd is not None:
        host_config = config.host("/etc/containerd/config.toml")
        disabled = '["cri"]' if not host_config.exists() or "cri" in host_config.read_text() else "[]"
        template.write_text(f'disabled_plugins = {disabled}\nimports = ["/etc/containerd/config.toml"]\nversion = 2\n'
                            '\n[plugins."io.containerd.grpc.v1.cri".cni]\n  conf_dir = "/etc/cni/net.d"\n'
                            '\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n'
                            '  runtime_type = "io.containerd.runc.v2"\n')
    else:
        template.write_text(template.read_text()
                            + '\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]\n'
                              '  runtime_type = "io.containerd.runc.v2"\n')
    state["toolkit_applied"] = True

MIG_LABEL = "nvidia.com/mig.config"

def mig_capable(config: Config) -> bool:
    """gpu-operator v25.3.4 controllers/state_manager.go hasMIGCapableGPU: A100/H100/A30 by product name."""
    models = " ".join(p.read_text() for p in config.host("/proc/driver/nvidia/gpus").glob("*/information"))
    return any(name in models.lower() for name in ("a100", "h100", "a30"))

def mig_effect(config: Config, state: dict[str, Any]) -> None:
    """The operator labels an unlabelled MIG-capable node, and mig-manager applies the label.

    gpu-operator v25.3.4 controllers/state_manager.go: with migManager enabled, a MIG-capable
    node without ``nvidia.com/mig.config`` gets ``all-disabled`` when
    ``migManager.config.default`` is ``all-disabled`` (the chart's values.yaml default);
    assets/state-mig-manager/0400_configmap.yaml: ``all-disabled`` is ``mig-enabled: false`` on
    every device. The twin shows that on the host's recorded nvidia-smi output (MIG column).
    """
    made = {d["metadata"]["name"]: d for d in operands(config, state)}
    manager = made.get(OPERANDS["migManager"])
    if manager is None or not mig_capable(config):
        return
    labels = state.setdefault("node_labels", {})
    policy = next(p for p in state["objects"].values() if p["kind"] == "ClusterPolicy")
    default = (((policy.get("spec") or {}).get("migManager") or {}).get("config") or {}).get("default")
    if MIG_LABEL not in labels and default == "all-disabled":
        labels[MIG_LABEL] = "all-disabled"
    if labels.get(MIG_LABEL) != "all-disabled" or not images.has(config, manager["spec"]["template"]["spec"][
            "containers"][0]["image"]):
        return
    smi = config.host("/.installer/nvidia-smi.csv")
    if smi.exists():
        smi.write_text(smi.read_text().replace(", Enabled\n", ", Disabled\n"))

def reconcile(config: Config, state: dict[str, Any]) -> None:
    """What the cluster does by itself between two commands."""
    launch(config, state)
    toolkit_effect(config, state)
    mig_effect(config, state)

def load_manifests(text: str) -> list[dict[str, Any]]:
    """The objects in a multi-document YAML (Lists flattened)."""
    found = []
    for doc in yaml.safe_load_all(text):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind", "").endswith("List") and "items" in doc:
            found += [copy.deepcopy(i) for i in doc["items"] if isinstance(i, dict)]
        else:
            found.append(doc)
    return found
