"""Value types for profile fields that end up in commands, YAML and Kubernetes objects.

They are strict on purpose: a user name or image reference with a newline, ``$(...)``
or a quote is rejected at load time with the key named, long before anything could
reach a command (which never goes through a shell anyway).
"""

from __future__ import annotations

import re
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


def _user(value: str) -> str:
    if not _USER.match(value):
        msg = (f"{value!r} is not a valid user name: use lower-case letters, digits and . _ @ - "
               "(at most 64 characters, starting with a letter or digit)")
        raise ValueError(msg)
    return value


def _image(value: str) -> str:
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


UserName = Annotated[str, AfterValidator(_user)]
ImageRef = Annotated[str, AfterValidator(_image)]
Slug = Annotated[str, AfterValidator(_slug)]
Quantity = Annotated[str, AfterValidator(_quantity)]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]
