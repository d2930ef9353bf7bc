"""What the MicroK8s base needs from the bundle: its snaps and the images every node runs.

Image lists per channel come from MicroK8s's ``build-scripts/images.txt``, the calico
manifest, the containerd ``sandbox_image`` and the dns/hostpath-storage addons (see
the research notes); without them the node stays NotReady offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from installer.errors import ProfileError

if TYPE_CHECKING:
    from installer.config.profile import Profile

_BASE_IMAGES: Final[dict[str, tuple[str, ...]]] = {
    channel: (
        f"docker.io/calico/cni:{calico}",
        f"docker.io/calico/node:{calico}",
        f"docker.io/calico/kube-controllers:{calico}",
        f"registry.k8s.io/pause:{pause}",
        f"docker.io/coredns/coredns:{coredns}",
        "docker.io/cdkbot/hostpath-provisioner:1.5.0",
        "docker.io/library/busybox:1.28.4",
    )
    for channel, calico, pause, coredns in (
        ("1.30", "v3.25.1", "3.7", "1.10.1"),
        ("1.31", "v3.25.1", "3.7", "1.10.1"),
        ("1.32", "v3.28.1", "3.10", "1.10.1"),
        ("1.33", "v3.29.3", "3.10", "1.12.1"),  # pause assumed as in 1.32; the import step checks the real one
    )
}
SNAPS: Final = ("snapd", "core20", "microk8s")
"""Install order: a recent snapd (core20 assumes snapd 2.61), the base, then MicroK8s."""


def required_images(profile: Profile) -> list[str]:
    """Normalised refs of the images the base cluster runs for the profile's channel."""
    channel = profile.microk8s.channel
    if channel not in _BASE_IMAGES:
        msg = f"no image list for MicroK8s channel {channel!r} (known: {', '.join(_BASE_IMAGES)})"
        raise ProfileError(msg, "Pick one of the known channels in microk8s.channel.")
    return list(_BASE_IMAGES[channel])


def required_charts(profile: Profile) -> list[tuple[str, str]]:
    """MicroK8s brings no Helm chart."""
    return []


def required_snaps(profile: Profile) -> list[str]:
    """Snap names, in install order; none when the profile does not install snaps."""
    return list(SNAPS) if profile.microk8s.install_snaps else []
