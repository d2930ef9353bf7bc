"""The offline bundle as the components' steps see it: its manifest, chart archives and image refs.

A plan can be shown on a machine without the bundle, so a missing manifest means
"nothing to pin against" here; the bundle-check step is what reports a bad bundle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from installer.engine.plan import StepContext
from installer.errors import BundleError

if TYPE_CHECKING:
    from installer.bundle.manifest import Manifest

_LOGGER: Final = logging.getLogger(__name__)


def load_bundle_manifest(bundle_dir: Path) -> Manifest | None:
    """The bundle's manifest, or ``None`` when there is none (a plan on a machine without the bundle).

    A manifest that does not load is the bundle step's error to report; here it only
    means "nothing to pin against", logged at debug.
    """
    if not (bundle_dir / "manifest.yaml").is_file():
        return None
    from installer.bundle.source import source_for

    try:
        return source_for(bundle_dir).read_manifest()  # the run's parse, when a run is active
    except BundleError as exc:
        _LOGGER.debug("manifest of %s not usable here: %s", bundle_dir, exc)
        return None


def bundle_chart(bundle_dir: Path, name: str, version: str) -> Path:
    """The chart archive of ``name`` ``version`` in the bundle (manifest first, then the usual file name)."""
    manifest = load_bundle_manifest(bundle_dir)
    chart = manifest.find_chart(name, version) if manifest is not None else None
    if chart is not None:
        return bundle_dir / chart.file
    bare = version.lstrip("v")
    for candidate in (f"{name}-{version}.tgz", f"{name}-{bare}.tgz", f"{name}-v{bare}.tgz"):
        path = bundle_dir / "charts" / candidate
        if path.is_file():
            return path
    return bundle_dir / "charts" / f"{name}-{version}.tgz"


def _repository(ref: str) -> str:
    name = ref.partition("@")[0]
    slash, colon = name.rfind("/"), name.rfind(":")
    return name[:colon] if colon > slash else name


def pin_to_bundle(wanted: dict[str, str], manifest: Manifest | None, components: Sequence[str]) -> dict[str, str]:
    """Map each key of ``wanted`` (key -> ref) to the ref the bundle actually holds.

    Without a manifest the wanted refs are kept (nothing to check against). With one,
    a wanted ref in the bundle is kept; else an image of the same repository in the
    component's part of the bundle is used (an export may pin another tag); else the
    key is dropped, so the caller can switch that part off or name what is missing.
    """
    if manifest is None:
        return dict(wanted)
    from installer.bundle.imageref import normalize_ref

    held = [ref for _, entry in manifest.images(list(components)) for ref in entry.all_refs()]
    pinned: dict[str, str] = {}
    for key, ref in wanted.items():
        if manifest.find_image(ref) is not None:
            pinned[key] = ref
            continue
        repository = _repository(normalize_ref(ref))
        same = sorted(r for r in held if _repository(r) == repository)
        if same:
            pinned[key] = same[-1]
    return pinned


def require_chart(ctx: StepContext, chart: Path) -> None:
    """Refuse a missing chart archive (a dry-run only warns: the plan is still worth showing)."""
    if chart.is_file():
        return
    msg = f"the chart archive {chart} is not in the bundle"
    if ctx.dry_run:
        ctx.log(msg + " (a real install would stop here)", "warning")
        return
    raise BundleError(msg, "Rebuild the bundle with `./install.sh export` for this profile, "
                           "or fix the chart version in the profile.")
