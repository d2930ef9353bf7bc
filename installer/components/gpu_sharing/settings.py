"""Profile section ``gpu_sharing``: how one GPU serves several notebook servers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from installer.config.base import Section
from installer.config.validators import ImageRef, Version

SharingMode = Literal["none", "time-slicing", "hami"]


class GpuSharingSettings(Section):
    """GPU sharing: ``none`` (a GPU per server, or MIG), ``time-slicing`` or ``hami``."""

    mode: SharingMode = "none"
    """``none``: whole GPUs (or MIG slices); ``time-slicing``: the GPU Operator's device plugin
    advertises each GPU ``replicas`` times, with no memory isolation; ``hami``: HAMi's device plugin
    and scheduler give each server a slice of GPU memory and SMs (``gpu_memory``/``gpu_cores`` of a
    catalog entry), enforced inside the container. Both need the GPU Operator."""
    replicas: int = Field(4, ge=2, le=64)
    """Time-slicing: how many servers share one GPU (above 16 preflight warns)."""
    hami_chart_version: Version = "2.8.3"
    """HAMi chart version; its archive ``hami-<version>.tgz`` must be in the bundle."""
    hami_split_count: int = Field(10, ge=1, le=100)
    """HAMi: at most this many servers on one GPU (the chart's ``devicePlugin.deviceSplitCount``)."""
    hami_scheduler_image: ImageRef | None = None
    """HAMi's kube-scheduler image; empty means ``registry.k8s.io/kube-scheduler:v<microk8s.channel>.0``
    (never newer than the cluster, which the version skew policy requires)."""
