"""Subcommands. Each module here defines ``NAME``, ``HELP``, ``EXAMPLES``,
``configure(parser)`` and ``run(args) -> ExitCode``; :mod:`installer.cli` registers
the modules listed in :data:`VERBS` in that order (the order ``--help`` shows:
on the server first, then the connected side).
"""

from __future__ import annotations

VERBS: tuple[str, ...] = (
    "preflight",
    "status",
    "images",
    "plan",
    "verify",
    "check",
    "import_",
    "upgrade",
    "uninstall",
    "add_node",
    "join",
    "bundle",
    "export",
    "schema",
)
