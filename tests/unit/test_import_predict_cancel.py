"""A dry-run's import prediction that is cancelled says so: its archives are not "could not be imported"."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from twin.charts import build_bundle

from installer.bundle.importer import ImageImporter, items_from_manifest
from installer.bundle.manifest import load_manifest
from installer.config.profile import Profile


class _EmptyStore:
    """A store holding nothing (predict only asks what is present)."""

    description = "an empty store"
    hint = ""

    def present(self, refs: Iterable[str]) -> dict[str, str]:
        return {}

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a prediction must not call store.{name}")


def test_a_cancelled_prediction_is_reported_cancelled(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    build_bundle(bundle, Profile(bundle=bundle))
    items = items_from_manifest(bundle, load_manifest(bundle / "manifest.yaml").images())
    cancel = threading.Event()
    cancel.set()  # Cancel pressed while the archives were being checked
    report = ImageImporter(_EmptyStore(), cancel=cancel).predict(items)  # type: ignore[arg-type]
    assert report.cancelled
