"""What the last successful install (or upgrade) applied, kept in the state folder for day two.

An upgrade compares the new bundle's manifest with the one installed, and re-applies the
releases with the installed profile (its secrets included, else the hub's values would
change): both are saved under ``<state>/installed/`` when a run ends well. The folder is
root-only, the profile file 0600, like the values files beside it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from installer.bundle.manifest import Manifest, load_manifest
from installer.config.profile import Profile, dump_profile, parse_profile
from installer.engine.files import atomic_write
from installer.errors import BundleError, ProfileError, UsageError

INSTALLED_DIR: Final = "installed"
UNINSTALLED_DIR: Final = "uninstalled"
"""Where an uninstall moves the record: a later ``uninstall --delete-data`` still knows the namespace."""
MANIFEST_NAME: Final = "manifest.yaml"
PROFILE_NAME: Final = "profile.yaml"
RECORD_NAME: Final = "installed.json"


@dataclass(frozen=True)
class Installed:
    """The installed profile, the manifest of the bundle it came from (``None``: a folder without one)."""

    profile: Profile
    manifest: Manifest | None
    bundle: Path
    folder: Path


def installed_dir(state_dir: Path) -> Path:
    """Where the installed record of ``state_dir`` lives."""
    return state_dir / INSTALLED_DIR


def save_installed(state_dir: Path, profile: Profile, bundle: Path) -> None:
    """Record ``profile`` (with its secrets, 0600) and ``bundle``'s manifest as what this host runs now."""
    folder = installed_dir(state_dir)
    source = bundle / MANIFEST_NAME
    if source.is_file():
        atomic_write(folder / MANIFEST_NAME, source.read_bytes(), 0o600)
    else:
        (folder / MANIFEST_NAME).unlink(missing_ok=True)
    atomic_write(folder / PROFILE_NAME, dump_profile(profile, include_secrets=True).encode(), 0o600)
    record = {"bundle": str(bundle), "saved": time.time()}
    atomic_write(folder / RECORD_NAME, (json.dumps(record, indent=1) + "\n").encode(), 0o600)


def load_installed(state_dir: Path, *, uninstalled: bool = False) -> Installed | None:
    """The installed record, or ``None`` when no install finished with this state folder.

    With ``uninstalled``, the record of an uninstalled installation stands in when there is no other.

    Raises:
        UsageError: the record is there but damaged (naming the file and what to do).
    """
    folder = installed_dir(state_dir)
    if uninstalled and not (folder / PROFILE_NAME).is_file():
        folder = state_dir / UNINSTALLED_DIR
    profile_path = folder / PROFILE_NAME
    if not profile_path.is_file():
        return None
    try:
        profile = parse_profile(profile_path.read_text(encoding="utf-8"), profile_path)
        manifest_path = folder / MANIFEST_NAME
        manifest = load_manifest(manifest_path) if manifest_path.is_file() else None
        record = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
        bundle = Path(str(record["bundle"]))
    except (OSError, ValueError, KeyError, TypeError, ProfileError, BundleError) as exc:
        msg = f"the installed record in {folder} is damaged: {exc}"
        raise UsageError(msg, "Give the profile the install used with --profile FILE.") from None
    return Installed(profile, manifest, bundle, folder)
