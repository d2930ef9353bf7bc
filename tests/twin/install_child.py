"""Run the real installer CLI as its own process, importing into a given containerd socket.

The CLI has no option for the containerd socket of the install (MicroK8s's is fixed);
the twin's image store is the test fixtures' containerd, so this child sets that one
socket as the default and then runs ``installer.cli.main`` unchanged. Everything else
(the headless console, the log file, the lock, the journal, the plan, the RealRunner
running the twin's executables) is the product.

Usage::

    python install_child.py SOCKET -- CLI-ARGS...
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for `installer`

from installer import install_run as session
from installer.cli import main


def run(argv: list[str]) -> int:
    """``SOCKET -- CLI-ARGS``."""
    socket, rest = Path(argv[0]), argv[argv.index("--") + 1:]

    @dataclass
    class TwinInstallOptions(session.InstallOptions):
        containerd_socket: Path = socket

    session.InstallOptions = TwinInstallOptions  # type: ignore[misc]
    return main(rest)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
