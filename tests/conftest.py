"""Session fixtures: real daemons started in temp folders, and the shared/ reference data.

Outside CI a missing daemon binary skips the tests that need it, with the reason;
under CI (``CI`` set) it fails the run, because CI must exercise the real parts.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # lets tests import realparts, imagegen, fakehost

from imagegen import make_image_archive  # noqa: E402 - importable only after the sys.path line above
from realparts import (  # noqa: E402 - the same
    Containerd,
    Dockerd,
    MissingBinary,
    Registry,
    in_ci,
    start_containerd,
    start_dockerd,
    start_registry,
)
from twin.fixture import twin  # noqa: E402, F401 - after the sys.path line; the MicroK8s twin fixture, for every test

REPO = TESTS.parent
SHARED = (REPO.parent / "shared").resolve()


def _start(starter):
    try:
        return starter()
    except MissingBinary as exc:
        if in_ci():
            pytest.fail(f"CI must run the real-parts tests: {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def containerd() -> Iterator[Containerd]:
    """A private containerd for the whole session (call ``.reset()`` for an empty store)."""
    daemon = _start(start_containerd)
    yield daemon
    daemon.stop()


@pytest.fixture
def clean_containerd(containerd: Containerd) -> Containerd:
    """The session containerd with no images in it."""
    containerd.reset()
    return containerd


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd]:
    """A private dockerd for the whole session."""
    daemon = _start(start_dockerd)
    yield daemon
    daemon.stop()


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    """A registry on 127.0.0.1 for the whole session."""
    daemon = _start(start_registry)
    yield daemon
    daemon.stop()


@pytest.fixture
def image_archive(tmp_path: Path):
    """Factory: ``image_archive("repo:tag", size=..., seed=...)`` -> (path, BuiltImage)."""

    def make(ref: str, name: str | None = None, **kwargs: object):
        path = tmp_path / (name or ref.replace("/", "_").replace(":", "_") + ".tar")
        return path, make_image_archive(path, ref, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's shared/ folder (oracles, research); skipped where it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (a clone outside the team): the oracle tests need it")
    return SHARED


@pytest.fixture(scope="session")
def z2jh_oracle(shared_dir: Path) -> Path:
    """The z2jh 4.2.0 chart's values.yaml and values.schema.json."""
    path = shared_dir / "oracles" / "z2jh-4.2.0"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path
