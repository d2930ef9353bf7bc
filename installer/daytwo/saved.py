"""The installed profile as day-two catalog changes read and write it.

The install keeps what it applied in the installed record (:mod:`installer.lifecycle.installed`:
the profile with its secrets, 0600 in the root-only state folder, since the hub's values
are made from it again). A catalog change writes the wanted profile there as
``profile.pending.yaml`` before it touches the hub and moves it over ``profile.yaml`` only
when the upgrade finished, so an interrupted change is found and resumed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from installer.config.profile import Profile, dump_profile, parse_profile
from installer.engine.files import atomic_write
from installer.errors import UsageError
from installer.lifecycle.installed import PROFILE_NAME, installed_dir

PENDING_NAME: Final = "profile.pending.yaml"


def profile_path(state_dir: Path) -> Path:
    """The installed profile of ``state_dir``."""
    return installed_dir(state_dir) / PROFILE_NAME


def pending_path(state_dir: Path) -> Path:
    """Where a catalog change keeps its wanted profile until the hub has it."""
    return installed_dir(state_dir) / PENDING_NAME


def load_installed(state_dir: Path) -> Profile:
    """The profile the install (or the last finished change) applied.

    Raises:
        UsageError: no install saved one in ``state_dir``.
        ProfileError: the saved file was edited into an invalid profile (naming its line).
    """
    path = profile_path(state_dir)
    if not path.is_file():
        msg = f"no installed profile in {state_dir} ({path.relative_to(state_dir)} is missing)"
        raise UsageError(msg, "Install first (`sudo ./install.sh --profile ...`), or give the install's "
                              "--state-dir.")
    return parse_profile(path.read_text(encoding="utf-8"), path)


def pending(state_dir: Path) -> Profile | None:
    """The profile of a change that started and did not finish, or ``None``."""
    path = pending_path(state_dir)
    return parse_profile(path.read_text(encoding="utf-8"), path) if path.is_file() else None


def start_change(state_dir: Path, profile: Profile) -> None:
    """Record the wanted profile (secrets included, bundle folder absolute) before the hub is touched."""
    absolute = profile.model_copy(update={"bundle": profile.bundle_dir()})
    atomic_write(pending_path(state_dir), dump_profile(absolute, include_secrets=True).encode(), mode=0o600)


def finish_change(state_dir: Path) -> None:
    """The change is applied: the pending profile becomes the installed one (one atomic rename)."""
    os.replace(pending_path(state_dir), profile_path(state_dir))
