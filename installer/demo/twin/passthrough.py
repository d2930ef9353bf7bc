"""The real programs behind the twin (``ctr``, ``helm``, the guarded ``ln``/``mv``/``rm``), run through the one runner.

The twin is itself a program the installer runs; when it hands a command on to a real
program it uses the installer's :class:`RealRunner` like every other module (argv list,
no shell, killed with its parent), then relays the output and the exit code.
"""

from __future__ import annotations

import sys

from installer.engine.commands import CommandResult, RealRunner


def run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float | None = 120.0,
        probe: bool = False) -> CommandResult:
    """Run ``argv`` and return its result (stdout exactly as written)."""
    return RealRunner().run(argv, timeout=timeout, check=False, env=env, mutates=not probe, raw_stdout=True)


def relay(argv: list[str], *, env: dict[str, str] | None = None, stdin: bool = False) -> int:
    """Run ``argv`` as if this process were it: its stdout, stderr and exit code (stdin only when asked)."""
    result = RealRunner().run(argv, timeout=None, check=False, env=env, raw_stdout=True,
                              stdin=sys.stdin.buffer if stdin else None)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return 127 if result.returncode is None else result.returncode
