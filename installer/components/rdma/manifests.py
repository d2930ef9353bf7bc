"""The RDMA shared device plugin's ConfigMap and DaemonSet, generated from the detected ports.

Upstream's manifest uses ``:latest`` (re-pulled, or replaced by junk behind a proxy)
and hand-written selectors (capacity 0 when they do not match the hardware). Here
the tag is pinned, and the selectors come from what preflight found: the vendor,
the interface names and the link types of the *active* ports, unless the profile
names them. The kubelet paths are MicroK8s's own, so the plugin works whether or
not ``/var/lib/kubelet`` is a symlink.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

import yaml

from installer.components.rdma.settings import RdmaSettings
from installer.probes.model import IbPort

NAMESPACE: Final = "kube-system"
CONFIGMAP: Final = "rdma-devices"
DAEMONSET: Final = "rdma-shared-dp-ds"
IMAGE_REPOSITORY: Final = "ghcr.io/mellanox/k8s-rdma-shared-dev-plugin"
HASH_ANNOTATION: Final = "jupyterhub-offline-installer/config-hash"
KUBELET_ROOT: Final = "/var/snap/microk8s/common/var/lib/kubelet"
PERIODIC_UPDATE_SECONDS: Final = 300
LINK_TYPES: Final = {"InfiniBand": "infiniband", "Ethernet": "ether"}
"""sysfs ``link_layer`` -> the plugin's ``linkTypes`` selector value."""


def image_ref(settings: RdmaSettings) -> str:
    """The pinned plugin image."""
    return f"{IMAGE_REPOSITORY}:{settings.image_tag}"


def detected_selectors(ports: Iterable[IbPort]) -> dict[str, list[str]]:
    """What the *active* ports among ``ports`` offer the plugin's selectors (empty lists left out).

    The one owner of the rules, used for the plugin's config (:func:`selectors`) and by
    preflight's suggestion. Values inside one selector are OR'd and selectors are AND'd,
    so each list holds every value seen on an active port. The plugin knows a device's
    interface name and link type only through its netdev (k8s-rdma-shared-dev-plugin
    v1.5.3 ``pkg/resources/pci_net_device.go``: ``linkType`` stays ``""`` unless the device
    has an ``ifName``), so a port without one (no IPoIB loaded) is dropped by any
    ``ifNames`` or ``linkTypes`` selector: both are derived only when every active port
    has a netdev.
    """
    active = [p for p in ports if p.active]
    with_netdevs = bool(active) and all(p.netdevs for p in active)
    found = {
        "vendors": sorted({p.vendor_id for p in active if p.vendor_id}),
        "deviceIDs": sorted({p.device_id for p in active if p.device_id}),
        "drivers": sorted({p.driver for p in active if p.driver}),
        "ifNames": sorted({n for p in active for n in p.netdevs}) if with_netdevs else [],
        "linkTypes": sorted({LINK_TYPES[p.link_layer] for p in active if p.link_layer in LINK_TYPES})
        if with_netdevs else [],
    }
    return {key: values for key, values in found.items() if values}


def selectors(settings: RdmaSettings, ports: Sequence[IbPort]) -> dict[str, list[str]]:
    """Selectors for the plugin: the profile's values, else those :func:`detected_selectors` derives.

    Only selectors with values are written (an empty list would match nothing). The
    vendor comes from the profile (``rdma.vendors``, which preflight's ``rdma`` check holds
    against the active ports); ``deviceIDs`` and ``drivers`` are shown by preflight but not
    written: the profile has no key for them and the vendor already selects the HCAs.
    """
    detected = detected_selectors(ports)
    interfaces = list(settings.interfaces) or detected.get("ifNames", [])
    link_types: list[str] = [*settings.link_types] or detected.get("linkTypes", [])
    found: dict[str, list[str]] = {}
    if settings.vendors:
        found["vendors"] = list(settings.vendors)
    if interfaces:
        found["ifNames"] = interfaces
    if link_types:
        found["linkTypes"] = link_types
    return found


def plugin_config(settings: RdmaSettings, ports: Sequence[IbPort]) -> dict[str, Any]:
    """The ``config.json`` of the plugin."""
    return {
        "periodicUpdateInterval": PERIODIC_UPDATE_SECONDS,
        "configList": [{
            "resourceName": settings.resource_name,
            "rdmaHcaMax": settings.hca_max,
            "selectors": selectors(settings, ports),
        }],
    }


def _configmap(config_json: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIGMAP, "namespace": NAMESPACE},
        "data": {"config.json": config_json},
    }


def _daemonset(image: str, config_hash: str) -> dict[str, Any]:
    labels = {"name": DAEMONSET}
    annotations = {HASH_ANNOTATION: config_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": DAEMONSET, "namespace": NAMESPACE, "annotations": annotations},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{
                        "name": "k8s-rdma-shared-dp-ds",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "securityContext": {"privileged": True},
                        "volumeMounts": [
                            {"name": "device-plugin", "mountPath": "/var/lib/kubelet/device-plugins"},
                            {"name": "plugins-registry", "mountPath": "/var/lib/kubelet/plugins_registry"},
                            {"name": "config", "mountPath": "/k8s-rdma-shared-dev-plugin"},
                            {"name": "devs", "mountPath": "/dev/"},
                        ],
                    }],
                    "volumes": [
                        {"name": "device-plugin", "hostPath": {"path": f"{KUBELET_ROOT}/device-plugins"}},
                        {"name": "plugins-registry", "hostPath": {"path": f"{KUBELET_ROOT}/plugins_registry"}},
                        {"name": "config", "configMap": {"name": CONFIGMAP,
                                                         "items": [{"key": "config.json", "path": "config.json"}]}},
                        {"name": "devs", "hostPath": {"path": "/dev/"}},
                    ],
                },
            },
        },
    }


def config_hash(config_json: str, image: str) -> str:
    """What the DaemonSet is annotated with: a changed config or image rolls its pods."""
    return hashlib.sha256(f"{image}\n{config_json}".encode()).hexdigest()[:16]


def rdma_manifests(settings: RdmaSettings, ports: Sequence[IbPort], image: str | None = None) -> str:
    """The ConfigMap and the DaemonSet as one multi-document YAML for ``kubectl apply -f``."""
    image = image or image_ref(settings)
    config_json = json.dumps(plugin_config(settings, ports), indent=2)
    digest = config_hash(config_json, image)
    documents = [_configmap(config_json), _daemonset(image, digest)]
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)


def manifest_hash(settings: RdmaSettings, ports: Sequence[IbPort], image: str | None = None) -> str:
    """The annotation value :func:`rdma_manifests` writes for these inputs."""
    image = image or image_ref(settings)
    return config_hash(json.dumps(plugin_config(settings, ports), indent=2), image)
