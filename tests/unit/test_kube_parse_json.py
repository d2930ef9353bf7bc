"""What kubectl, Helm and ``ip -j`` answer is parsed within bounds: a hostile answer is "no answer", not a traceback."""

from __future__ import annotations

from pathlib import Path

from installer.components.kube import KUBECTL, nodes, parse_json
from installer.config.profile import Profile
from installer.engine.commands import RecordingRunner
from installer.engine.events import CollectingSink
from installer.engine.files import FileWriter
from installer.engine.plan import StepContext


def test_parse_json_reads_ordinary_output() -> None:
    assert parse_json('{"items": [{"metadata": {"name": "n1"}}]}') == {"items": [{"metadata": {"name": "n1"}}]}
    assert parse_json("  \n") is None
    assert parse_json("not json") is None


def test_deeply_nested_output_is_no_answer_not_a_recursion_error() -> None:
    assert parse_json("[" * 100_000) is None
    assert parse_json("[" * 100 + "]" * 100) is None  # deeper than any real answer


def test_nodes_from_a_hostile_api_answer_is_empty(tmp_path: Path) -> None:
    """The Kubernetes API is stood in for (it cannot run here): a nested answer reads as no nodes."""
    runner = RecordingRunner()
    runner.answer([*KUBECTL, "get", "nodes", "-o", "json"], stdout='{"items": ' + "[" * 50_000)
    sink = CollectingSink()
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path / "s")
    assert nodes(ctx) == []
