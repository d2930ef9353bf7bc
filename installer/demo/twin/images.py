"""The twin's image store: the real containerd of the test fixtures, reached with the real ``ctr``.

Whatever the installer imported (or did not) is exactly what the twin's node and pods
see: there is no list of "images the twin pretends to have".
"""

from __future__ import annotations

import os
from functools import cache

from installer.demo.twin import passthrough
from installer.demo.twin.state import Config


def normalize(ref: str) -> str:
    """A Docker-style reference in full form (``busybox:1.28.4`` -> ``docker.io/library/busybox:1.28.4``).

    The rules of distribution/reference ParseNormalizedNamed, as containerd's CRI applies
    them to a pod's image: no domain means docker.io, a single path element gets library/,
    no tag means :latest.
    """
    name, digest = [*ref.split("@", 1), ""][:2]
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + (name if "/" in name else "library/" + name)
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest:
        name += ":latest"
    return name + (f"@{digest}" if digest else "")


def snapshotter(config: Config) -> str:
    """microk8s@1.32 microk8s-resources/actions/common/utils.sh ``snapshotter()``: native on ZFS, else overlayfs."""
    return "native" if config.fs_type == "zfs" else "overlayfs"


def ctr_argv(config: Config, *args: str) -> list[str]:
    """``$SNAP/bin/ctr`` with ``$SNAP_DATA/args/ctr`` (microk8s@1.32 default-args/ctr): socket and k8s.io."""
    return ["ctr", "--address", str(config.containerd_socket), "--namespace", config.namespace, *args]


def ctr_env(config: Config) -> dict[str, str]:
    """microk8s@1.32 microk8s-resources/wrappers/microk8s-ctr.wrapper exports CONTAINERD_SNAPSHOTTER."""
    return {**os.environ, "CONTAINERD_SNAPSHOTTER": snapshotter(config)}


def exec_ctr(config: Config, args: list[str]) -> int:
    """``microk8s ctr ARGS``: the real ctr (an archive given as ``-`` streams through from stdin)."""
    return passthrough.relay(ctr_argv(config, *args), env=ctr_env(config), stdin="-" in args)


@cache
def present(config: Config) -> frozenset[str]:
    """Normalised refs containerd holds now (one ``ctr images ls -q`` per twin command)."""
    done = passthrough.run(ctr_argv(config, "images", "ls", "-q"), env=ctr_env(config), timeout=60, probe=True)
    if not done.ok:
        return frozenset()
    return frozenset(normalize(r) for r in done.stdout.split() if not r.startswith("sha256:"))


def has(config: Config, ref: str) -> bool:
    """Whether containerd holds ``ref`` (normalised)."""
    return normalize(ref) in present(config)
