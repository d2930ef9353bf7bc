"""The result file: what the last install on this host did, for the next ``./install.sh`` to say.

An install goes on when its terminal closes (an SSH session that drops), so the
operator who logs in again needs to learn, from a new ``./install.sh``, that an
install is still running (its pid and log) or how the last one ended. The run
writes ``last-run.json`` in the state folder when it takes the lock and again when
it ends; whether it still runs is decided by the lock (``flock`` dies with its
holder), never by the file alone, so a killed run is reported as such.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from installer.engine.files import atomic_write
from installer.engine.lock import LOCK_NAME

RESULT_NAME: Final = "last-run.json"
"""The result file's name inside the state folder."""


@dataclass(frozen=True)
class RunRecord:
    """One install run as the result file keeps it."""

    status: str
    """``running``, then ``ok``, ``failed`` or ``interrupted``."""
    pid: int
    host: str
    started: float
    log_file: str = ""
    finished: float | None = None
    exit_code: int | None = None
    summary: str = ""
    terminal_closed: bool = False
    """True when the run lost its terminal and went on without it."""


def result_path(state_dir: Path) -> Path:
    """Where the result file of ``state_dir`` lives."""
    return state_dir / RESULT_NAME


def record_start(state_dir: Path, log_file: Path | None) -> RunRecord:
    """Say that an install runs now (called while holding the install lock)."""
    record = RunRecord(status="running", pid=os.getpid(), host=socket.gethostname(), started=time.time(),
                       log_file=str(log_file or ""))
    write_record(state_dir, record)
    return record


def write_record(state_dir: Path, record: RunRecord) -> None:
    """Write the result file (mode 0600: the state folder is root's); a full disk must not stop the run."""
    with contextlib.suppress(OSError):
        atomic_write(result_path(state_dir), (json.dumps(asdict(record), indent=1) + "\n").encode(), 0o600)


def read_record(state_dir: Path) -> RunRecord | None:
    """The last run's record, or ``None`` (no run yet, or a file that is not ours)."""
    try:
        data = json.loads(result_path(state_dir).read_text(encoding="utf-8"))
        return RunRecord(**data) if isinstance(data, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def lock_holder(state_dir: Path) -> str | None:
    """Who holds the install lock of ``state_dir`` (its own words: purpose, pid, host, since), or ``None``.

    Tried with a shared lock that is dropped at once: a live holder's exclusive lock refuses it.
    """
    try:
        fd = os.open(state_dir / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        return os.pread(fd, 512, 0).decode(errors="replace").strip() or "an unknown process"
    finally:
        os.close(fd)  # closing drops the shared lock at once
    return None


def _clock(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "?"


def describe_last_run(state_dir: Path) -> tuple[bool, str] | None:
    """``(running, one paragraph)`` about the last install of ``state_dir``, or ``None`` when there was none."""
    record = read_record(state_dir)
    holder = lock_holder(state_dir)
    if holder is not None:  # the lock's words, as the run that would meet it says them
        running = f"another installer is running ({holder}); lock file {state_dir / LOCK_NAME}"
        if record is not None and record.log_file:
            running += f"; log: {record.log_file} (follow it with: tail -f {record.log_file})"
        return True, running
    if record is None:
        return None
    log = f"; log: {record.log_file}" if record.log_file else ""
    if record.status == "running":
        return False, (f"the last install (pid {record.pid}, started {_clock(record.started)}) stopped before "
                       f"it ended (killed, or the machine restarted){log}. Running it again resumes it.")
    how = {"ok": "finished", "failed": "failed", "interrupted": "was interrupted"}.get(record.status, record.status)
    closed = " after its terminal closed" if record.terminal_closed else ""
    summary = f" ({record.summary})" if record.summary else ""
    return False, (f"the last install {how}{closed} at {_clock(record.finished)}, exit code "
                   f"{record.exit_code}{summary}{log}")
