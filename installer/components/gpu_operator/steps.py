"""GPU Operator steps: install the chart from the bundle, then wait for ``nvidia.com/gpu``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final

from installer.components.bundled import load_bundle_manifest, pin_to_bundle
from installer.components.gpu_operator.artifacts import KNOWN_IMAGES
from installer.components.gpu_operator.settings import GpuOperatorSettings
from installer.components.gpu_operator.values import (
    MissingImages,
    gpu_operator_values,
    known_images,
    operand_images,
    use_host_driver,
)
from installer.components.kube import HelmChartStep, WaitForNodeResourceStep
from installer.components.release_images import ContainerdTarget, ImageUse
from installer.engine.plan import StepContext
from installer.errors import BundleError
from installer.preflight.step import host_facts

_LOGGER: Final = logging.getLogger(__name__)

RELEASE: Final = "gpu-operator"
NAMESPACE: Final = "gpu-operator-resources"
VALUES_FILE: Final = "gpu-operator-values.yaml"
GPU_RESOURCE: Final = "nvidia.com/gpu"


def bundle_images(version: str, bundle_dir: Path) -> dict[str, str]:
    """The operand images pinned to what the bundle holds (all wanted ones when there is no manifest)."""
    return pin_to_bundle(known_images(version), load_bundle_manifest(bundle_dir), ["gpu_operator"])


def values_for(settings: GpuOperatorSettings, host_driver: str | None, bundle_dir: Path) -> dict[str, Any]:
    """The GPU Operator values for this host and bundle.

    Raises:
        BundleError: the chart version is unknown or the bundle lacks an operand it needs.
    """
    images = bundle_images(settings.version, bundle_dir)
    if not images:
        msg = f"no image list for GPU Operator chart {settings.version}"
        hint = f"Set gpu_operator.version to a supported chart version: {', '.join(KNOWN_IMAGES)}."
        raise BundleError(msg, hint)
    try:
        return gpu_operator_values(settings, host_driver=host_driver, images=images)
    except MissingImages as exc:
        msg = f"the bundle has no image for GPU Operator operand(s): {', '.join(exc.missing)}"
        hint = "Rebuild the bundle with the GPU Operator enabled (`./install.sh export --profile ...`)."
        if "driver" in exc.missing:
            hint = ("No NVIDIA driver was found on the host and the bundle has no driver image. Install the driver "
                    "on the host (nvidia-smi must work), or add a precompiled driver image to the bundle.")
        raise BundleError(msg, hint) from None


class GpuOperatorStep(HelmChartStep):
    """``helm upgrade --install gpu-operator`` from the bundle's chart, with air-gapped values."""

    id = "gpu-operator.install"
    title = "Install the NVIDIA GPU Operator"
    component = "gpu_operator"
    release = RELEASE
    chart_name = "gpu-operator"
    values_file = VALUES_FILE

    def __init__(self, bundle_dir: Path, settings: GpuOperatorSettings, *,
                 images: ContainerdTarget | None = None) -> None:
        super().__init__(bundle_dir, NAMESPACE, settings.version, images=images)
        self.settings = settings

    def values(self, ctx: StepContext) -> dict[str, Any]:
        """Values from the profile, the host's driver and the bundle's images."""
        return values_for(self.settings, host_facts(ctx).host_driver, self.bundle_dir)

    def runtime_images(self, ctx: StepContext, documents: list[dict[str, Any]],
                       values: dict[str, Any]) -> list[ImageUse]:
        """The operands the operator deploys from the ClusterPolicy: ``helm template`` shows none of their pods."""
        system = host_facts(ctx).system
        return [ImageUse(ref, f"{key} operand (deployed by the operator from the ClusterPolicy)")
                for key, ref in operand_images(values, f"{system.os_id}{system.os_version}").items()]

    def run(self, ctx: StepContext) -> None:
        """Say which driver is used, then install."""
        driver = host_facts(ctx).host_driver
        if use_host_driver(self.settings, driver):
            ctx.log(f"using the host's NVIDIA driver {driver or '(driver: host)'}")
        else:
            ctx.log("no host NVIDIA driver: the operator's driver container will build it, which needs OS "
                    "packages an air-gapped host usually lacks", "warning")
        super().run(ctx)


class GpuWaitStep(WaitForNodeResourceStep):
    """Wait until the node advertises ``nvidia.com/gpu``."""

    id = "gpu-operator.wait"
    title = "Wait until the node advertises its GPUs"
    component = "gpu_operator"

    def __init__(self, settings: GpuOperatorSettings, *, poll_interval: float = 5.0, **kwargs: Any) -> None:
        hint = (f"See `microk8s kubectl -n {NAMESPACE} get pods`: every operand image must be imported, NFD must "
                "label the node (feature.node.kubernetes.io/pci-10de.present), and the validator needs a working "
                "nvidia-smi on the host.")
        super().__init__(GPU_RESOURCE, settings.wait_timeout, hint, poll_interval=poll_interval, **kwargs)
