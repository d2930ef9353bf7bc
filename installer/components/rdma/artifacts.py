"""What the RDMA shared device plugin needs from the bundle: one pinned image.

Upstream's DaemonSet uses ``:latest``, which breaks offline; the profile pins the tag.
The DaemonSet and ConfigMap are rendered by the installer, so no chart is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from installer.config.profile import Profile

IMAGE: Final = "ghcr.io/mellanox/k8s-rdma-shared-dev-plugin"


def required_images(profile: Profile) -> list[str]:
    """The plugin image at the profile's pinned tag."""
    return [f"{IMAGE}:{profile.rdma.image_tag}"]


def required_charts(profile: Profile) -> list[tuple[str, str]]:
    """No chart."""
    return []


def required_snaps(profile: Profile) -> list[str]:
    """No snaps."""
    return []
