"""The command runner: real programs, timeouts, streaming stdin, redaction, dry-run, recording."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml

from installer.engine.commands import Daemon, DryRunRunner, RealRunner, RecordingRunner, Redactor, command_failed
from installer.engine.events import CollectingSink, CommandRan, FileWritten
from installer.engine.files import WITHHELD_CONTENT, DryRunFileWriter
from installer.errors import CommandFailed

PY = sys.executable


def test_real_runner_captures_output_and_emits_event() -> None:
    sink = CollectingSink()
    result = RealRunner(sink).run([PY, "-c", "print('hello'); import sys; print('warn', file=sys.stderr)"])
    assert result.ok
    assert result.stdout == "hello\n"
    assert result.stderr == "warn\n"
    [event] = sink.of(CommandRan)
    assert event.argv[0] == PY
    assert event.returncode == 0


def test_non_zero_exit_raises_with_command_tail_and_hint() -> None:
    runner = RealRunner()
    with pytest.raises(CommandFailed) as err:
        runner.run([PY, "-c", "import sys; print('boom happened', file=sys.stderr); sys.exit(3)"], hint="do X")
    assert "exited with code 3" in str(err.value)
    assert "boom happened" in str(err.value)
    assert err.value.hint == "do X"
    assert not runner.run([PY, "-c", "import sys; sys.exit(4)"], check=False).ok


def test_timeout_kills_and_says_so() -> None:
    with pytest.raises(CommandFailed, match=r"did not finish within 0\.5 s"):
        RealRunner().run([PY, "-c", "import time; print('started', flush=True); time.sleep(30)"], timeout=0.5)


def test_missing_program_is_127() -> None:
    result = RealRunner().run(["definitely-not-a-program-xyz"], check=False)
    assert result.returncode == 127
    with pytest.raises(CommandFailed, match="could not be started"):
        RealRunner().run(["definitely-not-a-program-xyz"])


def test_shell_strings_are_refused() -> None:
    with pytest.raises(TypeError, match="argv list"):
        RealRunner().run("echo hi")  # type: ignore[arg-type]


def test_metacharacters_are_passed_literally() -> None:
    nasty = "$(touch /tmp/pwned-by-test); `id` && echo; 'q\"\nx"
    result = RealRunner().run([PY, "-c", "import sys; sys.stdout.write(sys.argv[1])", nasty])
    assert result.stdout == nasty


def test_streaming_stdin_from_iterator() -> None:
    chunks = (b"x" * 65536 for _ in range(64))  # 4 MiB, never held at once
    result = RealRunner().run([PY, "-c", "import sys; print(len(sys.stdin.buffer.read()))"], stdin=chunks)
    assert result.stdout.strip() == str(64 * 65536)


def test_stdout_lines_callback() -> None:
    seen: list[str] = []
    RealRunner().run([PY, "-c", "print('a'); print('b')"], on_stdout_line=seen.append)
    assert seen == ["a", "b"]


def test_secrets_are_redacted_everywhere() -> None:
    sink = CollectingSink()
    runner = RealRunner(sink, Redactor(["hunter2-secret"]))
    with pytest.raises(CommandFailed) as err:
        runner.run([PY, "-c", "import sys; print(sys.argv[1], file=sys.stderr); sys.exit(1)", "hunter2-secret"])
    [event] = sink.of(CommandRan)
    assert "hunter2-secret" not in repr(event)
    assert "hunter2-secret" not in str(err.value)
    assert "***" in " ".join(event.argv)


def test_dry_run_records_mutations_and_runs_probes() -> None:
    sink = CollectingSink()
    runner = DryRunRunner(sink)
    marker = "would-have-run"
    result = runner.run([PY, "-c", f"print('{marker}')"])
    assert result.dry_run and result.stdout == ""
    probe = runner.run([PY, "-c", "print('probed')"], mutates=False)
    assert probe.stdout == "probed\n"
    assert runner.recorded == [(PY, "-c", f"print('{marker}')")]
    assert [e.dry_run for e in sink.of(CommandRan)] == [True, False]


def test_recording_runner_longest_prefix_and_strict() -> None:
    runner = RecordingRunner(strict=True)
    runner.answer(["microk8s", "status"], stdout="microk8s is running")
    runner.answer(["microk8s", "status", "--format", "yaml"], stdout="addons: []")
    assert runner.run(["microk8s", "status", "--format", "yaml"]).stdout == "addons: []"
    assert runner.run(["microk8s", "status", "--wait-ready"]).stdout == "microk8s is running"
    with pytest.raises(CommandFailed, match="unscripted"):
        runner.run(["helm", "list"])
    assert runner.ran("microk8s", "status") == [
        ("microk8s", "status", "--format", "yaml"), ("microk8s", "status", "--wait-ready")]


def test_secrets_are_masked_in_their_json_escaped_form_too() -> None:
    redact = Redactor(['pa"ss\\word'])
    assert redact('{"password": "pa\\"ss\\\\word"}') == '{"password": "***"}'
    assert redact('raw pa"ss\\word') == "raw ***"


HOSTILE_SECRETS = [
    "Zebra7q first line\nsecond: Quokka9x # hash & *star\n",
    "  Jackal2s spaced 'quote' #x  ",
    "Tapir6e ünïcode\ttab\nnew Gecko1b \\ back & <more> \u2028 \U0001f600 done",
    "Ocelot4f " + "folded words " * 12 + "Lemur8p",
    "Okapi5 \n\n\nblank\n  indented Ibex3w\n",
]


def _spellings(value: object) -> list[str]:
    """``value`` written by every YAML style and width PyYAML has, and by JSON the ways Python and Go write it."""
    texts = [json.dumps(value), json.dumps(value, ensure_ascii=False, indent=2),
             json.dumps(value).replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")]
    for width in (20, 80, 1 << 30):
        for style in (None, '"', "'", "|", ">"):
            for unicode in (True, False):
                texts.append(yaml.safe_dump(value, width=width, default_style=style, allow_unicode=unicode))
    return texts


@pytest.mark.parametrize("secret", HOSTILE_SECRETS)
def test_a_secret_is_masked_however_json_or_yaml_lays_it_out(secret: str) -> None:
    """Block and folded scalars, quoted scalars folded at any width and indentation, escapes: none shows a word."""
    redact = Redactor([secret])
    words = [word for word in secret.split() if len(word) >= 5]
    data = {"hub": {"config": {"DummyAuthenticator": {"password": secret}}}, "list": [secret, {"k": secret}]}
    for text in _spellings(data):
        masked = redact(text)
        assert [word for word in words if word in masked] == [], text
        assert masked.count(Redactor.MASK) == 3, text


def test_a_values_file_the_masking_misses_is_withheld_not_shown(tmp_path: Path) -> None:
    """The second fence: a YAML file whose read-back still holds a secret is not shown at all."""
    class Missing(Redactor):
        def __call__(self, text: str) -> str:
            return text

    sink = CollectingSink()
    writer = DryRunFileWriter(sink, Missing(["Zebra7q secret"]))
    writer.write(tmp_path / "values.yaml", "hub:\n  password: 'Zebra7q\n\n    secret'\n", 0o600)
    writer.write(tmp_path / "notes.txt", "nothing secret\n")
    shown = [event.content for event in sink.events if isinstance(event, FileWritten)]
    assert shown == [WITHHELD_CONTENT, "nothing secret\n"]


def test_a_secret_too_short_to_mask_in_text_still_withholds_the_file_holding_it(tmp_path: Path) -> None:
    """A two-character registry token cannot be masked in free text (it would mask noise) but must not be shown."""
    sink = CollectingSink()
    writer = DryRunFileWriter(sink, Redactor(["q7"]))
    writer.write(tmp_path / "values.yaml", "imagePullSecret:\n  username: robot\n  password: q7\n", 0o600)
    writer.write(tmp_path / "other.yaml", "note: q7x is not the token\n", 0o600)
    shown = [event.content for event in sink.events if isinstance(event, FileWritten)]
    assert shown == [WITHHELD_CONTENT, "note: q7x is not the token\n"]


def test_daemon_runs_until_stopped_and_logs_its_output(tmp_path: Path) -> None:
    daemon = Daemon([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"], tmp_path / "d.log")
    daemon.start()
    deadline = time.monotonic() + 10
    while "up" not in daemon.log_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert daemon.running and daemon.log_tail() == "up"
    daemon.stop()
    assert not daemon.running and daemon.returncode == -signal.SIGTERM


def test_daemon_that_ignores_sigterm_is_killed_after_the_grace_time(tmp_path: Path) -> None:
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
            "time.sleep(60)")
    daemon = Daemon([sys.executable, "-c", code], tmp_path / "d.log")
    daemon.start()
    deadline = time.monotonic() + 10
    while "ready" not in daemon.log_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    daemon.stop(grace=0.3)
    assert not daemon.running and daemon.returncode == -signal.SIGKILL  # killed, not waited on for its minute


def test_a_long_failure_keeps_its_first_line_and_its_tail() -> None:
    """Helm says "Error: INSTALLATION FAILED" and then quotes kilobytes of values: the message keeps both ends."""
    program = ("import sys; sys.stderr.write('Error: INSTALLATION FAILED: values were rejected:\\n'"
               " + '\\n'.join(f'key{i}: value' for i in range(300))); sys.exit(1)")
    result = RealRunner().run([sys.executable, "-c", program], check=False)
    message = command_failed(result).message
    assert "Error: INSTALLATION FAILED: values were rejected:" in message
    assert message.rstrip().endswith("key299: value") and "key0: value" not in message
