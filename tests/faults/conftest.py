"""Fault-suite fixtures: a reaper for processes a failing test could leave behind."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from tests.faults.support import processes_using


@pytest.fixture
def reap() -> Iterator[list[str]]:
    """Append markers to the list; at teardown, processes whose command line holds one are killed.

    The tests prove the product leaves nothing running; when such a test fails, this
    keeps its leftovers from outliving it.
    """
    markers: list[str] = []
    yield markers
    for marker in markers:
        for pid in processes_using(marker):
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
