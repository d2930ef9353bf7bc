"""Build (or top up) an offline bundle folder on a connected machine.

Order: inputs are checked first (refs, charts, snaps), so a typo fails in a
second rather than after an hour of pulling; then charts and snaps are copied,
images pulled and saved, wheels downloaded, and the manifest written. The manifest
is rewritten after every image, so an interrupted export keeps what it finished
and a re-run skips it.

The manifest describes the whole folder: entries from an earlier export that this
run did not touch are kept while their files are there (so ``--image X`` adds X to
a bundle without dropping the rest). A ref this run exported replaces any earlier
entry naming it; a ref whose pull failed keeps its earlier archive, and is still
reported as failed, because it may be out of date.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from installer.bundle.manifest import (
    MANIFEST_NAME,
    ChartEntry,
    ComponentArtifacts,
    ImageEntry,
    Manifest,
    SnapEntry,
    WheelEntry,
    load_manifest,
    save_manifest,
)
from installer.bundle.requirements import component_names
from installer.bundle.safefile import UnsafeBundleFile, bundle_path
from installer.components import registry
from installer.config.profile import Profile
from installer.engine.commands import CommandRunner, RealRunner
from installer.engine.events import EventSink, ItemFinished, LogLine, NullSink, StepStatus
from installer.engine.files import FileWriter
from installer.engine.printable import shown
from installer.engine.runner import StepWalk
from installer.errors import BundleError, CommandFailed, PreflightFailed, UsageError
from installer.export.archive import COMPRESSIONS, SUFFIX, Compression
from installer.export.files import add_chart, add_snap, chart_identity
from installer.export.images import (
    IMAGES_DIR,
    PULL_POLICIES,
    DockerImages,
    ExportedImage,
    ImageExportFailed,
    ImageOutcome,
    PulledImage,
    PullPolicy,
    emit_item,
    group_by_image,
    reusable_entry,
    split_platform,
)
from installer.export.refs import ImageSelection, WantedImage, collect_images, file_stem, profile_files
from installer.export.wheels import PYTHON_VERSIONS, WHEELS_DIR, download_wheels

_LOGGER: Final = logging.getLogger(__name__)

DOCKER_TIMEOUT: Final = 600
"""Seconds the SDK waits for one Docker API answer (a pull streams progress well within it)."""


@dataclass
class ExportOptions:
    """What ``./install.sh export`` was asked to do."""

    out_dir: Path
    profile: Profile = field(default_factory=Profile)
    profile_images: bool = True
    """Export the images the profile's components need; off to add only the listed ones to a bundle."""
    images: Sequence[str] = ()
    images_file: Path | None = None
    helm_values: Sequence[Path] = ()
    charts: Sequence[Path] = ()
    snaps: Sequence[Path] = ()
    wheels: bool = False
    python_versions: Sequence[str] = PYTHON_VERSIONS
    compression: Compression = "zstd"
    pull: PullPolicy = "always"
    """``always`` (learn moved tags), ``missing`` (only what Docker lacks), ``never`` (local images only)."""
    platform: str = "linux/amd64"
    docker_host: str | None = None
    """``unix:///path/docker.sock`` or ``tcp://host:2375``; default: ``DOCKER_HOST`` or the local socket."""


@dataclass(frozen=True)
class FileOutcome:
    """A chart, snap or the wheels set: ``ok``, ``skipped`` (already there) or ``failed``."""

    kind: str
    name: str
    status: str
    file: str = ""
    reason: str = ""


@dataclass
class ExportReport:
    """Everything the export did, for the summary and ``--json``."""

    out_dir: Path
    images: list[tuple[str, ImageOutcome]] = field(default_factory=list)
    """``(component, outcome)`` per archive or failed ref."""
    files: list[FileOutcome] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Files of earlier exports still listed in the manifest."""
    unlisted: list[str] = field(default_factory=list)
    """Files in the bundle's folders that the manifest does not list."""
    manifest: Manifest | None = None

    @property
    def manifest_path(self) -> Path:
        """Where the manifest was written."""
        return self.out_dir / MANIFEST_NAME

    def missing(self) -> list[str]:
        """One line per thing that should be in the bundle and is not (or may be stale)."""
        lines = [f"{', '.join(o.refs)} ({component}): {o.reason}" for component, o in self.images
                 if o.status == "failed"]
        lines += [f"{f.kind} {f.name}: {f.reason}" for f in self.files if f.status == "failed"]
        return lines

    @property
    def ok(self) -> bool:
        """True when everything asked for is in the bundle."""
        return not self.missing()

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "ok": self.ok,
            "out_dir": str(self.out_dir),
            "manifest": str(self.manifest_path),
            "images": [{"component": c, "refs": list(o.refs), "status": o.status,
                        "file": o.entry.file if o.entry else None, "size": o.entry.size if o.entry else None,
                        "digest": o.entry.digest if o.entry else None, "sha256": o.entry.sha256 if o.entry else None,
                        "reason": o.reason, "seconds": round(o.seconds, 3)} for c, o in self.images],
            "files": [vars(f) for f in self.files],
            "missing": self.missing(),
            "unresolved": self.unresolved,
            "kept": self.kept,
            "unlisted": self.unlisted,
        }


def docker_client(docker_host: str | None) -> Any:
    """A Docker SDK client, checked with a ping.

    Raises:
        PreflightFailed: Docker is not reachable (names the address and what to do).
    """
    import docker

    where = docker_host or "the default Docker socket (DOCKER_HOST or /var/run/docker.sock)"
    try:
        client = (docker.DockerClient(base_url=docker_host, timeout=DOCKER_TIMEOUT) if docker_host
                  else docker.from_env(timeout=DOCKER_TIMEOUT))
        client.ping()
    except Exception as exc:  # noqa: BLE001 - the SDK raises several unrelated types for "not there"
        msg = f"cannot reach Docker at {where}: {exc}"
        raise PreflightFailed(msg, "Start Docker (dockerd), or point --docker-host at its socket, "
                                   "e.g. --docker-host unix:///run/docker.sock.") from None
    return client


def _check_inputs(options: ExportOptions) -> ImageSelection:
    """Everything that can be wrong on the command line, found before any work starts."""
    if options.compression not in COMPRESSIONS:
        msg = f"--compress {options.compression}: use one of {', '.join(COMPRESSIONS)}"
        raise UsageError(msg, "zstd is the default: fast, and as small as gzip.")
    if options.pull not in PULL_POLICIES:
        msg = f"--pull {options.pull}: use one of {', '.join(PULL_POLICIES)}"
        raise UsageError(msg, "always is the default: it notices a tag that moved.")
    try:
        split_platform(options.platform)
    except ValueError as exc:
        raise UsageError(f"--platform: {exc}", "The air-gapped servers are linux/amd64.") from None
    if options.out_dir.exists() and not options.out_dir.is_dir():
        msg = f"--out {options.out_dir} is a file, not a folder"
        raise UsageError(msg, "Give a folder (it is created if missing), e.g. --out offline-images.")
    for chart in options.charts:
        if not chart.is_file():
            raise UsageError(f"--chart: {chart} does not exist", "Give the chart archive `helm pull` wrote.")
        chart_identity(chart)
    for snap in options.snaps:
        if not snap.is_file():
            raise UsageError(f"--snap: {snap} does not exist", "Give the .snap file `snap download` wrote.")
        if not snap.with_suffix(".assert").is_file():
            msg = f"--snap {snap}: its assertion {snap.with_suffix('.assert').name} is not next to it"
            raise UsageError(msg, "`snap download NAME` writes both files; copy the .assert file beside the .snap.")
    return collect_images(options.profile if options.profile_images else None, images=options.images,
                          images_file=options.images_file, helm_values=options.helm_values)


def _previous_manifest(out_dir: Path, sink: EventSink) -> Manifest | None:
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return None
    try:
        return load_manifest(path)
    except BundleError as exc:
        sink.emit(LogLine(level="warning", message=f"the existing manifest cannot be read, so nothing is "
                                                   f"skipped and it is rewritten: {exc.message}"))
        return None


def _to_exported(entry: ImageEntry) -> ExportedImage:
    return ExportedImage(refs=tuple(entry.refs), file=entry.file, sha256=entry.sha256, size=entry.size,
                         digest=entry.digest, platform=entry.platform, content_size=entry.content_size)


def _to_entry(image: ExportedImage) -> ImageEntry:
    return ImageEntry(refs=list(image.refs), file=image.file, sha256=image.sha256, size=image.size,
                      digest=image.digest, platform=image.platform, content_size=image.content_size)


def _intact(out_dir: Path, relative: str, size: int | None) -> bool:
    """Present with the recorded size (the full sha256 check is `verify`'s job); a link out or a FIFO is not."""
    try:
        return size is None or bundle_path(out_dir, relative).stat().st_size == size
    except UnsafeBundleFile as exc:
        if exc.kind != "missing":
            _LOGGER.warning("%s: not kept in the manifest", exc.message)
        return False
    except OSError:
        return False


def _unsafe_files(out_dir: Path, previous: Manifest | None) -> list[str]:
    """The earlier manifest's files that are now links out of the bundle, devices, FIFOs or sockets (named)."""
    found = []
    for _, _, entry in previous.files() if previous is not None else ():
        try:
            bundle_path(out_dir, entry.file)
        except UnsafeBundleFile as exc:
            if exc.kind != "missing" or os.path.islink(out_dir / entry.file):
                found.append(exc.message)
    return found


class _Bundle:
    """The manifest being built: this run's entries merged over the earlier export's."""

    def __init__(self, out_dir: Path, platform: str, previous: Manifest | None) -> None:
        self.out_dir = out_dir
        self.platform = platform
        self.previous = previous
        self.images: dict[str, list[ImageEntry]] = {}
        self.charts: dict[str, list[ChartEntry]] = {}
        self.snaps: dict[str, list[SnapEntry]] = {}
        self.wheels: list[WheelEntry] | None = None
        self.exported_refs: set[str] = set()
        """Refs this run saved or found already saved: earlier entries naming them are replaced."""
        self.written: set[str] = set()
        """Files this run wrote or re-listed."""
        self.kept: list[str] = []

    def add_image(self, component: str, entry: ImageEntry) -> None:
        self.images.setdefault(component, []).append(entry)
        self.exported_refs.update(entry.refs)
        self.written.add(entry.file)

    def kept_images(self) -> list[tuple[str, ImageEntry]]:
        if self.previous is None:
            return []
        kept = []
        for component, entry in self.previous.images():
            if entry.file in self.written or self.exported_refs.intersection(entry.all_refs()):
                continue
            if _intact(self.out_dir, entry.file, entry.size):
                kept.append((component, entry))
        return kept

    def manifest(self) -> Manifest:
        """The merged manifest as of now."""
        components: dict[str, ComponentArtifacts] = {}

        def section(name: str) -> ComponentArtifacts:
            return components.setdefault(name, ComponentArtifacts())

        self.kept = []
        for component, entries in self.images.items():
            section(component).images.extend(entries)
        for component, entry in self.kept_images():
            section(component).images.append(entry)
            self.kept.append(entry.file)
        for component, charts in self.charts.items():
            section(component).charts.extend(charts)
        for component, snaps in self.snaps.items():
            section(component).snaps.extend(snaps)
        if self.previous is not None:
            new_charts = {c.file for charts in self.charts.values() for c in charts}
            new_snaps = {s.name for snaps in self.snaps.values() for s in snaps}
            for component, artifacts in self.previous.components.items():
                for chart in artifacts.charts:
                    if chart.file not in new_charts and _intact(self.out_dir, chart.file, chart.size):
                        section(component).charts.append(chart)
                        self.kept.append(chart.file)
                for snap in artifacts.snaps:
                    if snap.name not in new_snaps and _intact(self.out_dir, snap.file, snap.size):
                        section(component).snaps.append(snap)
                        self.kept.append(snap.file)
        wheels = self.wheels
        if wheels is None:
            earlier = self.previous.wheels if self.previous else []
            wheels = [w for w in earlier if _intact(self.out_dir, w.file, w.size)]
            self.kept.extend(w.file for w in wheels)
        ordered = {name: components[name] for name in component_names() if name in components}
        return Manifest(platform=self.platform, components=ordered, wheels=wheels)

    def save(self, writer: FileWriter) -> Manifest:
        manifest = self.manifest()
        save_manifest(manifest, self.out_dir / MANIFEST_NAME, writer)
        return manifest


def _unlisted(out_dir: Path, manifest: Manifest) -> list[str]:
    listed = {entry.file for _, _, entry in manifest.files()}
    listed |= {snap.assert_file for _, _, snap in manifest.files() if isinstance(snap, SnapEntry)}
    found = []
    for folder in (IMAGES_DIR, "charts", "snaps", WHEELS_DIR):
        base = out_dir / folder
        if base.is_dir():
            found += [f"{folder}/{p.name}" for p in sorted(base.iterdir()) if p.is_file()]
    return [shown(name) for name in found if name not in listed]  # a name from the disk: escaped for the screen


def _missing_profile_files(profile: Profile, manifest: Manifest) -> list[FileOutcome]:
    """Charts and snaps the profile needs that the bundle lacks, with the command that fetches each."""
    charts, snaps = profile_files(profile)
    missing = []
    for component, name, version in charts:
        if manifest.find_chart(name, version) is None:
            repo = registry.component(component).chart_repo or "REPO_URL"
            missing.append(FileOutcome("chart", f"{name} {version}", "failed", reason=(
                f"needed by the profile and not in the bundle: run `helm pull {name} --repo {repo} "
                f"--version {version}` and export again with --chart {name}-{version}.tgz")))
    for _, name in snaps:
        if manifest.find_snap(name) is None:
            channel = f" --channel={profile.microk8s.channel}/stable" if name == "microk8s" else ""
            missing.append(FileOutcome("snap", name, "failed", reason=(
                f"needed by the profile and not in the bundle: run `snap download {name}{channel}` and export again "
                f"with --snap {name}_REVISION.snap (its .assert file beside it)")))
    return missing


class Exporter:
    """One export run: holds the report and the merged manifest while the phases run."""

    def __init__(self, options: ExportOptions, sink: EventSink | None = None, *, runner: CommandRunner | None = None,
                 client_factory: Callable[[str | None], Any] = docker_client,
                 cancel: threading.Event | None = None) -> None:
        self.options = options
        self.sink = sink or NullSink()
        self.runner = runner or RealRunner(sink=self.sink)
        self.client_factory = client_factory
        self.cancel = cancel or threading.Event()
        self.report = ExportReport(out_dir=options.out_dir)
        self.quiet_writer = FileWriter()
        """Writes the manifest after each image without a console line each time."""
        self._phases: list[tuple[str, str]] = []
        self._walk = StepWalk(self.sink, ())
        """Announces the phases, numbered, as the install's runner announces its steps."""
        self._bundle: _Bundle | None = None

    # --- phase bookkeeping ------------------------------------------------------------------

    def _start(self, step_id: str) -> None:
        self._walk.start(step_id)

    def _finish(self, step_id: str, failures: int, what: str) -> None:
        status: StepStatus = "failed" if failures else "ok"
        self._walk.finish(step_id, status, f"{failures} {what} failed" if failures else "")

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> ExportReport:
        """Do the whole export; failures of single items are in the report, not raised.

        Raises:
            UsageError: bad command-line input (before anything is done).
            PreflightFailed: Docker is not reachable.
            BundleError: the bundle folder cannot be written.
        """
        options = self.options
        selection = _check_inputs(options)
        self.report.unresolved = list(selection.unresolved)
        options.out_dir.mkdir(parents=True, exist_ok=True)
        bundle = self._bundle = _Bundle(options.out_dir, options.platform,
                                        _previous_manifest(options.out_dir, self.sink))
        if options.charts or options.snaps:
            self._phases.append(("copy-files", "Copy charts and snaps"))
        if selection.images:
            verb = {"always": "Pull", "missing": "Pull (if missing)", "never": "Find locally"}[options.pull]
            self._phases += [("pull-images", f"{verb} {len(selection.images)} images ({options.platform})"),
                             ("save-images", f"Save images ({options.compression})")]
        if options.wheels:
            self._phases.append(("wheels", f"Download wheels for Python {', '.join(options.python_versions)}"))
        self._phases.append(("manifest", "Write the manifest"))
        self._walk = StepWalk(self.sink, tuple(self._phases))
        for line in selection.unresolved:
            self.sink.emit(LogLine(level="warning", message=f"not exported: {line}"))
        for problem in _unsafe_files(options.out_dir, bundle.previous):
            self.sink.emit(LogLine(level="warning", message=f"{problem}; not reused (exported again, or left out "
                                                            "of the manifest)"))
        if options.charts or options.snaps:
            self._copy_files(bundle)
        if selection.images:
            self._images(bundle, selection.images)
        if options.wheels:
            self._wheels(bundle)
        self._start("manifest")
        manifest = bundle.save(FileWriter(sink=self.sink))
        self.report.manifest = manifest
        self.report.kept = list(bundle.kept)
        self.report.unlisted = _unlisted(options.out_dir, manifest)
        if options.profile_images:
            self.report.files += _missing_profile_files(options.profile, manifest)
        self._finish("manifest", 0, "")
        return self.report

    def _copy_files(self, bundle: _Bundle) -> None:
        self._start("copy-files")
        failures = 0
        jobs: list[tuple[str, Path, Callable[[Path, Path], tuple[str, ChartEntry | SnapEntry, bool]]]] = [
            ("chart", path, add_chart) for path in self.options.charts]
        jobs += [("snap", path, add_snap) for path in self.options.snaps]
        for kind, path, add in jobs:
            try:
                component, entry, skipped = add(path, self.options.out_dir)
            except BundleError as exc:
                failures += 1
                outcome = FileOutcome(kind, path.name, "failed", reason=exc.message)
            else:
                if isinstance(entry, ChartEntry):
                    bundle.charts.setdefault(component, []).append(entry)
                    name = f"{entry.name} {entry.version}"
                else:
                    bundle.snaps.setdefault(component, []).append(entry)
                    name = f"{entry.name} {entry.revision}"
                outcome = FileOutcome(kind, name, "skipped" if skipped else "ok", file=entry.file)
            self.report.files.append(outcome)
            self.sink.emit(ItemFinished(step_id="copy-files", item=f"{kind} {outcome.name}",
                                        # the ignore below: FileOutcome.status is one of StepStatus
                                        status=outcome.status, reason=outcome.reason))  # type: ignore[arg-type]
        self._finish("copy-files", failures, "files")

    def _images(self, bundle: _Bundle, wanted: list[WantedImage]) -> None:
        wanted = wanted + archive_partners(bundle.previous, wanted)
        client = self.client_factory(self.options.docker_host)
        docker_images = DockerImages(client, self.options.platform, self.sink, cancel=self.cancel,
                                     pull_policy=self.options.pull)
        component_of = {w.ref: w.component for w in wanted}
        # 1. pull everything (learning each image ID), so refs of one image share an archive
        self._start("pull-images")
        pulled: list[PulledImage] = []
        failed: list[tuple[WantedImage, str]] = []
        for index, item in enumerate(wanted):
            try:
                image = docker_images.pull(item.ref, position=(index, len(wanted)))
            except ImageExportFailed as exc:
                reason = f"{exc.message} (from {item.source})"
                failed.append((item, reason))
                self.sink.emit(ItemFinished(step_id="pull-images", item=item.ref, status="failed", reason=reason))
            else:
                pulled.append(image)
                component_of.setdefault(image.refs[0], item.component)  # a digest ref is kept under its tag
                self.sink.emit(ItemFinished(step_id="pull-images", item=item.ref, status="ok"))
        self._finish("pull-images", len(failed), "pulls")
        # 2. save each image unless an intact archive of the same image ID is already there
        self._start("save-images")
        previous = [_to_exported(e) for _, e in bundle.previous.images()] if bundle.previous else []
        groups = group_by_image(pulled)
        now = {ref: group.image_id for group in groups for ref in group.refs}
        # An earlier archive is reused only if every ref it carries still names its image (a moved tag
        # would otherwise be listed twice, under two image IDs).
        current = [e for e in previous if all(now.get(ref, e.digest) == e.digest for ref in e.refs)]
        plan: list[tuple[PulledImage, ExportedImage | None]] = [
            (group, reusable_entry(current, group, self.options.out_dir, self.options.platform,
                                   self.options.compression)) for group in groups]
        reused_files = {entry.file for _, entry in plan if entry is not None}
        # Nor is an earlier archive overwritten while it holds a ref this run could not pull again.
        reused_files |= {e.file for e in previous if not set(e.refs) <= set(now)}
        total = sum(group.size for group, entry in plan if entry is None)
        done = 0
        failures = 0
        for group, reuse in plan:
            component = component_of[group.refs[0]]
            began = time.monotonic()
            if reuse is not None:
                outcome = ImageOutcome(group.refs, "skipped", reuse, "already in the bundle (same image ID)")
            else:
                name = f"{file_stem(group.refs[0])}{SUFFIX[self.options.compression]}"
                if f"{IMAGES_DIR}/{name}" in reused_files:  # that file holds another image this run keeps
                    name = (f"{file_stem(group.refs[0])}_{group.image_id.removeprefix('sha256:')[:12]}"
                            f"{SUFFIX[self.options.compression]}")
                try:
                    entry = docker_images.save(group, self.options.out_dir, self.options.compression,
                                               overall=(done, total), file_name=name)
                    outcome = ImageOutcome(group.refs, "ok", entry)
                except ImageExportFailed as exc:
                    failures += 1
                    outcome = ImageOutcome(group.refs, "failed", reason=exc.message)
                done += group.size
            outcome.seconds = time.monotonic() - began
            if outcome.entry is not None:
                bundle.add_image(component, _to_entry(outcome.entry))
                bundle.save(self.quiet_writer)
            self.report.images.append((component, outcome))
            emit_item(self.sink, "save-images", outcome)
        kept_files = {entry.file for _, entry in bundle.kept_images()}
        for item, why in failed:
            reason = why
            earlier = bundle.previous.find_image(item.ref) if bundle.previous else None
            if earlier is not None and earlier[1].file in kept_files:
                reason += "; the bundle keeps its earlier export, which may be out of date"
            elif earlier is not None and _intact(self.options.out_dir, earlier[1].file, earlier[1].size):
                reason += (f"; its earlier archive {earlier[1].file} is left on disk but no longer listed "
                           "(it shared the file with a ref exported now)")
            self.report.images.append((item.component, ImageOutcome((item.ref,), "failed", reason=reason)))
        self._finish("save-images", failures, "saves")

    def _wheels(self, bundle: _Bundle) -> None:
        self._start("wheels")
        try:
            bundle.wheels = download_wheels(self.runner, self.options.out_dir,
                                            python_versions=self.options.python_versions, sink=self.sink)
        except (CommandFailed, BundleError) as exc:
            self.report.files.append(FileOutcome("wheels", "installer and dependencies", "failed",
                                                 reason=exc.message.splitlines()[0]))
            self.sink.emit(LogLine(level="error", message=exc.message, step_id="wheels"))
            self._finish("wheels", 1, "downloads")
            return
        self.report.files.append(FileOutcome("wheels", f"{len(bundle.wheels)} wheels", "ok", file=WHEELS_DIR))
        self._finish("wheels", 0, "")


def archive_partners(previous: Manifest | None, wanted: list[WantedImage]) -> list[WantedImage]:
    """Refs an earlier export archived together with a ref asked for now, to export again.

    An archive is replaced as a whole: re-exporting ``busybox:latest`` alone would
    otherwise drop ``busybox:1.36`` that shared its file (or the other images of a
    multi-image archive) from the bundle without a word.
    """
    if previous is None:
        return []
    asked = {w.ref for w in wanted}
    partners: list[WantedImage] = []
    for component, entry in previous.images():
        refs = entry.all_refs()
        if asked.intersection(refs):
            for ref in refs:
                if ref not in asked:
                    asked.add(ref)
                    partners.append(WantedImage(ref, component, f"kept from {entry.file}"))
    return partners


def export_bundle(options: ExportOptions, sink: EventSink | None = None, **kwargs: Any) -> ExportReport:
    """Build the bundle described by ``options``; see :class:`Exporter`."""
    return Exporter(options, sink, **kwargs).run()

