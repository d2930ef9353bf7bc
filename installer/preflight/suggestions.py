"""What the hardware suggests turning on, with settings filled from what was found.

The wizard pre-selects components from these; headless runs print them. Each optional
component's descriptor says what its hardware looks like (a GPU for the GPU Operator, an
active InfiniBand or RoCE port for the RDMA plugin); this module asks each in install order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from installer.components import registry
from installer.components.base import Suggestion

if TYPE_CHECKING:
    from installer.probes.model import HostFacts

__all__ = ["Suggestion", "suggest"]


def suggest(facts: HostFacts) -> list[Suggestion]:
    """Suggestions for every optional component that has one, in install order."""
    return [c.suggest(facts) for c in registry.optional_components() if c.suggest is not None]
