"""Profile section ``microk8s``: the Kubernetes base every other component runs on."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Literal

from pydantic import Field

from installer.config.base import Section

Channel = Literal["1.30", "1.31", "1.32", "1.33"]


class MicroK8sSettings(Section):
    """How MicroK8s is installed and configured."""

    channel: Channel = "1.32"
    """MicroK8s track; decides the base images (calico, pause, coredns) the bundle must hold."""
    install_snaps: bool = True
    """Install snapd, core20 and microk8s from the bundle when MicroK8s is absent."""
    dns_servers: list[IPv4Address] = Field(default_factory=list)
    """Upstream DNS for the cluster; empty means take them from the host's resolv.conf.
    Never falls back to 8.8.8.8 (unreachable on an air-gapped host): with no server at all,
    CoreDNS forwards nowhere and answers only the cluster's own names (a warning says so)."""
    ready_timeout: int = Field(600, ge=30, le=7200)
    """Seconds to wait for ``microk8s status --wait-ready``."""
    bundle_server_port: int = Field(25080, ge=1, le=65535)
    """Port of the bundle server ``./install.sh add-node`` starts on this member for joining nodes
    (MicroK8s's own cluster agent listens on 25000)."""
    bundle_server_minutes: int = Field(60, ge=1, le=1440)
    """Minutes that server (and the join token it prints) stay valid; then it stops by itself."""
    add_default_route: bool = True
    """Add a link-scope default route when the host has none (the apiserver needs one)."""
