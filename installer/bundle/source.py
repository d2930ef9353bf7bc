"""The offline bundle of one run: its folder, worked out once, and its manifest, read once.

A run hands one :class:`BundleSource` to every step as ``ctx.bundle``. Helpers deep
in the components know only a folder (the chart file, pinned images, snaps); while a
run is active (:meth:`BundleSource.active`) :func:`source_for` answers them from the
run's source, so one install reads and validates ``manifest.yaml`` once. Outside a run
(``plan --out``, a test calling a helper) each call reads the file itself.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Final

from installer.bundle.contents import BundleContents, load_bundle
from installer.bundle.manifest import MANIFEST_NAME, Manifest, load_manifest
from installer.engine.plan import StepContext
from installer.errors import BundleError

_ACTIVE: Final[ContextVar[BundleSource | None]] = ContextVar("installer_bundle_source", default=None)


class BundleSource:
    """One bundle folder with its manifest parsed at most once (and a bad one's error kept)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._read = False
        self._manifest: Manifest | None = None
        self._error: BundleError | None = None
        self._contents: BundleContents | None = None
        self.parses = 0
        """How often ``manifest.yaml`` was parsed through this source (0 or 1)."""

    def read_manifest(self) -> Manifest | None:
        """The manifest; ``None`` when the folder has none.

        Raises:
            BundleError: the manifest exists but cannot be read (the same error on every call).
        """
        with self._lock:
            if not self._read:
                # even a broken link or a device: load_manifest says what is wrong
                if os.path.lexists(self.path / MANIFEST_NAME):
                    self.parses += 1
                    try:
                        self._manifest = load_manifest(self.path / MANIFEST_NAME)
                    except BundleError as exc:
                        self._error = exc
                self._read = True
        if self._error is not None:
            raise self._error
        return self._manifest

    def manifest(self) -> Manifest | None:
        """The manifest, or ``None`` when there is none or it cannot be read (the bundle check reports that)."""
        try:
            return self.read_manifest()
        except BundleError:
            return None

    def contents(self, *, jobs: int = 2) -> BundleContents:
        """What the bundle holds: its manifest, or a scan of a folder without one (kept for the run).

        Raises:
            BundleError: no such folder, or a manifest that cannot be read.
        """
        if self._contents is None:
            manifest = self.read_manifest() if self.path.is_dir() else None
            self._contents = (BundleContents(self.path, manifest=manifest) if manifest is not None
                              else load_bundle(self.path, jobs=jobs))
        return self._contents

    def loaded(self) -> BundleContents | None:
        """The contents when :meth:`contents` has read them already, else ``None`` (reads nothing)."""
        return self._contents

    @contextlib.contextmanager
    def active(self) -> Iterator[BundleSource]:
        """Make this the source :func:`source_for` answers with for its folder (this thread, until the end)."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    def __repr__(self) -> str:
        return f"<BundleSource {self.path}>"


def source_for(path: Path) -> BundleSource:
    """The active run's source when ``path`` is its folder, else a new one (read on first use)."""
    active = _ACTIVE.get()
    if active is not None and (active.path == path or os.path.abspath(active.path) == os.path.abspath(path)):
        return active
    return BundleSource(path)


def run_bundle(ctx: StepContext) -> BundleSource:
    """The bundle of the run ``ctx`` belongs to (made from the profile and kept, for a context built without one)."""
    if ctx.bundle is None:
        ctx.bundle = source_for(ctx.profile.bundle_dir())
    return ctx.bundle
