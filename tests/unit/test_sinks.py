"""What people and programs see: console lines, JSON lines, and the log file."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

from installer.engine.commands import Redactor
from installer.engine.events import (
    CheckReported,
    CommandRan,
    FileWritten,
    ItemFinished,
    LogLine,
    PlanFinished,
    PlanStarted,
    StepFinished,
    StepProgress,
    StepStarted,
)
from installer.engine.logfile import LogFileSink
from installer.engine.sizes import human_bytes
from installer.headless.console import ConsoleSink, JsonLinesSink

EVENTS = [
    PlanStarted(steps=(("import", "Import images"),), dry_run=False),
    StepStarted(step_id="import", title="Import images", index=1, total=1),
    StepProgress(step_id="import", done=50, total=100, item="hub.tar", overall_done=50, overall_total=200),
    ItemFinished(step_id="import", item="hub.tar", status="ok"),
    ItemFinished(step_id="import", item="bad.tar", status="failed", reason="checksum mismatch"),
    CommandRan(argv=("ctr", "images", "import", "-"), returncode=1, duration=0.5,
               stderr_tail="ctr: invalid tar header"),
    CheckReported(check_id="disk", title="Disk space", status="fail", found="3 GiB free", required="40 GiB",
                  hint="free space on /var"),
    StepFinished(step_id="import", status="failed", reason="1 of 2 images failed", hint="see above", duration=1.0),
    PlanFinished(status="failed", summary="0 of 1 steps done", exit_code=1),
]


def test_plain_console_is_append_only_and_says_what_failed() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out, tty=False)
    for event in EVENTS:
        sink.emit(event)
    text = out.getvalue()
    assert "\r" not in text and "\033" not in text  # no terminal control codes in logs
    assert "[1/1] Import images" in text
    assert "FAIL  bad.tar: checksum mismatch" in text
    assert "ctr: invalid tar header" in text  # failed command output is shown
    assert "hint: free space on /var" in text
    assert "failed: 0 of 1 steps done" in text


def test_tty_console_draws_a_progress_bar() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out, tty=True)
    sink.emit(EVENTS[1])
    sink.emit(StepProgress(step_id="import", done=100, total=100, item="hub.tar", overall_done=100, overall_total=100))
    assert "[##############################]" in out.getvalue()


def test_dry_run_console_shows_commands_and_file_contents() -> None:
    out = io.StringIO()
    sink = ConsoleSink(out, tty=False)
    sink.emit(CommandRan(argv=("microk8s", "enable", "dns:10.0.0.2"), returncode=0, duration=0, dry_run=True))
    sink.emit(FileWritten(path="/var/lib/x/values.yaml", mode=0o600, content="hub:\n  a: 1\n", dry_run=True))
    text = out.getvalue()
    assert "$ microk8s enable dns:10.0.0.2" in text
    assert "would write /var/lib/x/values.yaml (mode 0600)" in text
    assert "| hub:" in text


def test_json_lines_are_one_object_per_event() -> None:
    out = io.StringIO()
    sink = JsonLinesSink(out)
    for event in EVENTS:
        sink.emit(event)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(EVENTS)
    decoded = [json.loads(line) for line in lines]
    assert [d["event"] for d in decoded][:3] == ["plan_started", "step_started", "step_progress"]
    assert decoded[2]["overall_total"] == 200
    assert all("ts" in d for d in decoded)


def test_log_file_is_private_and_redacted(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "install.log"
    sink = LogFileSink(path, Redactor(["pa55word-xyz"]))
    sink.emit(CommandRan(argv=("helm", "install"), returncode=0, duration=1.25, stdout_tail="token pa55word-xyz ok"))
    sink.emit(LogLine(level="debug", message="detail pa55word-xyz"))
    sink.close()
    text = path.read_text()
    assert "pa55word-xyz" not in text
    assert "command rc=0 1.25s: helm install" in text
    assert "stdout| token *** ok" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_human_bytes() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**3) == "3.0 GiB"
