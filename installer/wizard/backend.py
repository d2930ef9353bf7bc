"""What the wizard's screens ask the engine, in one place and without Textual.

Each function here is called from a worker thread by one screen and returns plain
data (or emits events to the sink it is given). Keeping them out of the screens
means the wizard, the headless mode and the tests share the same logic, and a
screen stays a view over data.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from installer.check.report import headed_table
from installer.components.registry import bundle_order, component, components, optional_components
from installer.engine.commands import RealRunner
from installer.engine.events import CheckReported, CollectingSink, EventSink, LogLine, NullSink
from installer.engine.sizes import human_bytes
from installer.errors import InstallerError
from installer.wizard.model import ComponentChoice, WizardModel

if TYPE_CHECKING:
    from installer.engine.runner import RunResult
    from installer.install_run import InstallOptions
    from installer.probes.model import HostFacts

_LOGGER: Final = logging.getLogger(__name__)

ARCHIVE_SUFFIXES: Final = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.zstd")


@dataclass(frozen=True)
class BundleSummary:
    """What the Welcome screen says about the bundle."""

    path: Path
    exists: bool
    total_bytes: int = 0
    image_files: int = 0
    components: tuple[str, ...] = ()
    has_manifest: bool = False
    verified: bool | None = None
    """True: every file matched its checksum; False: a mismatch; None: not checked (yet)."""
    problems: tuple[str, ...] = ()
    signature: str | None = None
    """``signed by NAME (SHA256:...)``, ``not signed``, or why the signature is refused; None: not looked at."""

    def headline(self) -> str:
        """One line: size, images, components."""
        if not self.exists:
            return f"No bundle at {self.path}"
        parts = [human_bytes(self.total_bytes), f"{self.image_files} image files"]
        if self.components:
            parts.append("components: " + ", ".join(self.components))
        return " · ".join(parts)

    def trust(self) -> str:
        """Whether the files can be, or were, checked."""
        if not self.has_manifest:
            return "no manifest: nothing can be checked against a known checksum"
        if self.verified is True:
            return "verified: every file matches the manifest's sha256"
        if self.verified is False:
            return "NOT verified: " + "; ".join(self.problems[:2])
        return "manifest with checksums: every file is verified before it is imported"


@dataclass
class WizardPreflight:
    """Checks, hardware and recommendations from one preflight run."""

    checks: list[CheckReported] = field(default_factory=list)
    facts: HostFacts | None = None
    choices: list[ComponentChoice] = field(default_factory=list)
    image_warnings: dict[str, list[str]] = field(default_factory=dict)
    """Notebook image ref -> warnings from its archive config (user, missing singleuser)."""
    error: str = ""
    """Set when preflight itself could not run (the message and hint)."""
    answers: str = ""
    """:func:`preflight_key` of the answers it ran with: another key means the report is stale."""

    @property
    def failed(self) -> list[CheckReported]:
        """Checks that block the install."""
        return [c for c in self.checks if c.status == "fail"]

    @property
    def blocking(self) -> list[CheckReported]:
        """Failed checks no answer on a later screen can fix (the host itself must change)."""
        return [c for c in self.failed if c.check_id not in CHECK_STEPS]

    @property
    def ok(self) -> bool:
        """True when nothing blocks Next (a check the Components screen can fix does not)."""
        return not self.blocking and not self.error


WIZARD_STEPS: Final = ("welcome", "preflight", "components", "jupyterhub", "review")
"""The wizard's screens before the install, in order (the app's Back/Next and its step numbers)."""


def first_step(steps: list[str]) -> str:
    """The earliest of ``steps`` in the wizard's order (going back there keeps every later answer)."""
    return min(steps, key=lambda step: WIZARD_STEPS.index(step) if step in WIZARD_STEPS else len(WIZARD_STEPS))


CHECK_STEPS: Final[dict[str, str]] = {
    "gpu": "components", "gpu-driver": "components", "gpu-mig": "components", "docker": "components",
    "rdma": "components", "gpudirect": "components", "gpu-catalog": "jupyterhub",
}
"""Preflight checks that depend on an answer, and the wizard step where it is given (turning the GPU
Operator or RDMA off, an image's GPUs): see ``preflight/checks.py`` for what each one reads."""

COMPONENT_STEPS: Final[dict[str, str]] = {"gpu_operator": "components", "rdma": "components",
                                          "jupyterhub": "jupyterhub"}
"""Where the wizard chooses what a component needs from the bundle (others: only a different bundle helps)."""


@dataclass(frozen=True)
class Concern:
    """Something that would stop (``fail``) or spoil (``warn``) the install, and the step that can change it."""

    level: Literal["fail", "warn"]
    text: str
    step: str
    """A wizard step (``components``, ``jupyterhub``, ``preflight``, ``welcome``)."""


@dataclass
class WizardSession:
    """The state one wizard run carries from screen to screen."""

    options: InstallOptions
    """Runner options (bundle, containerd socket, dry-run...); the profile comes from ``model``."""
    model: WizardModel
    log_file: Path | None = None
    demo_notes: tuple[str, ...] = ()
    """Lines the screens show when this is the demo (what is real, what is a dry-run)."""
    preflight: WizardPreflight | None = None
    saved_profile: Path | None = None
    result: RunResult | None = None
    profile_dir: Path | None = None
    """Where Review proposes to save the profile (default: ``profiles/`` next to install.sh)."""
    failed_checks: list[str] = field(default_factory=list)
    """Ids of the checks the install's preflight step failed (to send the operator to the screen that fixes them)."""
    previous_run: str = ""
    """How the last install on this host ended (from its result file), shown on Welcome."""

    @classmethod
    def start(cls, options: InstallOptions, *, log_file: Path | None = None, demo_notes: tuple[str, ...] = (),
              profile_dir: Path | None = None) -> WizardSession:
        """A session whose answers start from ``options.profile``."""
        return cls(options=options, model=WizardModel.from_profile(options.profile), log_file=log_file,
                   demo_notes=demo_notes, profile_dir=profile_dir)

    def default_profile_path(self) -> Path:
        """``profiles/<hostname>.yaml`` next to install.sh (the demo: in its temp folder)."""
        from installer.config.profile import PROJECT_ROOT

        if self.model.save_path is not None:
            return self.model.save_path
        folder = self.profile_dir or PROJECT_ROOT / "profiles"
        name = socket.gethostname().split(".")[0] or "this-server"
        return folder / f"{'demo' if self.is_demo else name}.yaml"

    def save_profile(self, path: Path | None = None) -> Path:
        """Save the answers as a profile with the bundle in effect; remembers the path for Done.

        Raises:
            InstallerError: invalid answers or an unwritable file (the message names it).
        """
        saved = self.model.save(path, bundle=self.options.bundle())
        self.saved_profile = saved
        return saved

    def simulated(self, step_id: str) -> bool:
        """Whether ``step_id`` runs as a dry-run in this session (every step or none)."""
        return self.options.dry_run

    def confirm_question(self) -> str:
        """What Install asks before it changes anything."""
        if self.options.dry_run:
            return "Run the plan as a dry-run? Nothing on this host will change."
        lines = [f"Install JupyterHub on this host from {self.options.bundle()}?", ""]
        if self.is_demo:
            lines = ["Run the demo install from its bundle?", "", self.demo_notes[0] + "."]
        else:
            lines.append("This changes the host: snaps, MicroK8s, Helm releases.")
        lines.append("A cancelled or failed run resumes when started again.")
        return "\n".join(lines)

    @property
    def is_demo(self) -> bool:
        """True for ``./install.sh --demo``."""
        return bool(self.demo_notes)

    def install_options(self) -> InstallOptions:
        """The options with the profile the operator's answers describe.

        Raises:
            ProfileError: an answer is invalid (naming the field).
        """
        return dataclasses.replace(self.options, profile=self.model.to_profile())


# --- Welcome -----------------------------------------------------------------------------


def bundle_signature(bundle_dir: Path, trust: Path | None) -> tuple[str, str | None]:
    """The Welcome screen's signature line, and the problem the bundle check would stop at (if any)."""
    from installer.bundle.signature import check_signature

    try:
        signature = check_signature(bundle_dir, trust, RealRunner())
    except InstallerError as exc:
        return f"signature refused: {exc.message}", exc.message
    return signature.describe(), None


def trust_file(options: InstallOptions) -> Path | None:
    """The trust file the install's bundle check will use (the profile's, else the state folder's)."""
    from installer.bundle.signature import resolve_trust

    return resolve_trust(None, options.profile.bundle_trust(), options.state_dir)


def summarize_bundle(bundle_dir: Path, trust: Path | None = None) -> BundleSummary:
    """Size, image files, components and signer of the bundle, from its manifest when there is one."""
    if not bundle_dir.is_dir():
        return BundleSummary(bundle_dir, exists=False,
                             problems=(f"{bundle_dir} does not exist or is not a folder",))
    manifest_path = bundle_dir / "manifest.yaml"
    components: tuple[str, ...] = ()
    total = 0
    images = 0
    problems: list[str] = []
    if manifest_path.is_file():
        try:
            from installer.bundle.manifest import load_manifest

            manifest = load_manifest(manifest_path)
            components = tuple(sorted(_manifest_components(manifest)))
        except ImportError:
            _LOGGER.debug("bundle module not available; summarising from files only")
        except InstallerError as exc:
            problems.append(exc.message)
    signature, refused = bundle_signature(bundle_dir, trust)
    if refused:
        problems.insert(0, refused)
    for path in bundle_dir.rglob("*"):
        if path.is_file():
            total += path.stat().st_size
            if path.name.endswith(ARCHIVE_SUFFIXES) and "charts" not in path.parts:
                images += 1
    return BundleSummary(bundle_dir, exists=True, total_bytes=total, image_files=images, components=components,
                         has_manifest=manifest_path.is_file(), problems=tuple(problems),
                         verified=False if problems else None, signature=signature)


def verify_summary(summary: BundleSummary, sink: EventSink | None = None,
                   cancel: threading.Event | None = None) -> BundleSummary:
    """Check every file of the bundle against its manifest (sha256 and refs); progress goes to ``sink``.

    Returns ``summary`` with ``verified`` set (and the first problems named), or
    unchanged when there is no manifest to check against.
    """
    from installer.engine.events import StepProgress

    if not summary.exists or not summary.has_manifest:
        return summary
    sink = sink or NullSink()
    try:
        from installer.bundle.manifest import load_manifest
        from installer.bundle.verify import verify_bundle

        manifest = load_manifest(summary.path / "manifest.yaml")

        def progress(done: int, total: int) -> None:
            sink.emit(StepProgress(step_id="verify", done=done, total=total, message="verifying checksums"))

        report = verify_bundle(summary.path, manifest, on_progress=progress, cancel=cancel)
    except InstallerError as exc:
        return dataclasses.replace(summary, verified=False, problems=(exc.message,))
    problems = tuple(check.message for check in report.failures)
    return dataclasses.replace(summary, verified=report.ok, problems=problems)


def _manifest_components(manifest: Any) -> list[str]:
    comps = getattr(manifest, "components", None)
    if isinstance(comps, dict):
        return [name for name, entry in comps.items() if entry]
    return []


# --- Preflight ---------------------------------------------------------------------------


def run_wizard_preflight(options: InstallOptions, sink: EventSink | None = None) -> WizardPreflight:
    """Probe the host and run the checks for ``options.profile``; each check is also emitted to ``sink``.

    Never raises for an operator-facing problem: the report carries it, so the
    screen can show it with a way to re-run.
    """
    sink = sink or NullSink()
    forward: EventSink = sink  # the class below cannot see that sink is no longer None
    collecting = CollectingSink()

    class _Both:
        def emit(self, event: Any) -> None:
            collecting.emit(event)
            forward.emit(event)

    report = WizardPreflight()
    try:
        facts, checks, choices = _preflight_engine(options, _Both())
    except InstallerError as exc:
        report.error = exc.message + (f"\n{exc.hint}" if exc.hint else "")
        sink.emit(LogLine(level="error", message=report.error))
        return report
    report.facts = facts
    report.checks = checks or collecting.of(CheckReported)
    report.choices = choices
    report.image_warnings = notebook_image_warnings(options)
    return report


def preflight_key(model: WizardModel) -> str:
    """The answers preflight reads (thresholds, components, catalog): a different key means re-run it."""
    profile = model.profile
    parts = [profile.preflight, *(c.section(profile) for c in components()), *profile.jupyterhub.images]
    return json.dumps([part.model_dump(mode="json") for part in parts], sort_keys=True, default=str)


def fresh_preflight(session: WizardSession, options: InstallOptions) -> WizardPreflight:
    """The session's report when it was made for these answers, else a new run (kept in the session)."""
    key = preflight_key(session.model)
    report = session.preflight
    if report is None or report.answers != key:
        report = run_wizard_preflight(options)
        report.answers = key
        session.preflight = report
    return report


def bundle_concerns(options: InstallOptions) -> list[Concern]:
    """What the install's bundle check would stop at: artifacts the chosen components need and the bundle lacks."""
    from installer.bundle.contents import load_bundle
    from installer.bundle.requirements import missing_artifacts

    try:
        bundle = load_bundle(options.bundle())
        missing = missing_artifacts(options.profile, bundle)
    except InstallerError as exc:
        return [Concern("fail", f"{exc.message}: the bundle check would stop the install", "welcome")]
    return [Concern("fail", f"{item.message}: the bundle check would stop the install",
                    COMPONENT_STEPS.get(item.component, "welcome")) for item in missing]


def answer_concerns(session: WizardSession) -> list[Concern]:
    """Everything Review must show before Install: checks that fail with these answers (preflight runs
    again when a choice it reads changed), what the bundle lacks, and the offered images' warnings.

    Call it in a worker: it may probe the host and read the bundle.
    """
    try:
        options = session.install_options()
    except InstallerError as exc:
        return [Concern("fail", exc.message, "jupyterhub")]
    report = fresh_preflight(session, options)
    concerns = []
    if report.error:
        concerns.append(Concern("fail", f"preflight could not run: {report.error}", "preflight"))
    for check in report.failed:
        concerns.append(Concern("fail", f"{check.title}: found {check.found}; required {check.required}",
                                CHECK_STEPS.get(check.check_id, "preflight")))
    concerns += bundle_concerns(options)
    warnings = {**session.model.image_warnings, **report.image_warnings}
    concerns += [Concern("warn", f"{image.display_name}: {warning}", "jupyterhub")
                 for image in session.model.catalog if image.enabled for warning in warnings.get(image.image, [])]
    return concerns


def component_warnings(session: WizardSession, component_id: str) -> list[str]:
    """Why turning ``component_id`` on here would fail: no such hardware found, or its images not in the bundle."""
    model = session.model
    if not model.enabled(component_id):
        return []
    warnings = []
    facts = session.preflight.facts if session.preflight else None
    if component_id == "gpu_operator" and facts is not None and not facts.gpus:
        warnings.append("No NVIDIA GPU was found on this host: with the GPU Operator on, the install stops at "
                        "preflight.")
    manifest = _bundle_manifest(session.options)
    if manifest is not None:
        from installer.bundle.requirements import component_needs

        held = {ref for _, entry in manifest.images() for ref in entry.all_refs()}
        missing = [ref for ref in component_needs(model.profile, component_id).images if ref not in held]
        if missing:
            warnings.append(f"The bundle lacks {len(missing)} image(s) this component needs (e.g. {missing[0]}): "
                            "the install would stop at the bundle check.")
    return warnings


def fix_step(session: WizardSession, failed_checks: list[str]) -> str | None:
    """The wizard step whose answers can fix the install's failure, or ``None`` (not an answer's fault).

    ``failed_checks``: the ids of the checks the install's preflight step failed.
    """
    result = session.result
    failed = next((o for o in result.outcomes if o.status == "failed"), None) if result else None
    if failed is None:
        return None
    if failed.step_id == "preflight":
        return first_step([CHECK_STEPS.get(check, "preflight") for check in failed_checks] or ["preflight"])
    if failed.step_id == "bundle-check":
        try:
            options = session.install_options()  # the answers the install ran with, not the starting profile
        except InstallerError:
            return "review"
        steps = [c.step for c in bundle_concerns(options)]
        return first_step(steps) if steps else "review"
    return None


def _bundle_manifest(options: InstallOptions) -> Any:
    """The bundle's manifest, or ``None`` (no manifest, or one the bundle check will report)."""
    from installer.bundle.manifest import MANIFEST_NAME, load_manifest

    path = options.bundle() / MANIFEST_NAME
    try:
        return load_manifest(path) if path.is_file() else None
    except InstallerError:
        return None


def _image_warnings(options: InstallOptions, manifest: Any, image: Any) -> list[str]:
    """The image checks' warnings for one catalog entry (checked as if it were offered)."""
    from installer.components.jupyterhub.image_checks import check_notebook_images

    hub = options.profile.jupyterhub
    single = hub.model_copy(update={"images": [image.model_copy(update={"enabled": True})]})
    return [result.hint or f"{result.title}: {result.found}"
            for result in check_notebook_images(single, options.bundle(), manifest)
            if result.status in ("warn", "fail")]


def notebook_image_warnings(options: InstallOptions) -> dict[str, list[str]]:
    """Image ref -> the image checks' warnings, for every catalog entry (enabled or not).

    The catalog shows them beside each image, so the operator sees before enabling
    an image that it runs as root or lacks ``jupyterhub-singleuser``.
    """
    manifest = _bundle_manifest(options)
    if manifest is None:
        return {}
    warnings: dict[str, list[str]] = {}
    for image in options.profile.jupyterhub.images:  # every checked image gets a key, even with no warning
        warnings.setdefault(image.image, []).extend(_image_warnings(options, manifest, image))
    return warnings


def offerable_images(options: InstallOptions, catalog: list[str]) -> list[str]:
    """Images in the bundle that no component needs and ``catalog`` lacks: notebook images to add.

    Operators export their own notebook images with ``--image``; the JupyterHub
    screen offers these when the operator adds a catalog entry.
    """
    from installer.bundle.imageref import normalize_ref
    from installer.bundle.requirements import known_refs

    manifest = _bundle_manifest(options)
    if manifest is None:
        return []
    try:
        needed = set(known_refs(options.profile))
    except InstallerError:  # a component version without an image list: the bundle check names it later
        needed = {ref for _, entry in manifest.images(["jupyterhub"]) for ref in entry.all_refs()}
    taken = needed | {normalize_ref(ref) for ref in catalog}
    held = [ref for _, entry in manifest.images(["jupyterhub", "extra"]) for ref in entry.all_refs()]
    return sorted({ref for ref in held if ref not in taken})


def image_problem(options: InstallOptions, ref: str) -> str | None:
    """Why ``ref`` cannot be offered (not an image reference, or not in the bundle's manifest), or ``None``."""
    from installer.config.validators import check_image_ref

    try:
        check_image_ref(ref)
    except ValueError as exc:
        return str(exc)
    manifest = _bundle_manifest(options)
    if manifest is None or manifest.find_image(ref) is not None:
        return None
    return (f"{ref} is not in the bundle: add it on the connected machine "
            f"(`./install.sh export ... --image {ref}`), or pick an image the bundle holds")


def entry_warnings(options: InstallOptions, name: str, ref: str) -> list[str]:
    """The image checks' warnings for a new catalog entry (reads the archive's config: call it in a worker).

    A file that cannot be read is itself the warning: the wizard must not stop over it.
    """
    from installer.components.jupyterhub.settings import NotebookImage

    manifest = _bundle_manifest(options)
    if manifest is None:
        return []
    try:
        return _image_warnings(options, manifest, NotebookImage(name=name, display_name=name, image=ref))
    except (InstallerError, OSError, ValueError) as exc:
        return [f"could not check the image in the bundle: {exc}"]


def _preflight_engine(options: InstallOptions,
                      sink: EventSink) -> tuple[Any, list[CheckReported], list[ComponentChoice]]:
    """Probe, check and suggest with the same engine as the install's first step."""
    from installer.preflight.report import ImageTarget, run_preflight

    report = run_preflight(RealRunner(NullSink()), options.profile, options.host_root,
                           skip_checks=sorted(options.skip_checks), bundle_dir=options.bundle(),
                           images_target=ImageTarget(options.containerd_socket, options.namespace))
    checks = [check.to_event() for check in report.checks]
    for event in checks:
        sink.emit(event)
    choices = [
        ComponentChoice(s.component, component(s.component).title, s.suggested, s.reason, usable=True,
                        settings=dict(s.settings))
        for s in report.suggestions
    ]
    return report.facts, checks, choices


# --- Components ----------------------------------------------------------------------------

UNCHECKED: Final = "the hardware has not been checked"
"""The reason shown before preflight ran, or for a component without a hardware suggestion."""


def always_installed() -> list[tuple[str, str]]:
    """``(title, what it brings)`` of each component every install has, in bundle order (not GPU sharing,
    which its own choice turns on)."""
    from installer.config.profile import Profile

    default = Profile()
    return [(c.title, c.summary) for c in bundle_order() if not c.optional and c.enabled(default)]


SHARING_MODES: Final = (
    ("none", "None: whole GPUs (or the host's MIG slices), one server each"),
    ("time-slicing", "Time-slicing: servers take turns on a GPU, memory not isolated"),
    ("hami", "HAMi: each server gets its slice of GPU memory and cores"),
)
"""``gpu_sharing.mode`` choices with their one-line explanation (the Components screen)."""


def component_choices(session: WizardSession) -> list[ComponentChoice]:
    """One per optional component, in install order: the hardware's recommendation once preflight ran."""
    report = session.preflight
    known = {c.id: c for c in (report.choices if report else [])}
    return [known.get(c.key, ComponentChoice(c.key, c.title, False, UNCHECKED)) for c in optional_components()]


# --- Install -----------------------------------------------------------------------------


def plan_outline(options: InstallOptions) -> list[tuple[str, str, str]]:
    """``(step id, title, component)`` of every step the install will run, in order.

    Raises:
        InstallerError: the plan cannot be built (bundle or profile problem).
    """
    from installer.install_run import install_plan

    plan = install_plan(options)
    return [(step.id, step.title, step.component) for step in plan.steps]


def install(options: InstallOptions, sink: EventSink, cancel: threading.Event,
            log_file: Path | None = None) -> RunResult:
    """Run the install; errors before the first step (lock, plan) come back as a failed result."""
    from installer.engine.runner import RunResult
    from installer.install_run import make_redactor, run_install

    redactor = make_redactor(options.profile)
    try:
        return run_install(options, sink, redactor=redactor, cancel=cancel, log_file=log_file)
    except InstallerError as exc:
        sink.emit(LogLine(level="error", message=exc.message + (f" — {exc.hint}" if exc.hint else "")))
        return RunResult("failed", exc.exit_code, [], exc)


def probe_runner() -> RealRunner:
    """The runner for read-only probes started by the wizard."""
    return RealRunner(NullSink())


# --- Review and Done -----------------------------------------------------------------------


def review_lines(session: WizardSession) -> list[str]:
    """The operator's choices in a few plain lines."""
    model = session.model
    hub = model.profile.jupyterhub
    options = session.options
    enabled = [e for e in model.catalog if e.enabled]
    installed = [c.name for c in bundle_order() if c.enabled(model.profile)]
    auth = ("sign-up, admins approve" + (" (open sign-up)" if hub.auth.open_signup else "")
            if hub.auth.type == "native" else "one shared password")
    lines = [
        f"Bundle      {options.bundle()}",
        "Components  " + ", ".join(installed),
        f"Admins      {', '.join(hub.admin_users) or '-'}" + (
            f"   allowed: {', '.join(hub.allowed_users)}" if hub.allowed_users else ""),
        f"Login       {auth}",
        f"Storage     {hub.storage.size} per user   port {hub.service.node_port}",
        "Network     notebooks " + ("may reach the site's private addresses" if hub.allow_private_egress
                                    else "cannot reach private addresses (z2jh's default policy)"),
        f"Images      {len(enabled)} of {len(model.catalog)} offered: " + ", ".join(e.display_name for e in enabled),
    ]
    if options.check and not options.dry_run:
        lines.append("Check       at the end: start, probe and remove each offered image")
    elif not options.dry_run:
        lines.append("Check       off (--no-check): run ./install.sh check later")
    if options.dry_run:
        lines.append("Mode        DRY-RUN: nothing on this host changes")
    elif session.is_demo:
        lines.append(f"Mode        demo: {session.demo_notes[0]}")
    return lines


@dataclass(frozen=True)
class DoneReport:
    """What the Done screen says."""

    status: str
    headline: str
    url: str = ""
    login: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    check: tuple[str, ...] = ()
    """The acceptance check's table, when it ran."""


def done_report(session: WizardSession) -> DoneReport:
    """The end of the run in words: the URL and login when it worked, the failures and hints otherwise."""
    result = session.result
    options = session.options
    model = session.model
    files = []
    if session.log_file is not None:
        files.append(f"Log file: {session.log_file}")
    if session.saved_profile is not None:
        files.append(f"Profile:  {session.saved_profile}")
        if session.is_demo:
            files.append(f"Replay headless (the demo's bundle is removed when it ends): "
                         f"./install.sh --demo --profile {session.saved_profile}")
        else:
            files.append(f"Replay on the next server: sudo ./install.sh --profile {session.saved_profile}")
    if result is None:
        return DoneReport("failed", "The install did not run.", files=tuple(files))
    problems = []
    for outcome in result.outcomes:
        if outcome.status == "failed":
            problems.append(f"✘ {outcome.title}: {outcome.reason}")
            if outcome.hint:
                problems.append(f"  hint: {outcome.hint}")
        elif outcome.status == "skipped":
            problems.append(f"↷ {outcome.title}: skipped ({outcome.reason})")
        elif outcome.status == "not_run":
            problems.append(f"· {outcome.title}: not run")
    if result.error is not None and not any(o.status == "failed" for o in result.outcomes):
        problems.append(f"✘ {result.error.message}")
        if result.error.hint:
            problems.append(f"  hint: {result.error.hint}")
    check = tuple(headed_table(result.results.check, options.url_note(), brief=True))  # the Done screen is small
    if result.status == "interrupted":
        headline = "Install cancelled. Run the installer again to resume; finished steps are skipped."
        return DoneReport("interrupted", headline, problems=tuple(problems), files=tuple(files), check=check)
    if result.status != "ok":
        headline = "The install stopped at a failed step; fix it and run the installer again to resume."
        return DoneReport("failed", headline, problems=tuple(problems), files=tuple(files), check=check)
    hub = model.profile.jupyterhub
    url = result.results.hub_url or ""  # as the install step read it from the cluster: never worked out again here
    if not url:
        login: tuple[str, ...] = ()
    elif hub.auth.type == "native":
        login = (f"Sign up first as {_admin_names(hub.admin_users)}: {url}hub/signup",
                 f"then approve other users at {url}hub/authorize.")
    else:
        login = ("Log in with any allowed user name and the shared password you chose.",)
    if options.dry_run:
        headline = "Dry-run finished: nothing on this host changed."
    elif session.is_demo:
        headline = f"Demo finished ({session.demo_notes[0]}): the URL below is the simulated node's."
    else:
        headline = "JupyterHub is installed and answering."
    return DoneReport("ok", headline, url=url, login=login, problems=tuple(problems), files=tuple(files),
                      check=check)


def _admin_names(admins: list[str]) -> str:
    """``'admin'``, or ``one of the admins ('admin' or 'ops')``: any of them may sign up first."""
    quoted = [f"'{name}'" for name in admins] or ["'admin'"]
    if len(quoted) == 1:
        return quoted[0]
    return f"one of the admins ({', '.join(quoted[:-1])} or {quoted[-1]})"


def exit_summary(session: WizardSession) -> list[str]:
    """What the terminal shows once the wizard has left the screen: the same lines as the headless mode's."""
    from installer.headless.summary import summary_lines

    try:
        profile = session.model.to_profile()
    except InstallerError:
        profile = session.options.profile
    return summary_lines(session.result, profile, log_file=session.log_file, saved_profile=session.saved_profile,
                         simulated=session.options.url_note())
