"""The pause image MicroK8s's containerd starts every pod with (its ``sandbox_image``).

The base image list assumes a pause tag per channel; the MicroK8s that is actually
installed says which one it uses. Offline, a missing pause image leaves every pod in
``ContainerCreating`` with no clearer sign, so the import step checks the live
configuration against the bundle and containerd and stops with the ref to add.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, NamedTuple

from installer.bundle.imageref import normalize_ref

CONTAINERD_TEMPLATE: Final = Path("/var/snap/microk8s/current/args/containerd-template.toml")
"""What MicroK8s renders its containerd configuration from (the live file is rewritten from it)."""

_SANDBOX: Final = re.compile(r"""^\s*(?:sandbox_image|sandbox)\s*=\s*["']([^"']+)["']""", re.MULTILINE)
"""``sandbox_image = "..."`` (containerd config v2) or ``sandbox = "..."`` (v3, pinned images)."""


class SandboxImage(NamedTuple):
    """The configured pause image and the file that says so."""

    ref: str
    """Normalised ref."""
    source: Path
    """The configuration file, as a path on the host."""


def configured_sandbox_image(host_root: Path = Path("/")) -> SandboxImage | None:
    """The installed MicroK8s's pause image; ``None`` when MicroK8s (or the setting) is not there."""
    try:
        text = (host_root / CONTAINERD_TEMPLATE.relative_to("/")).read_text(errors="replace")
    except OSError:
        return None
    match = _SANDBOX.search(text)
    if match is None or "$" in match.group(1):  # a ${VARIABLE} MicroK8s fills in: nothing to check against
        return None
    return SandboxImage(normalize_ref(match.group(1)), CONTAINERD_TEMPLATE)
