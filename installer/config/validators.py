"""Value types for profile fields that end up in commands, YAML and Kubernetes objects.

They are strict on purpose: a user name or image reference with a newline, ``$(...)``
or a quote is rejected at load time with the key named, long before anything could
reach a command (which never goes through a shell anyway).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

_USER = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9][a-zA-Z0-9.-]*(?::[0-9]+)?/)?"  # registry
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"  # path
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"  # tag
    r"(?:@sha256:[a-f0-9]{64})?$"
)
_SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")
_K8S_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_REGISTRY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(:[0-9]{1,5})?$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _user(value: str) -> str:
    if not _USER.match(value):
        msg = (f"{value!r} is not a valid user name: use lower-case letters, digits and . _ @ - "
               "(at most 64 characters, starting with a letter or digit)")
        raise ValueError(msg)
    return value


def check_image_ref(value: str) -> str:
    """``value`` when it is an image reference, else ValueError saying what one looks like."""
    if not _IMAGE.match(value):
        msg = f"{value!r} is not a valid image reference (expected e.g. quay.io/jupyter/scipy-notebook:2024-12-09)"
        raise ValueError(msg)
    return value


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        msg = f"{value!r} is not a valid name: lower-case letters, digits and '-', at most 63 characters"
        raise ValueError(msg)
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        msg = f"{value!r} is not a Kubernetes quantity (expected e.g. 10Gi or 512Mi)"
        raise ValueError(msg)
    return value


def _version(value: str) -> str:
    if not _VERSION.match(value):
        msg = (f"{value!r} is not a version or tag: letters, digits and . _ + - only (it becomes part of a file name "
               "and an image reference), e.g. 4.2.0 or v25.3.4")
        raise ValueError(msg)
    return value


def _k8s_name(value: str) -> str:
    if not _K8S_NAME.match(value):
        msg = f"{value!r} is not a Kubernetes object name: lower-case letters, digits, '-' and '.'"
        raise ValueError(msg)
    return value


def _registry(value: str) -> str:
    if not _REGISTRY.match(value):
        msg = f"{value!r} is not a registry host: a host name or address with an optional :port, e.g. harbor.lab:5000"
        raise ValueError(msg)
    return value


def _interface(value: str) -> str:
    if not _INTERFACE.match(value):
        msg = f"{value!r} is not a network interface name (at most 15 letters, digits and _ . : @ -), e.g. ib0"
        raise ValueError(msg)
    return value


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        msg = "must be one line of text without control characters"
        raise ValueError(msg)
    return value


PATH_MAX = 4095
"""Longest path Linux accepts (``PATH_MAX`` less the final NUL)."""
NAME_MAX = 255
"""Longest file name in one path component (ext4, xfs, tmpfs)."""


def shorten(text: str, limit: int = 80) -> str:
    """``text``, or its start and its length when it is longer than ``limit`` (a 100 KB path in a message)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_folder_path(value: Path) -> Path:
    """A path the kernel can take: no NUL or other control character, within ``PATH_MAX`` and ``NAME_MAX``."""
    text = str(value)
    if _CONTROL.search(text):
        msg = f"{shorten(repr(text))} holds a control character (a NUL byte or a newline): not a usable path"
        raise ValueError(msg)
    longest = max((len(part.encode("utf-8", "surrogateescape")) for part in value.parts), default=0)
    if len(text.encode("utf-8", "surrogateescape")) > PATH_MAX or longest > NAME_MAX:
        msg = (f"{shorten(text)} is too long for a path (at most {PATH_MAX} bytes, {NAME_MAX} per folder name)")
        raise ValueError(msg)
    return value


UserName = Annotated[str, AfterValidator(_user)]
ImageRef = Annotated[str, AfterValidator(check_image_ref)]
Slug = Annotated[str, AfterValidator(_slug)]
Quantity = Annotated[str, AfterValidator(_quantity)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
Version = Annotated[str, AfterValidator(_version)]
"""A chart version or image tag (``4.2.0``, ``v25.3.4``): part of file names and image refs."""
K8sName = Annotated[str, AfterValidator(_k8s_name)]
"""A Kubernetes object name such as a StorageClass (DNS subdomain rules)."""
RegistryHost = Annotated[str, AfterValidator(_registry)]
"""``host[:port]`` of an image registry."""
InterfaceName = Annotated[str, AfterValidator(_interface)]
"""A Linux network interface name (``ib0``, ``enp65s0f0np0``)."""
FolderPath = Annotated[Path, AfterValidator(check_folder_path)]
"""A folder's path as the kernel will take it."""
OneLine = Annotated[str, AfterValidator(_one_line)]
"""Free text that must stay on one line (no newline or other control character)."""
