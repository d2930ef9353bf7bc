"""The install profile: what ``--profile FILE`` reads and what the wizard writes.

Who reads what:

=================  ==========================================  =====================
section            meaning                                     owner module
=================  ==========================================  =====================
``bundle``         the offline-images folder (and trust file)  installer.bundle
``preflight``      thresholds, checks to skip                  this module
one per component  its settings (``Component.settings``)       components.<key>
=================  ==========================================  =====================

The component sections come from :data:`installer.components.registry.COMPONENTS`, in
install order, so a new component adds its section without touching this module.

Loading errors name the file, the line, the key path and the bad value, and
suggest the nearest valid key for a typo.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, Field, SecretStr, Tag, ValidationError, create_model

from installer.components import registry
from installer.config.base import PASSWORD_PLACEHOLDER, Section
from installer.config.validators import FolderPath, shorten
from installer.config.yamldoc import clean_loc, compose, key_path, line_of, syntax_error
from installer.config.yamldoc import load as load_yaml
from installer.engine.files import UnsafeInput, read_small_file
from installer.engine.safeparse import DocumentLimit
from installer.errors import ProfileError

if TYPE_CHECKING:
    from typing_extensions import Self

PROJECT_ROOT: Final = Path(__file__).resolve().parents[2]
DEFAULT_BUNDLE: Final = PROJECT_ROOT / "offline-images"
MAX_PROFILE_BYTES: Final = 1 << 20


class PreflightSettings(Section):
    """Preflight thresholds; the bundle's size adds to the disk requirement."""

    min_memory_gib: float = Field(8, ge=0)
    """Memory below this fails the check (MicroK8s + the hub need about 4 GiB; users need the rest)."""
    disk_headroom_gib: float = Field(20, ge=0)
    """Free space kept on top of the bundle's unpacked images, so kubelet does not start
    evicting images right after install (it evicts below 1 GiB free by default)."""
    skip_checks: list[str] = Field(default_factory=list)
    """Check ids to skip (same as ``--skip-check``); the log records each one."""


class BundleSettings(Section):
    """``bundle:`` as a mapping, when a trust file is wanted besides the folder."""

    path: FolderPath | None = None
    """The offline-images folder; relative paths are relative to the profile file.
    Default: ``offline-images`` next to ``install.sh``."""
    trust: FolderPath | None = None
    """An OpenSSH ``allowed_signers`` file (``NAME KEYTYPE BASE64`` per line): the bundle must be signed
    (``manifest.yaml.sig``) by one of its keys, or the install stops. Relative to the profile file."""


def _bundle_form(value: Any) -> str:
    """Which form ``bundle:`` takes: a mapping is the section, anything else the folder.

    Picking the form first means an error names only that form's key (``bundle.path``), not both.
    The tags hold ``[`` so that error locations drop them like pydantic's own union tags (``clean_loc``).
    """
    return "union[section]" if isinstance(value, (dict, BundleSettings)) else "union[folder]"


BundleField = Annotated[Annotated[FolderPath, Tag("union[folder]")] | Annotated[BundleSettings, Tag("union[section]")],
                        Discriminator(_bundle_form)]


class ProfileBase(Section):
    """What every profile holds besides the components' sections (see :data:`Profile`)."""

    bundle: BundleField | None = None
    """The offline-images folder (relative paths are relative to the profile file; default:
    ``offline-images`` next to ``install.sh``), or ``{path: ..., trust: ...}`` to require a signature."""
    preflight: PreflightSettings = Field(default_factory=PreflightSettings)
    """Preflight thresholds."""
    source: Path | None = Field(None, exclude=True)
    """Where the profile was loaded from (not part of the file)."""

    def bundle_dir(self, override: Path | None = None) -> Path:
        """The bundle folder in effect: ``override`` (``--bundle``) when given, else the profile's, resolved.

        The one rule for the bundle folder: the install options, the plan options and
        :meth:`with_bundle` all ask here.
        """
        if override is not None:
            return Path(override).resolve()
        folder = self.bundle.path if isinstance(self.bundle, BundleSettings) else self.bundle
        return DEFAULT_BUNDLE if folder is None else self._relative(folder)

    def bundle_trust(self) -> Path | None:
        """``bundle.trust``, resolved like the folder (``None``: not set here)."""
        if isinstance(self.bundle, BundleSettings) and self.bundle.trust is not None:
            return self._relative(self.bundle.trust)
        return None

    def _relative(self, path: Path) -> Path:
        if path.is_absolute() or self.source is None:
            return path
        return (self.source.parent / path).resolve()

    def with_bundle(self, bundle: Path) -> Self:
        """A copy whose bundle folder is ``bundle`` (``--bundle`` wins over the profile, for every step)."""
        if isinstance(self.bundle, BundleSettings):
            settings = BundleSettings(path=self.bundle_dir(bundle), trust=self.bundle_trust())
            return self.model_copy(update={"bundle": settings})
        return self.model_copy(update={"bundle": self.bundle_dir(bundle)})

    def secrets(self) -> list[str]:
        """Every secret value in the profile, for the redactor.

        Found by type (every :class:`~pydantic.SecretStr` field, at any depth), so a
        component that adds a password field is covered without touching this module.
        """
        return [secret.get_secret_value() for _, secret in secret_fields(self) if secret.get_secret_value()]


def _profile_model() -> type[ProfileBase]:
    """``Profile``: the base fields, then one section per registered component, in install order."""
    sections: dict[str, Any] = {
        c.key: (c.settings, Field(default_factory=c.settings, description=c.doc)) for c in registry.components()}
    return create_model("Profile", __base__=ProfileBase, __module__=__name__, __doc__="A whole install profile.",
                        **sections)


if TYPE_CHECKING:
    from installer.components.gpu_operator.settings import GpuOperatorSettings
    from installer.components.gpu_sharing.settings import GpuSharingSettings
    from installer.components.jupyterhub.settings import JupyterHubSettings
    from installer.components.microk8s.settings import MicroK8sSettings
    from installer.components.rdma.settings import RdmaSettings

    class Profile(ProfileBase):
        """The built-in components' sections, for the type checker only: at run time they come from the
        registry (a test checks the two agree). A new component's code reads its section with
        ``Component.section(profile)``, which is typed, so it needs no line here."""

        microk8s: MicroK8sSettings = Field(default_factory=MicroK8sSettings)
        gpu_sharing: GpuSharingSettings = Field(default_factory=GpuSharingSettings)
        gpu_operator: GpuOperatorSettings = Field(default_factory=GpuOperatorSettings)
        rdma: RdmaSettings = Field(default_factory=RdmaSettings)
        jupyterhub: JupyterHubSettings = Field(default_factory=JupyterHubSettings)
else:
    Profile = _profile_model()


def secret_fields(model: BaseModel,
                  prefix: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], SecretStr]]:
    """``(key path, value)`` of every set :class:`~pydantic.SecretStr` in ``model``, depth first."""
    found: list[tuple[tuple[str | int, ...], SecretStr]] = []

    def visit(value: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(value, SecretStr):
            found.append((path, value))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                visit(getattr(value, name), (*path, name))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, (*path, index))

    visit(model, prefix)
    return found


def profile_schema() -> dict[str, Any]:
    """The JSON schema of profile files (checked in as ``profiles/profile-schema.json``)."""
    schema = Profile.model_json_schema(mode="validation")
    schema["properties"].pop("source", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "JupyterHub offline installer profile"
    return schema


# --- loading with precise errors -------------------------------------------------------


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at ``loc``, to suggest its field names."""
    model: Any = Profile
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _holds_secret(annotation: Any, depth: int = 0) -> bool:
    """True when a value of this type is, or contains, a :class:`SecretStr`."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        kind = get_args(candidate)[0] if get_origin(candidate) is Annotated else candidate
        if kind is SecretStr:
            return True
        if isinstance(kind, type) and issubclass(kind, BaseModel) and depth < 5 and any(
                _holds_secret(f.annotation, depth + 1) for f in kind.model_fields.values()):
            return True
    return False


def _is_secret(loc: tuple[Any, ...]) -> bool:
    """True when ``loc`` names a secret field, or a section holding one (a string given for
    ``image_pull_secret`` is likely the credential itself): its value must not appear in an error."""
    model = _model_at(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model is not None and loc and isinstance(loc[-1], str) else None
    if field is None:
        return any(isinstance(p, str) and "password" in p for p in loc)  # a union branch pydantic named
    return _holds_secret(field.annotation)


def _suggest(loc: tuple[Any, ...]) -> str:
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return ""
    names = [n for n in model.model_fields if n != "source"]
    close = difflib.get_close_matches(loc[-1], names, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"valid keys here: {', '.join(names)}"


def _format_errors(path: Path, root: yaml.Node | None, error: ValidationError) -> ProfileError:
    lines: list[tuple[int, str]] = []
    hint = ""
    for item in error.errors():
        loc = clean_loc(tuple(item["loc"]))
        key = key_path(loc)
        line = line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        if item["type"] == "extra_forbidden":
            suggestion = _suggest(loc)
            lines.append((line or 0, f"{where}: unknown key '{key}'" + (f"; {suggestion}" if suggestion else "")))
            hint = hint or "Fix or remove the key; `./install.sh schema` prints every valid key."
        else:
            value = item.get("input")
            hidden = isinstance(value, (dict, list)) or value is None or repr(value) in item["msg"]
            shown = "" if hidden or _is_secret(loc) else f" (got {shorten(repr(value))})"
            lines.append((line or 0, f"{where}: {key}: {item['msg']}{shown}"))
    message = "\n".join(text for _, text in sorted(lines, key=lambda pair: pair[0]))
    return ProfileError(message, hint or "Correct the value in the profile; `./install.sh schema` documents each key.")


def load_profile(path: Path | str) -> Profile:
    """Read and validate a profile file.

    Raises:
        ProfileError: naming the file, the line, the key and the value.
    """
    path = Path(path)
    try:
        text = read_small_file(path, MAX_PROFILE_BYTES).decode("utf-8")
    except UnsafeInput as exc:
        msg = f"{path}: a profile is a small YAML file; this one is {exc}"
        raise ProfileError(msg, "Check that --profile names the right file.") from None
    except FileNotFoundError:
        msg = f"profile not found: {path}"
        raise ProfileError(msg, "Give the path of a profile, e.g. --profile profiles/cpu.yaml.") from None
    except IsADirectoryError:
        msg = f"{path} is a folder, not a profile file"
        raise ProfileError(msg, "Give the path of a .yaml file, e.g. profiles/cpu.yaml.") from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"cannot read profile {path}: {exc}"
        raise ProfileError(msg, "Check the file's permissions and that it is UTF-8 text.") from None
    return parse_profile(text, path)


def parse_profile(text: str, path: Path) -> Profile:
    """Validate profile ``text`` read from ``path`` (used for error messages and relative paths)."""
    try:
        data = load_yaml(text, path, max_bytes=MAX_PROFILE_BYTES)
    except yaml.YAMLError as exc:
        raise ProfileError(syntax_error(path, exc), "Check indentation and quoting around that line.") from None
    except DocumentLimit as exc:
        raise ProfileError(f"not a profile: {exc}", "Check that --profile names the right file.") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        msg = (f"{path}: a profile must be a YAML mapping of sections (microk8s:, jupyterhub:, ...), "
               f"got {type(data).__name__}")
        raise ProfileError(msg, "See profiles/cpu.yaml for the layout.")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise _format_errors(path, compose(text), exc) from None
    profile.source = path.resolve()
    return profile


def dump_profile(profile: Profile, *, include_secrets: bool = False) -> str:
    """The profile as YAML, the same format ``--profile`` reads.

    Secrets are written as ``null`` with a comment unless ``include_secrets`` is set.
    """
    data = profile.model_dump(mode="json", exclude_none=True, exclude={"source"})
    secrets = secret_fields(profile)
    for path, secret in secrets:
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = secret.get_secret_value() if include_secrets else PASSWORD_PLACEHOLDER
    if data.get("bundle") is None:
        data.pop("bundle", None)
    header = "# JupyterHub offline installer profile (replay with: sudo ./install.sh --profile THIS_FILE)\n"
    if secrets and not include_secrets:
        keys = ", ".join(".".join(str(p) for p in path) for path, _ in secrets)
        header += f"# Secrets were not saved ({keys}): replace {PASSWORD_PLACEHOLDER} before replaying.\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def schema_json() -> str:
    """The schema as stable, pretty JSON."""
    return json.dumps(profile_schema(), indent=2, sort_keys=True) + "\n"
