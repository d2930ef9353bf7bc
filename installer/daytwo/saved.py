"""The profile the install applied, kept in the state folder so day-two changes start from it.

The install writes it (with its secrets, mode 0600 in the root-only state folder: the
hub's values are made from it again). A change writes the wanted profile as
``profile.pending.yaml`` before it touches the hub and moves it over ``profile.yaml``
only when the upgrade finished, so an interrupted change is found and resumed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from installer.config.profile import Profile, dump_profile, parse_profile
from installer.engine.files import atomic_write
from installer.errors import UsageError

PROFILE_NAME: Final = "profile.yaml"
PENDING_NAME: Final = "profile.pending.yaml"


def save_installed(state_dir: Path, profile: Profile, *, name: str = PROFILE_NAME) -> Path:
    """Write ``profile`` (secrets included, bundle folder absolute) to the state folder, 0600."""
    absolute = profile.model_copy(update={"bundle": profile.bundle_dir()})
    path = state_dir / name
    atomic_write(path, dump_profile(absolute, include_secrets=True).encode(), mode=0o600)
    return path


def load_installed(state_dir: Path, *, name: str = PROFILE_NAME) -> Profile:
    """The profile the install (or the last finished change) applied.

    Raises:
        UsageError: no install saved one in ``state_dir``.
        ProfileError: the saved file was edited into an invalid profile (naming its line).
    """
    path = state_dir / name
    if not path.is_file():
        msg = f"no installed profile in {state_dir} ({name} is missing)"
        raise UsageError(msg, "Install first (`sudo ./install.sh --profile ...`), or give the install's "
                              "--state-dir.")
    return parse_profile(path.read_text(encoding="utf-8"), path)


def pending(state_dir: Path) -> Profile | None:
    """The profile of a change that started and did not finish, or ``None``."""
    return load_installed(state_dir, name=PENDING_NAME) if (state_dir / PENDING_NAME).is_file() else None


def start_change(state_dir: Path, profile: Profile) -> None:
    """Record the wanted profile before the hub is touched."""
    save_installed(state_dir, profile, name=PENDING_NAME)


def finish_change(state_dir: Path) -> None:
    """The change is applied: the pending profile becomes the installed one (one atomic rename)."""
    os.replace(state_dir / PENDING_NAME, state_dir / PROFILE_NAME)
