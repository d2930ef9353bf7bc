"""Shared base for every profile section: unknown keys are errors, fields are documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A profile section. ``extra="forbid"`` turns a typo into an error with a suggestion."""

    model_config = ConfigDict(extra="forbid", validate_default=True, use_attribute_docstrings=True,
                              str_strip_whitespace=True)
