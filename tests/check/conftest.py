"""Fixtures: one real JupyterHub per module (starting one takes a few seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.check.hub import Hub, start_hub


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A running hub; stopped at the end of the module."""
    directory: Path = tmp_path_factory.mktemp("hub")
    running = start_hub(directory)
    try:
        yield running
    finally:
        running.stop()
