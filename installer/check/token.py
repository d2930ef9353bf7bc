"""The check's own API token: made once by the install, kept root-only in the state folder, given to the hub
as a ``hub.services`` entry (z2jh 4.2.0 ``hub.services.<name>.apiToken`` and ``hub.loadRoles``; see
docs/upstream-facts.md). It never goes on a command line; whoever reads it registers it with the Redactor.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Final

from installer.check.run import TEST_USER
from installer.errors import StepFailed

SERVICE: Final = "installer-check"
"""The hub service the check acts as (the test user must not share this name: a service cannot delete itself)."""
SCOPES: Final = ("admin:users", "admin:servers", f"tokens!user={TEST_USER}")
"""Create and delete the test user; read and stop its servers; mint and revoke the test user's (and only its)
short-lived token, which the check starts, follows and stops the servers with."""
TOKEN_FILE: Final = "check-token"


def token_path(state_dir: Path) -> Path:
    """Where the token is kept."""
    return state_dir / TOKEN_FILE


def ensure_token(state_dir: Path) -> str:
    """The token in ``state_dir``, made (0600, created with that mode: never readable by others) when absent."""
    path = token_path(state_dir)
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    if token:
        return token
    token = secrets.token_hex(32)
    save_token(state_dir, token)
    return token


def save_token(state_dir: Path, token: str) -> None:
    """Write ``token`` to the state folder, 0600 from the start."""
    path = token_path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(token + "\n")


def read_token(state_dir: Path) -> str:
    """The token the install made.

    Raises:
        StepFailed: there is none (the hub was installed without the check's service).
    """
    path = token_path(state_dir)
    try:
        token = path.read_text(encoding="ascii").strip()
    except OSError as error:
        token = ""
        reason = error.strerror or str(error)
    else:
        reason = "it is empty"
    if not token:
        raise StepFailed(f"no API token for the check in {path} ({reason})",
                         "run the install again (it adds the check's hub service and its token), or pass "
                         "--state-dir pointing at the install's state folder")
    return token


def service_values(token: str) -> dict[str, Any]:
    """The ``hub`` values that give the check its service and roles (merged into the chart's ``hub`` section)."""
    return {"services": {SERVICE: {"apiToken": token}},
            "loadRoles": {SERVICE: {"scopes": list(SCOPES), "services": [SERVICE]}}}
