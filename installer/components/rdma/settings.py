"""Profile section ``rdma``: the Mellanox RDMA shared device plugin."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from installer.config.base import Section
from installer.config.validators import InterfaceName, Version


class RdmaSettings(Section):
    """RDMA shared device plugin options; selectors default to what preflight detects."""

    enabled: bool = False
    """Install the plugin (needs an active InfiniBand or RoCE port)."""
    image_tag: Version = "v1.5.3"
    """Pinned plugin image tag (upstream's manifest uses ``:latest``, which breaks offline)."""
    resource_name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")] = "hca_shared_devices_a"
    """Pods request ``rdma/<resource_name>``."""
    hca_max: int = Field(1000, ge=1, le=100000)
    """How many pods may share one HCA (``rdmaHcaMax``)."""
    interfaces: list[InterfaceName] = Field(default_factory=list)
    """Network interfaces to expose (``ifNames``); empty means those of the active ports found."""
    vendors: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{4}$")]] = Field(
        default_factory=lambda: ["15b3"])
    """PCI vendor ids to select (``15b3`` is Mellanox/NVIDIA networking)."""
    link_types: list[Literal["infiniband", "ether"]] = Field(default_factory=list)
    """``infiniband`` and/or ``ether`` (RoCE); empty means as detected."""
    wait_timeout: int = Field(300, ge=30, le=3600)
    """Seconds to wait until the node advertises the ``rdma/...`` resource."""
