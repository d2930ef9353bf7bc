"""Profile section ``gpu_operator``: the NVIDIA GPU Operator, installed from the bundle's chart."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from installer.config.base import Section
from installer.config.validators import Version


class GpuOperatorSettings(Section):
    """NVIDIA GPU Operator options."""

    enabled: bool = False
    """Install the GPU Operator (needs an NVIDIA GPU)."""
    version: Version = "v25.3.4"
    """Chart version; its archive ``gpu-operator-<version>.tgz`` must be in the bundle."""
    driver: Literal["auto", "host", "operator"] = "auto"
    """``host`` uses the driver installed on the host, ``operator`` runs the driver container
    (it needs OS packages: rarely possible air-gapped), ``auto`` picks ``host`` when one is found."""
    toolkit: bool = True
    """Let the operator install the NVIDIA container toolkit into MicroK8s's containerd."""
    mig_strategy: Literal["none", "single", "mixed"] = "single"
    """How MIG slices are advertised to Kubernetes."""
    wait_timeout: int = Field(900, ge=60, le=7200)
    """Seconds to wait until the node advertises ``nvidia.com/gpu``."""
