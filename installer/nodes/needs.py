"""Which images a joining node needs: by its role and by the hardware the probes find on it.

Every enabled component's images go to every node (their pods can be scheduled anywhere: calico
and the pause image on each node, the hub's and every notebook image where users land), except an
optional component whose hardware suggestion says no for this node (its ``suggest``, as the wizard
and preflight use it): the GPU Operator's operands run on nodes with an NVIDIA GPU, the RDMA
plugin's on nodes with an active InfiniBand/RoCE port. A new component with a ``suggest`` is
handled the same way with no change here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from installer.bundle.manifest import Manifest
from installer.bundle.requirements import chosen_components, component_needs
from installer.components import registry
from installer.errors import BundleError

if TYPE_CHECKING:
    from installer.config.profile import Profile
    from installer.probes.model import HostFacts

@dataclass(frozen=True)
class NodeNeeds:
    """What this node fetches: components and image refs, and the hardware that decided it."""

    components: tuple[str, ...]
    refs: tuple[str, ...]
    gpus: int
    infiniband: int
    skipped: tuple[str, ...] = ()
    """Enabled components this node does not run (no such hardware)."""


def node_needs(profile: Profile, facts: HostFacts) -> NodeNeeds:
    """The components and images of ``profile`` this node's hardware runs."""
    chosen = chosen_components(profile)
    components = tuple(c for c in chosen if _runs_here(c, facts))
    refs: dict[str, None] = {}
    for component in components:
        refs.update(dict.fromkeys(component_needs(profile, component).images))
    return NodeNeeds(components, tuple(refs), len(facts.gpus), len(facts.active_ports),
                     tuple(c for c in chosen if c not in components))


def _runs_here(key: str, facts: HostFacts) -> bool:
    """Whether component ``key`` has pods on this node: no hardware suggestion, or one that says yes."""
    suggest = registry.component(key).suggest
    return suggest is None or suggest(facts).suggested


def require_in_manifest(needs: NodeNeeds, manifest: Manifest, where: str) -> None:
    """Refuse before anything changes when the bundle lacks an image this node needs.

    Raises:
        BundleError: naming each missing image and the component that needs it.
    """
    missing = [ref for ref in needs.refs if manifest.find_image(ref) is None]
    if missing:
        hardware = ", ".join(f"{n} {what}" for what, n in (("GPU(s)", needs.gpus), ("InfiniBand port(s)",
                                                                                    needs.infiniband)) if n)
        msg = (f"this node ({hardware or 'no GPU or InfiniBand'}) needs {len(missing)} image(s) the bundle at "
               f"{where} lacks: {', '.join(missing)}")
        raise BundleError(msg, "On the connected machine export them (`./install.sh export ... --image REF`), copy "
                               "the bundle to the member, run `./install.sh add-node` again and use its new "
                               "command. Nothing was changed on this node.")
