"""GPU Operator steps: install the chart from the bundle, then wait for ``nvidia.com/gpu``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from installer.components.bundled import load_bundle_manifest, pin_to_bundle
from installer.components.gpu_operator.artifacts import KNOWN_IMAGES, driver_image, driver_os_tag
from installer.components.gpu_operator.settings import GpuOperatorSettings
from installer.components.gpu_operator.values import (
    MissingImages,
    gpu_operator_values,
    known_images,
    operand_images,
    toolkit_guards_host_containerd,
    use_host_driver,
)
from installer.components.gpu_sharing.values import device_plugin_overrides
from installer.components.kube import HelmChartStep, WaitForNodeResourceStep, chart_names, helm_release
from installer.components.release_images import ContainerdTarget, ImageUse
from installer.engine.plan import StepContext
from installer.errors import BundleError, StepFailed
from installer.preflight.facts import host_facts

_LOGGER: Final = logging.getLogger(__name__)

RELEASE: Final = "gpu-operator"
NAMESPACE: Final = "gpu-operator-resources"
VALUES_FILE: Final = "gpu-operator-values.yaml"
GPU_RESOURCE: Final = "nvidia.com/gpu"


def bundle_images(version: str, bundle_dir: Path, host_os: str | None = None) -> dict[str, str]:
    """The operand images pinned to what the bundle holds (all wanted ones when there is no manifest).

    With ``host_os`` the driver image must be that OS's exactly: the operator appends the
    node's OS to the tag, so another OS's image (or another tag) would never be used.
    """
    wanted = known_images(version)
    if host_os and "driver" in wanted:
        wanted["driver"] = driver_image(wanted, host_os)
    pinned = pin_to_bundle(wanted, load_bundle_manifest(bundle_dir), ["gpu_operator"])
    if host_os and pinned.get("driver") not in (None, wanted.get("driver")):
        del pinned["driver"]
    return pinned


def values_for(settings: GpuOperatorSettings, host_driver: str | None, bundle_dir: Path,
               host_os: str | None = None, *, device_plugin: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The GPU Operator values for this host and bundle.

    Args:
        settings: the profile's ``gpu_operator`` section.
        host_driver: the host's NVIDIA driver version, if any.
        bundle_dir: the offline bundle.
        host_os: the host's OS as the operator tags driver images (``ubuntu24.04``), if known.
        device_plugin: keys GPU sharing sets in ``devicePlugin`` (its time-slicing config, or
            ``enabled: false`` under HAMi: ``gpu_sharing.values.device_plugin_overrides``).

    Raises:
        BundleError: the chart version is unknown or the bundle lacks an operand it needs.
    """
    images = bundle_images(settings.version, bundle_dir, host_os)
    if not images:
        msg = f"no image list for GPU Operator chart {settings.version}"
        hint = f"Set gpu_operator.version to a supported chart version: {', '.join(KNOWN_IMAGES)}."
        raise BundleError(msg, hint)
    try:
        values = gpu_operator_values(settings, host_driver=host_driver, images=images)
    except MissingImages as exc:
        msg = f"the bundle has no image for GPU Operator operand(s): {', '.join(exc.missing)}"
        hint = "Rebuild the bundle with the GPU Operator enabled (`./install.sh export --profile ...`)."
        if "driver" in exc.missing:
            hint = ("No NVIDIA driver was found on the host and the bundle has no driver image. Install the driver "
                    "on the host (nvidia-smi must work), or add a precompiled driver image to the bundle.")
            table = known_images(settings.version)
            if host_os and "driver" in table:
                image = driver_image(table, host_os)
                hint = (f"No NVIDIA driver was found on the host and the bundle has no {image} (the operator runs "
                        "the driver image of the host's OS). Install the driver on the host (nvidia-smi must work), "
                        f"or add the image: `./install.sh export --profile PROFILE --image {image}`.")
        raise BundleError(msg, hint) from None
    values["devicePlugin"].update(device_plugin or {})
    return values


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
        facts = host_facts(ctx)
        return values_for(self.settings, facts.host_driver, self.bundle_dir,
                          driver_os_tag(facts.system.os_id, facts.system.os_version),
                          device_plugin=device_plugin_overrides(ctx.profile))

    def extra_helm_args(self, ctx: StepContext) -> list[str]:
        """``--disable-openapi-validation`` when a release of another chart version is upgraded.

        The chart's CRD-upgrade hook (``operator.upgradeCRD: true``, the default) "requires
        --disable-openapi-validation flag to be passed during helm upgrade" (gpu-operator@v25.3.4
        and @v25.10.1 ``deployments/gpu-operator/values.yaml``): the old ClusterPolicy CRD
        would reject the new chart's fields. A fresh install or a re-run of the same version
        gets nothing extra.
        """
        found = helm_release(ctx, self.release, self.namespace)
        if found is None or found.chart in chart_names(self.chart_name, self.chart_version):
            return []
        ctx.log(f"upgrading {self.release} from {found.chart} to chart {self.chart_version}: the chart's CRD upgrade "
                "needs --disable-openapi-validation")
        return ["--disable-openapi-validation"]

    def refuse_unguarded_toolkit(self, ctx: StepContext) -> None:
        """Stop before a toolkit that would copy a host ``containerd``'s config into MicroK8s's (gpu-operator#1367).

        Preflight judged the chart's own toolkit; the bundle may pin another tag of it
        (before v1.17.6 nothing stops its ``containerd config dump``).
        """
        found = host_facts(ctx).system.host_containerd
        if not (self.settings.toolkit and found):
            return
        toolkit = bundle_images(self.settings.version, self.bundle_dir).get("toolkit", "")
        if toolkit and not toolkit_guards_host_containerd(toolkit):
            msg = (f"the bundle's NVIDIA toolkit {toolkit} would write the config of {found[0]} into MicroK8s's "
                   "containerd-template.toml, and MicroK8s's containerd would restart without CRI (gpu-operator#1367)")
            hint = (f"Remove {found[0]} (apt remove docker.io containerd, or docker-ce containerd.io), or put the "
                    f"chart's own toolkit image in the bundle ({known_images(self.settings.version)['toolkit']}).")
            raise StepFailed(msg, hint)

    def runtime_images(self, ctx: StepContext, documents: list[dict[str, Any]],
                       values: dict[str, Any]) -> list[ImageUse]:
        """The operands the operator deploys from the ClusterPolicy: ``helm template`` shows none of their pods."""
        system = host_facts(ctx).system
        return [ImageUse(ref, f"{key} operand (deployed by the operator from the ClusterPolicy)")
                for key, ref in operand_images(values, driver_os_tag(system.os_id, system.os_version)).items()]

    def run(self, ctx: StepContext) -> None:
        """Say which driver is used, then install."""
        self.refuse_unguarded_toolkit(ctx)
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
