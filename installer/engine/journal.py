"""The journal of finished steps, so an interrupted run resumes where it stopped.

It only saves time and answers for steps that cannot check the host themselves
(:meth:`Step.is_done` returning ``None``): a step whose work the host shows as
undone is run again whatever the journal says. Every write is atomic, so a
SIGKILL at any moment leaves either the old or the new journal, never a torn one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from installer.engine.files import atomic_write

VERSION = 1


class Journal:
    """Finished steps keyed by id, each with the fingerprint of its inputs."""

    def __init__(self, path: Path | None) -> None:
        """Open the journal at ``path``; ``None`` keeps it in memory (dry-run)."""
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            self.entries = self._load(path)

    @staticmethod
    def _load(path: Path) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}  # an unreadable journal only costs time: every step re-checks the host
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return {}
        steps = data.get("steps", {})
        if not isinstance(steps, dict):
            return {}
        return {step: entry for step, entry in steps.items() if isinstance(entry, dict)}  # a damaged entry re-checks

    def finished(self, step_id: str, fingerprint: str) -> bool:
        """True when a previous run finished this step with the same inputs."""
        entry = self.entries.get(step_id)
        return entry is not None and entry.get("fingerprint") == fingerprint

    def record(self, step_id: str, fingerprint: str) -> None:
        """Mark a step finished and persist at once."""
        self.entries[step_id] = {"fingerprint": fingerprint, "finished_at": time.time()}
        self._save()

    def forget(self, step_id: str) -> None:
        """Drop a step (its work was found undone on the host)."""
        if self.entries.pop(step_id, None) is not None:
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        data = json.dumps({"version": VERSION, "steps": self.entries}, indent=1, sort_keys=True)
        atomic_write(self.path, data.encode(), 0o600)
