"""The real command runner, with the twin's executables first on PATH: how the demo runs its simulated MicroK8s.

Nothing is recorded or faked here: every command really runs. ``microk8s``, ``snap``,
``netplan``, ``ip`` and ``systemctl`` are the twin's (answering from its state folder and
the demo's real containerd); everything else (``ctr``, ``zstd``) is this machine's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from installer.demo.twin import twin_env
from installer.demo.twin.state import Config
from installer.engine.commands import CommandResult, Daemon, RealRunner, Redactor, Stdin
from installer.engine.events import EventSink, LogLine

SIMULATED = ("microk8s", "snap", "netplan", "ip", "systemctl")
"""The programs the twin plays (``ln``/``mv``/``rm`` are the real ones, kept inside the host tree)."""


class TwinRunner(RealRunner):
    """A :class:`RealRunner` whose children find the twin named by ``config`` first."""

    def __init__(self, config: Config, sink: EventSink | None = None, redactor: Redactor | None = None) -> None:
        super().__init__(sink, redactor)
        self.twin_env = twin_env(config)
        self.announce: str | None = (f"simulated MicroK8s: {', '.join(SIMULATED)} are the MicroK8s twin "
                                     f"(state in {config.state_dir}, host tree {config.host_root}); "
                                     "every other command is this machine's")
        """Said once, in the run's own log, before the first command."""

    def _execute(self, argv: tuple[str, ...], *, timeout: float | None, stdin: Stdin,
                 env: dict[str, str] | None, mutates: bool,
                 on_stdout_line: Callable[[str], None] | None) -> CommandResult:
        if self.announce is not None:
            self.sink.emit(LogLine(level="info", message=self.announce))
            self.announce = None
        return super()._execute(argv, timeout=timeout, stdin=stdin, env={**self.twin_env, **(env or {})},
                                mutates=mutates, on_stdout_line=on_stdout_line)

    def daemon(self, argv: Sequence[str], log: Path) -> Daemon:
        """A long-running twin command (its ``kubectl port-forward``), finding the twin first like every command."""
        return Daemon(argv, log, env=self.twin_env)

    def which(self, program: str) -> str | None:
        """Where ``program`` is on the twin's PATH."""
        return shutil.which(program, path=self.twin_env["PATH"])
