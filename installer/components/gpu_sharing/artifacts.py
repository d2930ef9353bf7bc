"""What GPU sharing needs from the bundle: nothing for time-slicing; HAMi's chart and images for ``hami``.

Images of HAMi chart v2.8.3 (Project-HAMi/HAMi@v2.8.3 ``charts/hami``; docs/upstream-facts.md):

* ``docker.io/projecthami/hami:v2.8.3``: scheduler extender, device plugin and its monitor
  (``values.yaml`` ``scheduler.extender.image``, ``devicePlugin.image``, ``devicePlugin.monitor.image``,
  all tagged ``global.imageTag`` by ``templates/_helpers.tpl``);
* ``docker.io/liangjw/kube-webhook-certgen:v1.1.1``: the admission certificate hook Jobs on
  Kubernetes >= 1.22 (``scheduler.patch.imageNew``; ``job-patch/job-createSecret.yaml``);
* kube-scheduler, run beside the extender in the scheduler pod: the chart tags it with the
  cluster's version (``_helpers.tpl`` ``resolvedKubeSchedulerTag``) from an Aliyun mirror; the
  installer pins ``registry.k8s.io/kube-scheduler:v<channel>.0`` instead, for the MicroK8s track
  of the profile (the first release of the track is never newer than the API server, as the
  Kubernetes version skew policy requires of kube-scheduler).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from installer.errors import ProfileError

if TYPE_CHECKING:
    from installer.components.gpu_sharing.settings import GpuSharingSettings
    from installer.config.profile import Profile

CHART: Final = "hami"
KNOWN_IMAGES: Final[dict[str, dict[str, str]]] = {
    "2.8.3": {
        "hami": "docker.io/projecthami/hami:v2.8.3",
        "certgen": "docker.io/liangjw/kube-webhook-certgen:v1.1.1",
    },
}
"""HAMi's own images by chart version (values.yaml at the tag), besides kube-scheduler."""
SCHEDULER_REPOSITORY: Final = "registry.k8s.io/kube-scheduler"


def sharing(profile: Profile) -> GpuSharingSettings:
    """The profile's ``gpu_sharing`` section (read without the registry, which imports this module)."""
    return profile.gpu_sharing


def scheduler_image(profile: Profile) -> str:
    """HAMi's kube-scheduler: the profile's, else the first release of its MicroK8s track."""
    settings = sharing(profile)
    return settings.hami_scheduler_image or f"{SCHEDULER_REPOSITORY}:v{profile.microk8s.channel}.0"


def hami_images(settings: GpuSharingSettings) -> dict[str, str]:
    """HAMi's images (``hami``, ``certgen``) for the chart version.

    Raises:
        ProfileError: no image list for that chart version.
    """
    table = KNOWN_IMAGES.get(settings.hami_chart_version.lstrip("v"))
    if table is None:
        msg = f"no image list for HAMi chart version {settings.hami_chart_version!r} (known: {', '.join(KNOWN_IMAGES)})"
        raise ProfileError(msg, "Set gpu_sharing.hami_chart_version to a known version.")
    return dict(table)


def required_images(profile: Profile) -> list[str]:
    """HAMi's images and its kube-scheduler for ``mode: hami``; time-slicing needs none."""
    settings = sharing(profile)
    if settings.mode != "hami":
        return []
    return [*hami_images(settings).values(), scheduler_image(profile)]


def required_charts(profile: Profile) -> list[tuple[str, str]]:
    """The HAMi chart for ``mode: hami``."""
    settings = sharing(profile)
    return [(CHART, settings.hami_chart_version)] if settings.mode == "hami" else []


def required_snaps(profile: Profile) -> list[str]:
    """No snaps."""
    return []
