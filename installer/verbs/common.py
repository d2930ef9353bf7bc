"""Options and helpers shared by the subcommands, so every verb spells them the same way."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from installer.config.profile import Profile, load_profile
from installer.config.validators import check_folder_path
from installer.engine.printable import printable


def add_profile_option(parser: argparse.ArgumentParser, *, required: bool = False,
                       help: str = "profile YAML (default: built-in defaults)") -> None:  # noqa: A002 - argparse's word
    """``--profile FILE``.

    Defaults are SUPPRESS, here and below: an option given before the verb
    (``install.sh --profile P plan``) is not reset by the verb's own parser.
    """
    parser.add_argument("--profile", type=Path, metavar="FILE", required=required, default=argparse.SUPPRESS,
                        help="profile YAML" if required else help)


def folder_path(text: str) -> Path:
    """An argparse type: a path the kernel can take (no control character, within PATH_MAX), else a usage error."""
    try:
        return check_folder_path(Path(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_bundle_option(parser: argparse.ArgumentParser, *,
                      help: str = "offline-images folder (default: the profile's, else offline-images/ next to install.sh)",  # noqa: A002
                      ) -> None:
    """``--bundle DIR``."""
    parser.add_argument("--bundle", type=folder_path, metavar="DIR", default=argparse.SUPPRESS, help=help)


def add_host_root_option(parser: argparse.ArgumentParser, *,
                         help: str = "read /sys, /proc and /etc under DIR (a copy of the target host's)",  # noqa: A002
                         ) -> None:
    """``--host-root DIR``."""
    parser.add_argument("--host-root", type=Path, metavar="DIR", default=argparse.SUPPRESS, help=help)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``."""
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")


def profile_from_args(args: argparse.Namespace) -> Profile:
    """The profile named by ``--profile`` (or the defaults), with ``--bundle`` applied when given."""
    path = getattr(args, "profile", None)
    profile = load_profile(path) if path else Profile()
    bundle = getattr(args, "bundle", None)
    return profile.with_bundle(bundle) if bundle is not None else profile


def bundle_from_args(args: argparse.Namespace, profile: Profile | None = None) -> Path:
    """``--bundle`` if given, else the profile's bundle folder."""
    if getattr(args, "bundle", None):
        return Path(args.bundle)
    return (profile or profile_from_args(args)).bundle_dir()


def emit_json(document: Any) -> None:
    """Print exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def stderr(message: str) -> None:
    """A diagnostic line (never on stdout, which belongs to results)."""
    sys.stderr.write(printable(message) + "\n")
    sys.stderr.flush()
