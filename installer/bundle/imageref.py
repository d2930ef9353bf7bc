"""How an image is named: one parser and one normal form for the whole installer.

containerd, Kubernetes and the manifest all spell a ref in full (``docker.io/library/``
for short names, ``:latest`` when no tag is given), the rules of distribution/reference
``ParseNormalizedNamed``; :func:`parse_ref` checks each part and says which one is wrong
(export, at the operator's input), :func:`normalize_ref` is its never-failing form for refs
read from archives, manifests, charts and ``ctr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

DEFAULT_DOMAIN: Final = "docker.io"

_COMPONENT: Final = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE: Final = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE: Final = re.compile(
    r"^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)"
    r"(?::[0-9]+)?$"
)
_TAG_RE: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE: Final = re.compile(r"^sha256:[a-f0-9]{64}$")


@dataclass(frozen=True)
class ImageRef:
    """A parsed, normalised image reference (``domain/path[:tag][@digest]``)."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = f"{self.domain}/{self.path}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def repository(self) -> str:
        """``domain/path`` without tag or digest (what ``docker pull`` takes with a separate tag)."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar(self) -> str:
        """The short form Docker prints in ``RepoTags`` (``busybox:1.36`` for ``docker.io/library/busybox:1.36``)."""
        name = self.repository
        if self.domain == DEFAULT_DOMAIN:
            name = self.path.removeprefix("library/") if self.path.count("/") == 1 else self.path
        text = name + (f":{self.tag}" if self.tag else "")
        return text + (f"@{self.digest}" if self.digest else "")


def parse_ref(text: str) -> ImageRef:
    """Parse and normalise an image reference.

    Raises:
        ValueError: saying which part of ``text`` is wrong.
    """
    raw = text.strip()
    if not raw or any(c.isspace() for c in raw):
        msg = f"{text!r} is not an image reference (empty or contains spaces)"
        raise ValueError(msg)
    name, _, digest = raw.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        msg = f"{text!r}: the digest must be sha256:<64 hex digits>"
        raise ValueError(msg)
    tag: str | None = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG_RE.match(tag):
            msg = f"{text!r}: {tag!r} is not a valid tag"
            raise ValueError(msg)
    first, sep, rest = name.partition("/")
    if sep and (("." in first or ":" in first or first == "localhost") or first != first.lower()):
        domain, path = first, rest
        if not _DOMAIN_RE.match(domain):
            msg = f"{text!r}: {domain!r} is not a valid registry host"
            raise ValueError(msg)
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain in ("index.docker.io", "registry-1.docker.io"):
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    if not _PATH_RE.match(path):
        msg = f"{text!r}: {path!r} is not a valid repository path (lower-case letters, digits, '.', '_', '-', '/')"
        raise ValueError(msg)
    if tag is None and not digest:
        tag = "latest"
    return ImageRef(domain, path, tag, digest or None)


def normalize_ref(ref: str) -> str:
    """The full form of ``ref`` (``busybox`` -> ``docker.io/library/busybox:latest``; ``calico/cni:v3`` ->
    ``docker.io/calico/cni:v3``); a string that is no valid ref comes back stripped but otherwise as is."""
    try:
        return str(parse_ref(ref))
    except ValueError:
        return ref.strip()
