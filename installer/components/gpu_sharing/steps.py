"""HAMi's step: its chart from the bundle, installed before the GPU Operator.

HAMi's device plugin waits for the operator's toolkit itself (``gpuOperatorToolkitReady``),
so its release can go first; the GPU Operator's wait step then waits for the
``nvidia.com/gpu`` HAMi advertises (``hami_split_count`` per GPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from installer.components.gpu_sharing.artifacts import CHART
from installer.components.gpu_sharing.values import HAMI_NAMESPACE, HAMI_RELEASE, hami_values
from installer.components.kube import HelmChartStep, kube_version
from installer.engine.plan import StepContext
from installer.errors import StepFailed

if TYPE_CHECKING:
    from installer.components.release_images import ContainerdTarget

VALUES_FILE: Final = "hami-values.yaml"


def minor(version: str) -> str:
    """``v1.32.3`` -> ``1.32``."""
    return ".".join(version.lstrip("v").split(".")[:2])


class HamiStep(HelmChartStep):
    """``helm upgrade --install hami`` from the bundle's chart, its scheduler matching the cluster."""

    id = "gpu-sharing.hami"
    title = "Install HAMi (GPU memory and core slicing)"
    component = "gpu_sharing"
    release = HAMI_RELEASE
    chart_name = CHART
    values_file = VALUES_FILE

    def __init__(self, bundle_dir: Path, chart_version: str, *, images: ContainerdTarget | None = None) -> None:
        super().__init__(bundle_dir, HAMI_NAMESPACE, chart_version, images=images)

    def values(self, ctx: StepContext) -> dict[str, Any]:
        """Values from the profile: pinned images, split count, the GPU nodes."""
        return hami_values(ctx.profile)

    def refuse_scheduler_skew(self, ctx: StepContext, values: dict[str, Any]) -> None:
        """Stop when HAMi's kube-scheduler is of another minor version than the cluster's API server."""
        if ctx.dry_run:
            return
        image = values["scheduler"]["kubeScheduler"]["image"]
        cluster = kube_version(ctx)
        if minor(image["tag"]) != minor(cluster):
            ref = f"{image['registry']}/{image['repository']}:{image['tag']}"
            msg = f"HAMi's scheduler image {ref} does not match the cluster's Kubernetes {cluster}"
            hint = (f"Set microk8s.channel to {minor(cluster)} (or gpu_sharing.hami_scheduler_image to a "
                    f"kube-scheduler {minor(cluster)}.x image), export the bundle again and rerun.")
            raise StepFailed(msg, hint)

    def run(self, ctx: StepContext) -> None:
        """Check the scheduler's version, then install."""
        self.refuse_scheduler_skew(ctx, self.values(ctx))
        super().run(ctx)
