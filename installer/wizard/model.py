"""The wizard edits a profile: the one the install runs with, and the one Review saves.

The screens read and write a :class:`~installer.config.profile.Profile` (a private
copy of the starting one) through :class:`Answer` bindings: each names the
profile field it edits once, as a path checked against the model when this module
loads, with the label the operator sees. ``to_profile()`` validates with the same
pydantic models as ``--profile FILE``, and an error comes back with the answers it
concerns (from pydantic's own error location), so the screen marks the field.
No Textual here: the same rules apply to an interactive run and its saved profile.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, SecretStr, ValidationError, create_model

from installer.components.jupyterhub.settings import NotebookImage
from installer.components.jupyterhub.steps import hub_url as component_hub_url
from installer.components.registry import component, optional_components
from installer.config.profile import Profile, dump_profile
from installer.engine.files import FileWriter
from installer.errors import ProfileError

_LOGGER: Final = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """One profile field the wizard asks for: where it lives, its label, the form field that shows it.

    ``path`` is checked against ``root``'s fields when the answer is declared, so a
    renamed profile key fails at import, not on the operator's screen.
    """

    path: tuple[str, ...]
    label: str
    widget: str
    """The form field's id on screen (errors put the focus there)."""
    root: type[BaseModel] = Profile

    def __post_init__(self) -> None:
        self.field_info()  # raises for a path the model does not have

    def field_info(self) -> Any:
        """Pydantic's field info at ``path`` (its type and constraints)."""
        model: Any = self.root
        info: Any = None
        for part in self.path:
            fields = model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}
            if part not in fields:
                msg = f"{self.root.__name__} has no field {'.'.join(self.path)}"
                raise AttributeError(msg)
            info = fields[part]
            model = info.annotation
        return info

    def get(self, obj: BaseModel) -> Any:
        """The value in ``obj`` (a :attr:`root` instance)."""
        value: Any = obj
        for part in self.path:
            value = getattr(value, part)
        return value

    def set(self, obj: BaseModel, value: Any) -> None:
        """Write ``value`` into ``obj``; validation comes later, with the whole profile."""
        parent: Any = obj
        for part in self.path[:-1]:
            parent = getattr(parent, part)
        setattr(parent, self.path[-1], value)

    def parse(self, value: Any) -> Any:
        """``value`` (typed text) converted and checked by the field's own type and constraints.

        Raises:
            AnswerError: naming this answer.
        """
        info = self.field_info()
        one = create_model("OneAnswer", value=(info.annotation, info))  # the field's type and constraints
        try:
            return dict(one.model_validate({"value": value}))["value"]
        except ValidationError as exc:
            message = "; ".join(_message(item) for item in exc.errors())
            raise AnswerError(f"{self.label}: {message}", (self,)) from None


ADMINS: Final = Answer(("jupyterhub", "admin_users"), "Admin users", "admins")
ALLOWED: Final = Answer(("jupyterhub", "allowed_users"), "Allowed users", "allowed")
AUTH_TYPE: Final = Answer(("jupyterhub", "auth", "type"), "Authentication", "auth")
PASSWORD: Final = Answer(("jupyterhub", "auth", "password"), "Shared password", "password")
OPEN_SIGNUP: Final = Answer(("jupyterhub", "auth", "open_signup"), "Open sign-up", "open-signup")
STORAGE: Final = Answer(("jupyterhub", "storage", "size"), "Storage per user", "storage")
PORT: Final = Answer(("jupyterhub", "service", "node_port"), "Port", "port")
PRIVATE_EGRESS: Final = Answer(("jupyterhub", "allow_private_egress"), "Private network", "private-egress")
IMAGES: Final = Answer(("jupyterhub", "images"), "Notebook images", "catalog")
AUTH: Final = Answer(("jupyterhub", "auth"), "Authentication", "password")
"""The section as a whole: its own check is the shared password's, so the password field gets the focus."""
HUB_ANSWERS: Final = (ADMINS, ALLOWED, AUTH_TYPE, PASSWORD, OPEN_SIGNUP, STORAGE, PORT, PRIVATE_EGRESS, IMAGES, AUTH)
"""What the JupyterHub screen asks, in screen order."""

IMAGE_IMAGE: Final = Answer(("image",), "Image", "image", NotebookImage)
IMAGE_ENABLED: Final = Answer(("enabled",), "Offered", "enabled", NotebookImage)
IMAGE_DISPLAY_NAME: Final = Answer(("display_name",), "Display name", "display-name", NotebookImage)
IMAGE_CPU: Final = Answer(("cpu_limit",), "CPU limit", "cpu", NotebookImage)
IMAGE_MEM: Final = Answer(("mem_limit",), "Memory limit", "mem", NotebookImage)
IMAGE_GPUS: Final = Answer(("gpus",), "GPUs", "gpus", NotebookImage)
IMAGE_NAME: Final = Answer(("name",), "Name", "display-name", NotebookImage)
IMAGE_ANSWERS: Final = (IMAGE_IMAGE, IMAGE_ENABLED, IMAGE_DISPLAY_NAME, IMAGE_CPU, IMAGE_MEM, IMAGE_GPUS, IMAGE_NAME)
"""What the notebook image dialog asks."""

class AnswerError(ProfileError):
    """Answers that do not validate; ``answers`` are the fields concerned, to mark on screen."""

    def __init__(self, message: str, answers: tuple[Answer, ...] = (),
                 hint: str = "Correct the field and press Next again.") -> None:
        super().__init__(message, hint)
        self.answers = answers


@dataclass(frozen=True)
class ComponentChoice:
    """An optional component as the Components screen shows it."""

    id: str
    """Profile section (``gpu_operator``, ``rdma``)."""
    title: str
    recommended: bool
    reason: str
    """Why it is (not) recommended, from the hardware found."""
    usable: bool = True
    """False when the hardware cannot use it; the reason says why."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Keys of the section the hardware calls for (the driver, the MIG strategy), set when it is turned on."""


@dataclass
class WizardModel:
    """The profile being edited, and what the wizard itself needs to remember."""

    profile: Profile
    """A private copy of the starting profile (the default one, or the demo's); screens edit it in place."""
    image_warnings: dict[str, list[str]] = field(default_factory=dict)
    """Image ref -> the bundle's image checks' warnings (user not 1000, no jupyterhub-singleuser); not saved."""
    save_path: Path | None = None
    """Where Review saves the profile (None: do not save)."""
    save_secrets: bool = False
    components_touched: bool = False
    """The operator changed a component switch; suggestions no longer overwrite it."""

    @classmethod
    def from_profile(cls, profile: Profile) -> WizardModel:
        """Answers pre-filled from ``profile`` (which is not changed)."""
        copy = profile.model_copy(deep=True)
        copy.source = profile.source
        return cls(profile=copy)

    @property
    def catalog(self) -> list[NotebookImage]:
        """The notebook images, edited in place."""
        return self.profile.jupyterhub.images

    @property
    def password(self) -> str:
        """The shared password as typed (kept in memory; saved only when ``save_secrets`` is set)."""
        secret = PASSWORD.get(self.profile)
        return secret.get_secret_value() if isinstance(secret, SecretStr) else ""

    @password.setter
    def password(self, text: str) -> None:
        PASSWORD.set(self.profile, SecretStr(text) if text else None)

    def enabled(self, component_id: str) -> bool:
        """Whether the optional component ``component_id`` is turned on."""
        return bool(self._section(component_id).enabled)

    def _section(self, component_id: str) -> Any:
        if component_id not in {c.key for c in optional_components()}:
            msg = f"unknown optional component {component_id!r}"
            raise ValueError(msg)
        return component(component_id).section(self.profile)

    def add_entry(self, entry: NotebookImage) -> NotebookImage:
        """Append a new entry, named from its image and unique among the catalog's names."""
        entry.name = unique_slug(image_slug(entry.image), {e.name for e in self.catalog})
        self.catalog.append(entry)
        return entry

    def apply_recommendations(self, choices: list[ComponentChoice]) -> None:
        """Switch components on or off as the hardware suggests, unless the operator already chose."""
        if self.components_touched:
            return
        for choice in choices:
            if choice.id in {c.key for c in optional_components()}:
                self._switch(choice.id, choice.recommended and choice.usable, choice.settings)

    def set_component(self, component_id: str, enabled: bool, settings: dict[str, Any] | None = None) -> None:
        """The operator's own choice for one optional component (with the hardware's settings when turned on)."""
        self._switch(component_id, enabled, settings or {})
        self.components_touched = True

    def set_sharing(self, mode: str) -> None:
        """The operator's GPU sharing mode (``none``, ``time-slicing``, ``hami``); validated by ``to_profile``."""
        component("gpu_sharing").section(self.profile).mode = mode

    def _switch(self, component_id: str, enabled: bool, settings: dict[str, Any]) -> None:
        section = self._section(component_id)
        section.enabled = enabled
        if enabled:
            for key, value in settings.items():
                if key in type(section).model_fields:  # validated with the rest by to_profile()
                    setattr(section, key, value)

    def to_profile(self) -> Profile:
        """The edited profile, validated as a profile file is.

        Raises:
            AnswerError: naming the wizard field (and profile key) that is wrong.
        """
        try:
            profile = Profile.model_validate(self.profile.model_dump(mode="python", exclude={"source"}))
        except ValidationError as exc:
            raise answer_error(exc, self.profile) from None
        profile.source = self.profile.source
        return profile

    def save(self, path: Path | None = None, *, include_secrets: bool | None = None,
             bundle: Path | None = None) -> Path:
        """Write the profile YAML (mode 0600: it may hold a password) and return its path.

        ``bundle`` is the bundle folder in effect (a ``--bundle`` given to the wizard).

        Raises:
            ProfileError: the answers do not validate.
            InstallerError: the file cannot be written.
        """
        target = path or self.save_path
        if target is None:
            msg = "no file name given for the profile"
            raise ProfileError(msg, "Type a path such as profiles/my-server.yaml.")
        secrets = self.save_secrets if include_secrets is None else include_secrets
        profile = self.to_profile()
        # The bundle in effect (``--bundle`` included), absolute, so the file works from any folder.
        profile = profile.with_bundle((bundle or profile.bundle_dir()).resolve())  # keeps bundle.trust
        text = dump_profile(profile, include_secrets=secrets)
        written = FileWriter().write(target, text, 0o600)  # raises InstallerError naming the file
        _LOGGER.info("profile saved to %s (secrets %s)", written, "included" if secrets else "left out")
        return Path(written)


def edit_image(entry: NotebookImage, values: dict[Answer, Any]) -> None:
    """Apply the image dialog's ``values`` to ``entry`` once :class:`NotebookImage` accepts them all.

    Text fields left empty mean "none" (no limit). A new entry (no name yet) is checked
    under the name it will get. Nothing changes when a value is wrong.

    Raises:
        AnswerError: naming the image and each wrong field.
    """
    data = entry.model_dump(mode="python")
    for answer, value in values.items():
        data[answer.path[-1]] = None if isinstance(value, str) and not value.strip() else value
    data["gpus"] = data.get("gpus") or 0
    data["name"] = entry.name or image_slug(str(data.get("image") or ""))
    try:
        valid = NotebookImage.model_validate(data)
    except ValidationError as exc:
        name = str(data.get("display_name") or entry.display_name or data.get("image") or "new image")
        lines, answers = [], []
        for item in exc.errors():
            at = _answer_at([str(p) for p in item["loc"]], IMAGE_ANSWERS)
            answers += [at] if at else []
            lines.append(f"{at.label if at else '.'.join(map(str, item['loc']))}: {_message(item)}")
        msg = f"Notebook image '{name}': " + "; ".join(lines)
        raise AnswerError(msg, tuple(answers), "Correct the field and press Save again.") from None
    for key in type(entry).model_fields:
        if key != "name" or entry.name:
            setattr(entry, key, getattr(valid, key))


def new_entry(ref: str = "") -> NotebookImage:
    """A draft catalog entry for ``ref``: offered, no limits; named when added to the catalog."""
    return NotebookImage.model_construct(name="", display_name=default_display_name(ref), image=ref)


def answer_error(error: ValidationError, profile: Profile) -> AnswerError:
    """One readable line per wrong answer, labelled as on screen; an image is named by its display name."""
    lines, answers = [], []
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not str(p).startswith("function-")]
        key = ".".join(loc)
        image = _image_at(loc, profile)
        if image is not None:
            inner = _answer_at(loc[3:], IMAGE_ANSWERS)
            label = f"Notebook image '{image.display_name}'" + (f" {inner.label}" if inner else "")
            answers.append(IMAGES)
        else:
            found = _answer_at(loc, HUB_ANSWERS)
            label = found.label if found else key or "Profile"
            answers += [found] if found else []
        lines.append(f"{label}: {_message(item)} ({key})")
    msg = "\n".join(lines) or "the answers do not form a valid profile"
    return AnswerError(msg, tuple(dict.fromkeys(answers)))


def _image_at(loc: list[str], profile: Profile) -> NotebookImage | None:
    if len(loc) >= 3 and tuple(loc[:2]) == IMAGES.path and loc[2].isdigit():
        images = profile.jupyterhub.images
        index = int(loc[2])
        return images[index] if index < len(images) else None
    return None


def _answer_at(loc: list[str], answers: tuple[Answer, ...]) -> Answer | None:
    """The answer whose path is the longest prefix of ``loc``."""
    best = None
    for answer in answers:
        if tuple(loc[:len(answer.path)]) == answer.path and (best is None or len(answer.path) > len(best.path)):
            best = answer
    return best


def _message(item: Any) -> str:
    return str(item["msg"]).removeprefix("Value error, ")


def image_slug(ref: str) -> str:
    """A catalog name from an image ref: ``quay.io/jupyter/pytorch-notebook:cuda12`` -> ``pytorch-notebook``."""
    repository = ref.partition("@")[0]
    slash, colon = repository.rfind("/"), repository.rfind(":")
    if colon > slash:
        repository = repository[:colon]
    slug = re.sub(r"[^a-z0-9]+", "-", repository.rpartition("/")[2].lower()).strip("-")
    return slug[:50].rstrip("-") or "image"


def default_display_name(ref: str) -> str:
    """What users see for a new image until the operator names it: ``pytorch-notebook:cuda12``."""
    return ref.rpartition("/")[2].partition("@")[0][:80]


def unique_slug(base: str, taken: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever is free."""
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def split_users(text: str) -> list[str]:
    """User names typed as ``alice, bob carol`` -> ``["alice", "bob", "carol"]``."""
    return [name for name in text.replace(",", " ").split() if name]


def hub_url(profile: Profile, host: str | None = None) -> str:
    """The address users open: the JupyterHub component's rule (its one owner), with this host's address."""
    return component_hub_url(profile.jupyterhub, host or primary_address())


def primary_address() -> str:
    """This host's first non-loopback IPv4 address (what users on the network type), else localhost."""
    try:
        import psutil  # a listed dependency; imported here to keep module import cheap

        stats = psutil.net_if_stats()
        for name, addrs in sorted(psutil.net_if_addrs().items()):
            if name == "lo" or not stats.get(name) or not stats[name].isup:
                continue
            for addr in addrs:
                if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                    return str(addr.address)
    except (ImportError, OSError) as exc:
        _LOGGER.debug("cannot list interfaces: %s", exc)
    return "localhost"


