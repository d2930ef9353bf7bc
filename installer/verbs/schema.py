"""``./install.sh schema``: print the profile JSON schema (every key, its type and meaning)."""

from __future__ import annotations

import argparse
import sys

from installer.config.profile import schema_json
from installer.errors import ExitCode

NAME = "schema"
HELP = "print the JSON schema of profile files"
EXAMPLES = "./install.sh schema > profile-schema.json"


def configure(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> ExitCode:
    """Print the schema to stdout."""
    sys.stdout.write(schema_json())
    return ExitCode.OK
