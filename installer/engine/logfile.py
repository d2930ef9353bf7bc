"""The log file: every event, and every command with its full output and duration.

It is what an operator sends when asking for help, so it keeps what the screen
hides (command output on success, debug lines), with secrets already redacted by
the runner and the file writer. Created with mode 0600 in a root-only folder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import stat
import sys
import threading
from pathlib import Path
from typing import IO, Final

from installer.engine.commands import Redactor
from installer.engine.events import CommandRan, Event, FileWritten
from installer.errors import UsageError

DEFAULT_ROOT_LOG: Final = Path("/var/log/jupyterhub-offline-installer/install.log")


def default_log_path() -> Path:
    """``/var/log/...`` as root, else the user's state folder."""
    if os.geteuid() == 0:
        return DEFAULT_ROOT_LOG
    state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return state / "jupyterhub-offline-installer" / "install.log"


class LogFileSink:
    """Appends every event to a text log, one timestamped line each (plus command output)."""

    def __init__(self, path: Path, redactor: Redactor | None = None) -> None:
        self.path = path
        self.redact = redactor or Redactor()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            if stat.S_ISREG(os.fstat(fd).st_mode):  # never chmod a device (--log-file /dev/null)
                os.fchmod(fd, 0o600)
        except OSError as exc:
            msg = f"cannot open the log file {path}: {exc.strerror or exc}"
            raise UsageError(msg, "Pass --log-file with a writable path.") from exc
        self._handle: IO[str] = os.fdopen(fd, "a", encoding="utf-8")
        self._lock = threading.Lock()
        self._broken = False

    def emit(self, event: Event) -> None:
        """Write the event; command output and file contents go on indented lines below."""
        stamp = dt.datetime.fromtimestamp(event.ts).isoformat(timespec="milliseconds")
        lines = [f"{stamp} {self._describe(event)}"]
        if isinstance(event, CommandRan):
            for label, text in (("stdout", event.stdout_tail), ("stderr", event.stderr_tail)):
                lines.extend(f"    {label}| {line}" for line in text.splitlines())
        with self._lock:
            if self._broken:
                return
            try:
                self._handle.write(self.redact("\n".join(lines)) + "\n")
                self._handle.flush()
            except OSError as exc:  # a full /var/log must not stop an install half-way: say so once, go on
                self._broken = True
                sys.stderr.write(f"warning: cannot write the log file {self.path} ({exc.strerror or exc}); "
                                 "the install goes on without it\n")

    @staticmethod
    def _describe(event: Event) -> str:
        if isinstance(event, CommandRan):
            prefix = "DRY-RUN " if event.dry_run else ""
            return f"{prefix}command rc={event.returncode} {event.duration:.2f}s: {' '.join(event.argv)}"
        if isinstance(event, FileWritten):
            return (f"file {'(dry-run) ' if event.dry_run else ''}{event.path} "
                    f"mode={event.mode:04o} {len(event.content)} chars")
        fields = {k: v for k, v in event.to_dict().items() if k not in ("event", "ts")}
        return f"{event.name} " + " ".join(f"{k}={v!r}" for k, v in fields.items())

    def close(self) -> None:
        """Close the file."""
        with self._lock, contextlib.suppress(OSError):
            self._handle.close()
