"""What the NVIDIA GPU Operator needs from the bundle: its chart and operand images.

Images are those of the chart's ``values.yaml`` at each known version (see the
research notes). The driver container and its manager are needed only when the
operator installs the driver (``driver: operator``). The operator appends the node's
OS to the driver tag (``<version>-<os_release.ID><os_release.VERSION_ID>``, from NFD's
labels: gpu-operator@v25.3.4 ``controllers/object_controls.go`` resolveDriverTag and
kernelFullVersion), so the image must be the one for the target host's Ubuntu release;
an export, which does not know the target, carries one per supported release.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from installer.errors import ProfileError

if TYPE_CHECKING:
    from installer.config.profile import Profile

CHART: Final = "gpu-operator"
KNOWN_IMAGES: Final[dict[str, dict[str, str]]] = {
    "v25.3.4": {
        "operator": "nvcr.io/nvidia/gpu-operator:v25.3.4",
        "validator": "nvcr.io/nvidia/cloud-native/gpu-operator-validator:v25.3.4",
        "initContainer": "nvcr.io/nvidia/cuda:13.0.1-base-ubi9",
        "toolkit": "nvcr.io/nvidia/k8s/container-toolkit:v1.17.8-ubuntu20.04",
        "devicePlugin": "nvcr.io/nvidia/k8s-device-plugin:v0.17.4",
        "gfd": "nvcr.io/nvidia/k8s-device-plugin:v0.17.4",
        "dcgmExporter": "nvcr.io/nvidia/k8s/dcgm-exporter:4.3.1-4.4.0-ubuntu22.04",
        "migManager": "nvcr.io/nvidia/cloud-native/k8s-mig-manager:v0.12.3-ubuntu20.04",
        "driverManager": "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.8.1",
        "driver": "nvcr.io/nvidia/driver:580.82.07",
        "nfd": "registry.k8s.io/nfd/node-feature-discovery:v0.17.3",
    },
    "v25.10.1": {
        "operator": "nvcr.io/nvidia/gpu-operator:v25.10.1",
        "validator": "nvcr.io/nvidia/gpu-operator:v25.10.1",
        "initContainer": "nvcr.io/nvidia/cuda:13.0.1-base-ubi9",
        "toolkit": "nvcr.io/nvidia/k8s/container-toolkit:v1.18.1",
        "devicePlugin": "nvcr.io/nvidia/k8s-device-plugin:v0.18.1",
        "gfd": "nvcr.io/nvidia/k8s-device-plugin:v0.18.1",
        "dcgmExporter": "nvcr.io/nvidia/k8s/dcgm-exporter:4.4.2-4.7.0-distroless",
        "migManager": "nvcr.io/nvidia/cloud-native/k8s-mig-manager:v0.13.1",
        "driverManager": "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.9.1",
        "driver": "nvcr.io/nvidia/driver:580.105.08",
        "nfd": "registry.k8s.io/nfd/node-feature-discovery:v0.18.2",
    },
}
"""Images of each supported chart version (chart values.yaml at the tag), keyed by operand: the
values pin each operand to its image, and the bundle carries the distinct refs."""

DRIVER_ONLY: Final = ("driverManager", "driver")
"""Operands needed only when the operator installs the driver (``driver: operator``)."""
DRIVER_OS_TAGS: Final = ("ubuntu22.04", "ubuntu24.04")
"""The Ubuntu releases preflight supports (``checks.SUPPORTED_OS``), as the operator spells them in driver tags."""
NOT_RUN: Final = ("migManager",)
"""Operands the values always switch off (mig-manager would wipe the host's MIG layout: see ``values``)."""


def driver_os_tag(os_id: str, os_version: str) -> str:
    """``ubuntu24.04``: the suffix the operator gives the driver tag on a host with this os-release."""
    return f"{os_id}{os_version}"


def driver_image(table: dict[str, str], host_os: str) -> str:
    """The driver image the operator runs on a ``host_os`` node (``nvcr.io/nvidia/driver:580.82.07-ubuntu24.04``)."""
    return f"{table['driver']}-{host_os}"


def required_images(profile: Profile, host_os: str | None = None) -> list[str]:
    """Normalised refs for the profile's operator version; driver images only with ``driver: operator``.

    ``host_os`` (``ubuntu24.04``) narrows the driver image to that host's; without it
    (an export for a host not known yet) one per :data:`DRIVER_OS_TAGS` is needed.
    """
    settings = profile.gpu_operator
    table = KNOWN_IMAGES.get(settings.version)
    if table is None:
        msg = f"no image list for GPU Operator version {settings.version!r} (known: {', '.join(KNOWN_IMAGES)})"
        raise ProfileError(msg, "Set gpu_operator.version to a known version.")
    refs = list(dict.fromkeys(ref for key, ref in table.items() if key not in DRIVER_ONLY + NOT_RUN))
    if settings.driver == "operator":
        refs += [table["driverManager"], *(driver_image(table, tag) for tag in ([host_os] if host_os else DRIVER_OS_TAGS))]
    return refs


def required_charts(profile: Profile) -> list[tuple[str, str]]:
    """The gpu-operator chart at the profile's version."""
    return [(CHART, profile.gpu_operator.version)]


def required_snaps(profile: Profile) -> list[str]:
    """No snaps."""
    return []
