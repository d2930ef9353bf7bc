"""Subcommands. Each module here defines ``NAME``, ``HELP``, ``EXAMPLES``,
``configure(parser)`` and ``run(args) -> ExitCode``; :mod:`installer.cli` registers
the modules listed in :data:`VERBS` in that order.
"""

from __future__ import annotations

VERBS: tuple[str, ...] = (
    "schema",
    "export",
    "preflight",
    "plan",
    "verify",
    "import_",
    "bundle",
)
