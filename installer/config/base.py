"""Shared base for every profile section: unknown keys are errors, fields are documented."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, SecretStr

PASSWORD_PLACEHOLDER = "CHANGE-ME"
"""Written instead of a secret when a profile is saved without secrets; refused on load."""


class Section(BaseModel):
    """A profile section. ``extra="forbid"`` turns a typo into an error with a suggestion."""

    model_config = ConfigDict(extra="forbid", validate_default=True, use_attribute_docstrings=True,
                              str_strip_whitespace=True)


def _exact(value: Any) -> Any:
    return SecretStr(value) if isinstance(value, str) else value


Secret = Annotated[SecretStr, BeforeValidator(_exact)]
"""A password or token, kept exactly as written: :class:`Section` strips spaces around
strings, but a password's leading or trailing spaces are part of it (a stripped one
no longer logs in), and YAML only keeps them when the operator quoted them on purpose."""
