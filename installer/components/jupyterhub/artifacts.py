"""What JupyterHub (z2jh) needs from the bundle: its chart, core images and the notebook images.

Core images are those of z2jh's ``[core]`` list (``IMAGES.txt`` of the chart oracle):
the image-awaiter and kube-scheduler are left out because the installer turns the
pre-puller and the user scheduler off. Every *enabled* notebook image of the catalog
is needed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from installer.bundle.imageref import normalize_ref
from installer.errors import ProfileError

if TYPE_CHECKING:
    from installer.config.profile import Profile

CHART: Final = "jupyterhub"


@dataclass(frozen=True)
class HubImages:
    """The chart's own images by role, as the bundle holds them."""

    hub: str
    proxy: str
    network_tools: str

    def refs(self) -> tuple[str, ...]:
        """Every ref, hub first."""
        return (self.hub, self.proxy, self.network_tools)


KNOWN_HUB_IMAGES: Final[dict[str, HubImages]] = {
    "4.2.0": HubImages(hub="quay.io/jupyterhub/k8s-hub:4.2.0",
                       proxy="quay.io/jupyterhub/configurable-http-proxy:4.6.3",
                       network_tools="quay.io/jupyterhub/k8s-network-tools:4.2.0"),
}
"""Images of each supported chart version (its values.yaml): the values pin them by role."""
PAUSE_IMAGES: Final[dict[str, str]] = {"4.2.0": "registry.k8s.io/pause:3.10"}
"""The chart's ``[core]`` pause image (user placeholders, off here, but carried so they can be turned on)."""


def required_images(profile: Profile) -> list[str]:
    """Normalised refs: the chart's core images, then each enabled notebook image."""
    version = profile.jupyterhub.chart_version
    if version not in KNOWN_HUB_IMAGES:
        msg = f"no image list for z2jh chart version {version!r} (known: {', '.join(KNOWN_HUB_IMAGES)})"
        raise ProfileError(msg, "Set jupyterhub.chart_version to a known version.")
    refs = [*KNOWN_HUB_IMAGES[version].refs(), PAUSE_IMAGES[version]]
    for image in profile.jupyterhub.images:
        ref = normalize_ref(image.image)
        if image.enabled and ref not in refs:
            refs.append(ref)
    return refs


def required_charts(profile: Profile) -> list[tuple[str, str]]:
    """The z2jh chart at the profile's version."""
    return [(CHART, profile.jupyterhub.chart_version)]


def required_snaps(profile: Profile) -> list[str]:
    """No snaps."""
    return []
