"""The install plan: every component's steps, in the order the cluster needs them.

=====================================  ====================================================
step                                   why it is here
=====================================  ====================================================
``preflight``                          stop before touching the host if it cannot work
``bundle-check``                       stop before touching the host if the bundle lacks anything
``jupyterhub.image-checks``            warn early about notebook images that will not start
``microk8s.snaps``                     snapd, core20, microk8s from the bundle (if absent)
``import-images``                      calico/pause before the node can be Ready (needs only
                                       containerd's socket, up once the snap is installed),
                                       then every enabled component's images
``microk8s.default-route``             without one the apiserver never gets ready
``microk8s.kubelet-dir``               device plugins look in /var/lib/kubelet
``microk8s.wait-ready``                the rest talks to the API
``microk8s.dns``                       CoreDNS with a reachable upstream (never 8.8.8.8)
``microk8s.hostpath-storage``          the hub's and the users' volumes
``gpu-operator.install`` / ``.wait``   optional: ``nvidia.com/gpu`` on the node
``rdma.memlock``                       optional: unlimited locked memory for RDMA in containers
``rdma.plugin`` / ``rdma.wait``        optional: ``rdma/<resource>`` on the node
``jupyterhub.install`` / ``.wait``     the hub, from the local chart
``jupyterhub.url``                     where to go next
=====================================  ====================================================

The image import, the route and the kubelet fix come before ``wait-ready`` on purpose:
``microk8s status --wait-ready`` waits for a Ready node, and offline the node turns Ready
only once calico's ``install-cni`` (image ``calico/cni``) has run and the ``pause`` sandbox
image exists (microk8s ``scripts/wrappers/common/utils.py`` is_cluster_ready; microk8s#2015,
#3956); without a default route the apiserver never gets ready at all. Waiting first would
only time out, on every run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from installer.bundle.importer import DEFAULT_NAMESPACE, MICROK8S_SOCKET
from installer.components.gpu_operator.steps import GpuOperatorStep, GpuWaitStep
from installer.components.jupyterhub.steps import HubUrlStep, HubWaitStep, JupyterHubStep, NotebookImageChecksStep
from installer.components.microk8s.steps import (
    DefaultRouteStep,
    DnsAddonStep,
    HostpathStorageStep,
    InstallSnapsStep,
    KubeletDirStep,
    WaitReadyStep,
)
from installer.components.rdma.steps import ContainerdMemlockStep, RdmaPluginStep, RdmaWaitStep
from installer.components.release_images import ContainerdTarget
from installer.config.profile import Profile
from installer.engine.plan import Plan, Step

_LOGGER: Final = logging.getLogger(__name__)

DEFAULT_CONTAINERD_SOCKET: Final = MICROK8S_SOCKET


@dataclass(frozen=True)
class PlanOptions:
    """What the plan needs besides the profile."""

    dry_run: bool = False
    """Nothing on the host may change (the runner and file writer enforce it; steps only describe waits)."""
    host_root: Path = Path("/")
    """Root of the host's files for probes (a copied tree in tests and support cases)."""
    bundle_dir: Path | None = None
    """The offline-images folder; ``None`` means the profile's."""
    containerd_socket: Path = DEFAULT_CONTAINERD_SOCKET
    """MicroK8s's containerd, where images are imported."""
    namespace: str = DEFAULT_NAMESPACE
    """containerd namespace Kubernetes reads images from."""
    jobs: int = 2
    """Parallel image import lanes."""
    preflight: bool = True
    """Start with the preflight step (the plan command probes the host itself and leaves it out)."""
    import_images: bool = True
    """Import the bundle's images (off for a plan on a machine without the bundle)."""
    poll_interval: float = 5.0
    """Seconds between polls while waiting for a node resource or the hub."""

    def bundle(self, profile: Profile) -> Path:
        """The bundle folder in effect."""
        return profile.bundle_dir(self.bundle_dir)


def import_step(options: PlanOptions, profile: Profile) -> Step:
    """The bundle's image import step for the components this profile installs.

    It reads the bundle the run hands it (``ctx.bundle``, the folder in effect).
    """
    from installer.bundle.requirements import chosen_components
    from installer.bundle.step import ImportImagesStep

    return ImportImagesStep(chosen_components(profile), jobs=options.jobs, socket=options.containerd_socket,
                            namespace=options.namespace)


def build_plan(profile: Profile, options: PlanOptions | None = None) -> Plan:
    """The ordered steps for ``profile``.

    Args:
        profile: the profile.
        options: how to run; defaults to a real install with the profile's bundle.
    """
    options = options or PlanOptions()
    bundle_dir = options.bundle(profile)
    # The Helm and RDMA steps require their images in the containerd the import step fills.
    images = ContainerdTarget(options.containerd_socket, options.namespace) if options.import_images else None
    steps: list[Step] = []
    if options.preflight:
        from installer.preflight.report import ImageTarget
        from installer.preflight.step import PreflightStep

        target = ImageTarget(options.containerd_socket, options.namespace) if options.import_images else None
        steps.append(PreflightStep(bundle_dir=bundle_dir, images_target=target))
    if options.import_images:
        from installer.bundle.step import BundleCheckStep

        steps.append(BundleCheckStep())
    steps.append(NotebookImageChecksStep(bundle_dir, profile.jupyterhub))
    if profile.microk8s.install_snaps:
        steps.append(InstallSnapsStep(bundle_dir, profile.microk8s.channel))
    if options.import_images:
        steps.append(import_step(options, profile))
    steps += [DefaultRouteStep(), KubeletDirStep(), WaitReadyStep(), DnsAddonStep(), HostpathStorageStep()]
    if profile.gpu_operator.enabled:
        steps += [GpuOperatorStep(bundle_dir, profile.gpu_operator, images=images),
                  GpuWaitStep(profile.gpu_operator, poll_interval=options.poll_interval)]
    if profile.rdma.enabled:
        steps += [ContainerdMemlockStep(), RdmaPluginStep(bundle_dir, profile.rdma, images=images),
                  RdmaWaitStep(profile.rdma, poll_interval=options.poll_interval)]
    steps += [JupyterHubStep(bundle_dir, profile.jupyterhub, images=images),
              HubWaitStep(profile.jupyterhub, poll_interval=options.poll_interval),
              HubUrlStep(profile.jupyterhub)]
    return Plan(steps)
