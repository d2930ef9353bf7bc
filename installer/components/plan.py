"""The install plan, built from the registry's components.

:data:`~installer.components.registry.COMPONENTS` is the one list of components; the plan adds its own steps (preflight,
the bundle check, the image import) between the phases of the components' steps
(``checks``, ``host``, ``cluster``, ``apps``: see :data:`~installer.components.base.Phase`).
For the built-in components that gives:

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
``check``                              optional, on by default: a server per image, probed, removed
=====================================  ====================================================

The image import, the route and the kubelet fix come before ``wait-ready`` on purpose:
``microk8s status --wait-ready`` waits for a Ready node, and offline the node turns Ready
only once calico's ``install-cni`` (image ``calico/cni``) has run and the ``pause`` sandbox
image exists (microk8s ``scripts/wrappers/common/utils.py`` is_cluster_ready; microk8s#2015,
#3956); without a default route the apiserver never gets ready at all. Waiting first would
only time out, on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from installer.bundle.importer import DEFAULT_NAMESPACE, MICROK8S_SOCKET
from installer.components.base import PHASES, StepInputs
from installer.components.registry import COMPONENTS, enabled_components
from installer.components.release_images import ContainerdTarget
from installer.engine.plan import Plan, Step

if TYPE_CHECKING:
    from installer.config.profile import Profile

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
    check: bool = True
    """End with the acceptance check (``--no-check`` turns it off)."""

    def bundle(self, profile: Profile) -> Path:
        """The bundle folder in effect."""
        return profile.bundle_dir(self.bundle_dir)


def import_step(options: PlanOptions, profile: Profile) -> Step:
    """The bundle's image import step for the components this profile installs.

    It reads the bundle the run hands it (``ctx.bundle``, the folder in effect).
    """
    from installer.bundle.step import ImportImagesStep

    return ImportImagesStep([c.key for c in enabled_components(profile)], jobs=options.jobs,
                            socket=options.containerd_socket, namespace=options.namespace)


def build_plan(profile: Profile, options: PlanOptions | None = None) -> Plan:
    """The ordered steps for ``profile``: the plan's own steps, and each enabled component's by phase.

    Args:
        profile: the profile.
        options: how to run; defaults to a real install with the profile's bundle.
    """
    options = options or PlanOptions()
    bundle_dir = options.bundle(profile)
    # The Helm and RDMA steps require their images in the containerd the import step fills.
    images = ContainerdTarget(options.containerd_socket, options.namespace) if options.import_images else None
    inputs = StepInputs(bundle_dir, images, options.poll_interval)
    phased = [c.steps(profile, inputs) for c in COMPONENTS if c.enabled(profile)]
    by_phase = {phase: [step for steps in phased for step in steps.phase(phase)] for phase in PHASES}
    steps: list[Step] = []
    if options.preflight:
        from installer.preflight.report import ImageTarget
        from installer.preflight.step import PreflightStep

        target = ImageTarget(options.containerd_socket, options.namespace) if options.import_images else None
        steps.append(PreflightStep(bundle_dir=bundle_dir, images_target=target))
    if options.import_images:
        from installer.bundle.step import BundleCheckStep

        steps.append(BundleCheckStep())
    steps += by_phase["checks"] + by_phase["host"]
    if options.import_images:
        steps.append(import_step(options, profile))
    steps += by_phase["cluster"] + by_phase["apps"]
    if options.check:
        from installer.check.step import AcceptanceCheckStep

        steps.append(AcceptanceCheckStep(profile.jupyterhub))
    return Plan(steps)
