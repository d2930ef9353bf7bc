"""The components, in install order: the one list everything else reads.

A new component is its package (with a ``Component`` in its ``component.py``) and one line in
:data:`COMPONENTS`. This module imports only the descriptors, so the bundle, the profile and the
suggestions can ask it which components exist without importing the install plan, which is
built in :mod:`installer.components.plan`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from installer.components.base import Component
from installer.components.gpu_operator.component import COMPONENT as GPU_OPERATOR
from installer.components.gpu_sharing.component import COMPONENT as GPU_SHARING
from installer.components.jupyterhub.component import COMPONENT as JUPYTERHUB
from installer.components.microk8s.component import COMPONENT as MICROK8S
from installer.components.rdma.component import COMPONENT as RDMA

if TYPE_CHECKING:
    from installer.config.profile import Profile

_LOGGER: Final = logging.getLogger(__name__)

COMPONENTS: tuple[Component[Any], ...] = (
    MICROK8S,
    GPU_SHARING,
    GPU_OPERATOR,
    RDMA,
    JUPYTERHUB,
)
"""Every component, in install order (within each phase of the plan). A new component is its
package (with a ``Component``) and one line here: the profile, the bundle, export, suggestions,
the wizard and the plan read this tuple, at call time (the profile model when first imported)."""


def components() -> tuple[Component[Any], ...]:
    """Every component, in install order."""
    return COMPONENTS


def component(key: str) -> Component[Any]:
    """The component whose profile section is ``key``.

    Raises:
        KeyError: no such component.
    """
    for candidate in COMPONENTS:
        if candidate.key == key:
            return candidate
    raise KeyError(key)


def optional_components() -> tuple[Component[Any], ...]:
    """The components the operator may leave out (the wizard's switches), in install order."""
    return tuple(c for c in COMPONENTS if c.optional)


def bundle_order() -> tuple[Component[Any], ...]:
    """The order of the bundle's sections and image imports: those every install needs first."""
    return tuple(c for c in COMPONENTS if not c.optional) + optional_components()


def enabled_components(profile: Profile) -> list[Component[Any]]:
    """The components ``profile`` installs, in bundle order."""
    return [c for c in bundle_order() if c.enabled(profile)]
