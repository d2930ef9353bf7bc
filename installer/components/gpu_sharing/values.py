"""Values for GPU sharing: the GPU Operator's device-plugin settings and HAMi's chart values.

Time-slicing is the GPU Operator's own device plugin reading a sharing config: the chart
creates the ConfigMap from ``devicePlugin.config.data`` when ``create`` is true
(gpu-operator@v25.3.4 ``deployments/gpu-operator/templates/plugin_config.yaml``) and hands
``name``/``default`` to the ClusterPolicy (``templates/clusterpolicy.yaml``). The config is
k8s-device-plugin's ``version: v1`` file with ``sharing.timeSlicing.resources[].replicas``
(the operator's own test config, gpu-operator@v25.3.4 ``tests/plugin-config.yaml``).

HAMi replaces the operator's device plugin: the operator's is turned off
(``devicePlugin.enabled: false``; the operator then also drops its plugin validation,
gpu-operator@v25.3.4 ``controllers/object_controls.go`` around line 2218) so the two never
both advertise ``nvidia.com/gpu`` (HAMi#1708).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

import yaml

from installer.components.gpu_sharing.artifacts import hami_images, scheduler_image, sharing
from installer.components.kube import parse_quantity

if TYPE_CHECKING:
    from installer.config.profile import Profile

TIME_SLICING_CONFIG: Final = "time-slicing-config"
"""The ConfigMap the GPU Operator's chart creates for its device plugin."""
TIME_SLICING_KEY: Final = "any"
"""Its one entry, the plugin's default config on every node."""
GPU_RESOURCE: Final = "nvidia.com/gpu"
HAMI_MEMORY: Final = "nvidia.com/gpumem"
"""MiB of GPU memory (HAMi chart v2.8.3 ``values.yaml`` ``resourceMem``)."""
HAMI_CORES: Final = "nvidia.com/gpucores"
"""Percent of the GPU's SMs (``values.yaml`` ``resourceCores``)."""
HAMI_RELEASE: Final = "hami"
HAMI_NAMESPACE: Final = "kube-system"
"""Where HAMi's README installs it (``helm install hami ... -n kube-system``)."""
GPU_NODE_LABEL: Final = {"feature.node.kubernetes.io/pci-10de.present": "true"}
"""Where HAMi's device plugin runs: NFD's NVIDIA PCI label, which the GPU Operator's NFD sets
(the chart's default ``devicePlugin.nvidiaNodeSelector`` is ``gpu: "on"``, a label nobody sets here)."""
PULL_POLICY: Final = "IfNotPresent"


def time_slicing_config(replicas: int) -> str:
    """The device plugin's sharing config: each GPU advertised ``replicas`` times."""
    config = {"version": "v1",
              "sharing": {"timeSlicing": {"resources": [{"name": GPU_RESOURCE, "replicas": replicas}]}}}
    return yaml.safe_dump(config, sort_keys=False)


def device_plugin_overrides(profile: Profile) -> dict[str, Any]:
    """What GPU sharing changes in the GPU Operator's ``devicePlugin`` values (nothing for ``none``)."""
    settings = sharing(profile)
    if settings.mode == "hami":
        return {"enabled": False}
    if settings.mode == "time-slicing":
        return {"config": {"create": True, "name": TIME_SLICING_CONFIG, "default": TIME_SLICING_KEY,
                           "data": {TIME_SLICING_KEY: time_slicing_config(settings.replicas)}}}
    return {}


def _image(ref: str) -> dict[str, str]:
    """``docker.io/projecthami/hami:v2.8.3`` -> the chart's ``{registry, repository, tag, pullPolicy}``."""
    name, _, tag = ref.rpartition(":")
    registry, _, repository = name.partition("/")
    return {"registry": registry, "repository": repository, "tag": tag, "pullPolicy": PULL_POLICY}


def hami_values(profile: Profile) -> dict[str, Any]:
    """The HAMi chart's values: every image pinned to the bundle's, the plugin on the GPU nodes.

    The extender, device plugin and monitor images take their tag from ``global.imageTag``
    (chart v2.8.3 ``templates/_helpers.tpl``); kube-scheduler's tag is set explicitly so the
    chart does not derive it from ``helm template``'s Kubernetes version.
    """
    settings = sharing(profile)
    images = hami_images(settings)
    hami = _image(images["hami"])
    return {
        "global": {"imageTag": hami["tag"]},
        "scheduler": {
            "kubeScheduler": {"image": _image(scheduler_image(profile))},
            "extender": {"image": dict(hami)},
            "patch": {"imageNew": _image(images["certgen"])},
        },
        "devicePlugin": {
            "image": dict(hami),
            "monitor": {"image": dict(hami)},
            "deviceSplitCount": settings.hami_split_count,
            # null drops the chart's default ``gpu: "on"`` (Helm merges maps with the chart's values)
            "nvidiaNodeSelector": {"gpu": None, **GPU_NODE_LABEL},
            # wait for the GPU Operator's toolkit (/run/nvidia/validations/toolkit-ready) before starting
            "gpuOperatorToolkitReady": {"enabled": True},
        },
    }


MIB: Final = Decimal(1 << 20)


def memory_mib(value: int | str) -> int:
    """A catalog entry's ``gpu_memory`` in MiB: an integer is MiB, a string a Kubernetes quantity (``10Gi``)."""
    if isinstance(value, int):
        return value
    amount = parse_quantity(value)
    return int((amount or Decimal(0)) / MIB)


def entry_limits(mode: str, *, gpus: int, gpu_memory: int | str | None, gpu_cores: int | None) -> dict[str, str]:
    """The extended-resource limits of one catalog entry under ``mode``.

    A sliced entry (``gpu_memory`` or ``gpu_cores`` set) gets one GPU at least; under HAMi the
    slice's memory (MiB) and cores (percent) too. Time-slicing cannot bound memory or cores: a
    sliced entry there is a (time-shared) ``nvidia.com/gpu``.
    """
    sliced = gpu_memory is not None or gpu_cores is not None
    count = max(gpus, 1) if sliced else gpus
    limits: dict[str, str] = {GPU_RESOURCE: str(count)} if count else {}
    if mode == "hami" and sliced:
        if gpu_memory is not None:
            limits[HAMI_MEMORY] = str(memory_mib(gpu_memory))
        if gpu_cores is not None:
            limits[HAMI_CORES] = str(gpu_cores)
    return limits
