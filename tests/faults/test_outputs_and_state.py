"""Where the installer writes besides the host: the log file, the state folder, stdout.

Each breaks in a way operators hit: `--log-file /dev/null`, a full /var/log, a
state folder that is a file, stdout piped into a command that quits early, and
deployed Helm values holding passwords the current profile does not know.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from installer.engine.commands import WITHHELD, RecordingRunner
from installer.engine.events import CollectingSink, CommandRan, FanOut, LogLine
from installer.engine.journal import Journal
from installer.engine.lock import InstallLock
from installer.engine.logfile import LogFileSink
from installer.errors import ExitCode, UsageError


def _device(path: Path, minor: int) -> Path:
    """A character device like /dev/null (1, 3) or /dev/full (1, 7), made where the test may change it."""
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root (CI runs as root)")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    os.chmod(path, 0o666)
    return path


def test_log_file_on_a_device_keeps_the_device_mode(tmp_path: Path) -> None:
    """`--log-file /dev/null` must not make /dev/null root-only for the whole host."""
    null = _device(tmp_path / "null", 3)
    sink = LogFileSink(null)
    sink.emit(LogLine(level="info", message="hello"))
    sink.close()
    assert stat.S_IMODE(null.stat().st_mode) == 0o666
    regular = tmp_path / "install.log"
    LogFileSink(regular).close()
    assert stat.S_IMODE(regular.stat().st_mode) == 0o600


def test_a_full_log_disk_warns_once_and_the_run_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = _device(tmp_path / "full", 7)
    sink = LogFileSink(full)
    for n in range(3):
        sink.emit(LogLine(level="info", message=f"line {n}" + "x" * 10000))  # no exception reaches the engine
    sink.close()
    err = capsys.readouterr().err
    assert err.count("warning: cannot write the log file") == 1 and str(full) in err


def test_an_output_that_breaks_is_switched_off_and_the_others_go_on() -> None:
    """stdout piped into `head`: the console sink raises BrokenPipeError; the log keeps every event."""

    class Broken:
        def emit(self, event: object) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    log = CollectingSink()
    fan = FanOut(Broken(), log)
    fan.emit(LogLine(level="info", message="first"))
    fan.emit(LogLine(level="info", message="second"))
    messages = [e.message for e in log.of(LogLine)]
    assert messages[0] == "first" and "switched off" in messages[1] and messages[2] == "second"
    assert len(fan.sinks) == 1


def test_a_state_folder_that_cannot_be_made_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(UsageError) as caught, InstallLock(tmp_path / "afile" / "state" / "install.lock"):
        pass
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert str(tmp_path / "afile" / "state") in caught.value.message and "--state-dir" in caught.value.hint


def test_a_damaged_journal_entry_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    path.write_text('{"version": 1, "steps": {"a": "garbage", "b": {"fingerprint": "f"}}}')
    journal = Journal(path)
    assert not journal.finished("a", "f")
    assert journal.finished("b", "f")


def test_secret_output_reaches_the_caller_but_no_event() -> None:
    """Deployed Helm values carry the hub password (maybe an older one the redactor never saw)."""
    sink = CollectingSink()
    runner = RecordingRunner(sink_=sink)
    runner.answer(["microk8s", "helm3", "get", "values"], stdout='{"password": "old-Hub-pass-1"}')
    result = runner.run(["microk8s", "helm3", "get", "values", "jupyterhub"], mutates=False, secret_output=True)
    assert "old-Hub-pass-1" in result.stdout
    event = sink.of(CommandRan)[0]
    assert event.stdout_tail == WITHHELD and "old-Hub-pass-1" not in repr(event)
