"""Edits of the notebook image catalog of a saved profile, each validated as a whole profile.

An entry is "on the shelf" when ``enabled``: only those are offered in the hub's
``profileList``; taking one off the shelf leaves running servers alone (KubeSpawner reads
the list only when a server starts). Every edit goes through the profile's own validation
(unique names, one entry at least on the shelf, quantities), so a bad option is refused
with the key it names before anything changes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from installer.components.jupyterhub.settings import NotebookImage
from installer.config.profile import Profile, dump_profile, parse_profile
from installer.errors import ProfileError, UsageError


def find_entry(profile: Profile, name: str) -> NotebookImage:
    """The catalog entry called ``name``.

    Raises:
        UsageError: no such entry (the message lists the names there are).
    """
    for image in profile.jupyterhub.images:
        if image.name == name:
            return image
    names = ", ".join(i.name for i in profile.jupyterhub.images)
    msg = f"no catalog entry named '{name}'"
    raise UsageError(msg, f"The catalog holds: {names} (`./install.sh images list`).")


def _with_images(profile: Profile, images: list[dict[str, Any]], source: Path) -> Profile:
    """``profile`` with this catalog, validated as a profile file would be.

    Raises:
        UsageError: the change makes an invalid profile; the message names the key and the value (the
            line of the regenerated text would mean nothing to the operator, so it is left out).
    """
    data = yaml.safe_load(dump_profile(profile, include_secrets=True))
    data["jupyterhub"]["images"] = images
    try:
        return parse_profile(yaml.safe_dump(data, sort_keys=False), source)
    except ProfileError as exc:
        reason = re.sub(rf"^{re.escape(str(source))}(:[0-9]+)?: ", "", exc.message)
        msg = f"the catalog change is refused: {reason}"
        raise UsageError(msg, f"Nothing was changed. Give a valid value (`./install.sh schema` documents "
                              f"each key); the installed profile is {source}.") from None


def _entries(profile: Profile) -> list[dict[str, Any]]:
    return [i.model_dump(mode="json", exclude_none=True) for i in profile.jupyterhub.images]


def add_entry(profile: Profile, entry: dict[str, Any], source: Path) -> Profile:
    """``profile`` with ``entry`` appended (a ``default`` entry takes the mark from the others).

    Raises:
        UsageError: an entry of that name exists.
    """
    if any(i.name == entry.get("name") for i in profile.jupyterhub.images):
        msg = f"the catalog already has an entry named '{entry.get('name')}'"
        raise UsageError(msg, "Give another --name, or change that entry with `./install.sh images edit`.")
    entries = _entries(profile)
    if entry.get("default"):
        entries = [{**e, "default": False} for e in entries]
    return _with_images(profile, [*entries, entry], source)


def edit_entry(profile: Profile, name: str, changes: dict[str, Any], source: Path) -> Profile:
    """``profile`` with the entry ``name`` changed (``None`` values clear an optional field)."""
    find_entry(profile, name)
    entries = _entries(profile)
    if changes.get("default"):
        entries = [{**e, "default": False} for e in entries]
    out = [{k: v for k, v in {**entry, **changes}.items() if v is not None} if entry["name"] == name else entry
           for entry in entries]
    return _with_images(profile, out, source)


def remove_entry(profile: Profile, name: str, source: Path) -> Profile:
    """``profile`` without the entry ``name``."""
    find_entry(profile, name)
    return _with_images(profile, [e for e in _entries(profile) if e["name"] != name], source)


def catalog_rows(profile: Profile) -> list[dict[str, Any]]:
    """The catalog as the ``images list`` and ``status`` show it (``on_shelf``: offered to new servers)."""
    return [{"name": i.name, "display_name": i.display_name, "image": i.image, "on_shelf": i.enabled,
             "default": i.default, "gpus": i.gpus, "cpu_limit": i.cpu_limit, "mem_limit": i.mem_limit}
            for i in profile.jupyterhub.images]
