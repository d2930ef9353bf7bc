"""The operator's answers in the wizard, and how they become a profile.

The wizard's screens only read and write this plain object; everything that turns
answers into an install lives here, without Textual, so the same rules apply to an
interactive run and to its saved profile replayed headless. ``to_profile()`` is the
one place answers are validated: it goes through the same pydantic models as
``--profile FILE``, and an error names the wizard field the operator must fix.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import ValidationError

from installer.components.jupyterhub.steps import hub_url as component_hub_url
from installer.config.profile import Profile, dump_profile
from installer.engine.files import FileWriter
from installer.errors import ProfileError

_LOGGER: Final = logging.getLogger(__name__)

AuthType = Literal["native", "dummy"]

FIELD_LABELS: Final[dict[str, str]] = {
    "jupyterhub.admin_users": "Admin users",
    "jupyterhub.allowed_users": "Allowed users",
    "jupyterhub.auth": "Authentication",
    "jupyterhub.auth.password": "Shared password",
    "jupyterhub.storage.size": "Storage per user",
    "jupyterhub.service.node_port": "Port",
    "jupyterhub.allow_private_egress": "Private network",
    "jupyterhub.images": "Notebook images",
}
"""Profile keys as the wizard labels them, so an error points at the field on screen."""


@dataclass
class CatalogEntry:
    """One notebook image as the JupyterHub screen edits it."""

    name: str
    display_name: str
    image: str
    description: str = ""
    enabled: bool = True
    default: bool = False
    cpu_limit: float | None = None
    mem_limit: str | None = None
    gpus: int = 0
    rdma: bool = False
    shm_size: str | None = None
    warnings: list[str] = field(default_factory=list)
    """Image check warnings from the bundle (user not 1000, no jupyterhub-singleuser...); not saved."""

    @classmethod
    def draft(cls, ref: str = "") -> CatalogEntry:
        """A new entry for ``ref``: offered, no limits, named when added to the catalog."""
        return cls(name="", display_name=default_display_name(ref), image=ref)

    def to_profile_data(self) -> dict[str, Any]:
        """The ``jupyterhub.images[]`` mapping for this entry."""
        data: dict[str, Any] = {
            "name": self.name, "display_name": self.display_name, "image": self.image,
            "description": self.description, "enabled": self.enabled, "default": self.default,
            "cpu_limit": self.cpu_limit, "mem_limit": self.mem_limit or None, "gpus": self.gpus,
            "rdma": self.rdma, "shm_size": self.shm_size or None,
        }
        return data


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


@dataclass
class WizardModel:
    """Everything the operator chose; starts from a profile (the default one, or the demo's)."""

    base: Profile
    """Sections the wizard does not edit are kept as they are here."""
    gpu_operator: bool = False
    rdma: bool = False
    admin_users: list[str] = field(default_factory=list)
    allowed_users: list[str] = field(default_factory=list)
    auth_type: AuthType = "native"
    open_signup: bool = False
    password: str = ""
    """Kept in memory only; written to a profile only when ``save_secrets`` is set."""
    storage_size: str = "10Gi"
    node_port: int = 30080
    private_egress: bool = True
    """Notebooks may reach the site's private addresses (``jupyterhub.allow_private_egress``)."""
    catalog: list[CatalogEntry] = field(default_factory=list)
    save_path: Path | None = None
    """Where Review saves the profile (None: do not save)."""
    save_secrets: bool = False
    components_touched: bool = False
    """The operator changed a component switch; suggestions no longer overwrite it."""

    @classmethod
    def from_profile(cls, profile: Profile) -> WizardModel:
        """Answers pre-filled from ``profile``."""
        hub = profile.jupyterhub
        password = hub.auth.password.get_secret_value() if hub.auth.password else ""
        catalog = [
            CatalogEntry(name=i.name, display_name=i.display_name, image=i.image, description=i.description,
                         enabled=i.enabled, default=i.default, cpu_limit=i.cpu_limit, mem_limit=i.mem_limit,
                         gpus=i.gpus, rdma=i.rdma, shm_size=i.shm_size)
            for i in hub.images
        ]
        return cls(base=profile, gpu_operator=profile.gpu_operator.enabled, rdma=profile.rdma.enabled,
                   admin_users=list(hub.admin_users), allowed_users=list(hub.allowed_users),
                   auth_type=hub.auth.type, open_signup=hub.auth.open_signup, password=password,
                   storage_size=hub.storage.size, node_port=hub.service.node_port,
                   private_egress=hub.allow_private_egress, catalog=catalog)

    def add_entry(self, entry: CatalogEntry) -> CatalogEntry:
        """Append a new entry, named from its image and unique among the catalog's names."""
        entry.name = unique_slug(image_slug(entry.image), {e.name for e in self.catalog})
        self.catalog.append(entry)
        return entry

    def apply_recommendations(self, choices: list[ComponentChoice]) -> None:
        """Switch components on or off as the hardware suggests, unless the operator already chose."""
        if self.components_touched:
            return
        for choice in choices:
            if choice.id in ("gpu_operator", "rdma"):
                setattr(self, choice.id, choice.recommended and choice.usable)

    def set_component(self, component_id: str, enabled: bool) -> None:
        """The operator's own choice for one optional component."""
        if component_id not in ("gpu_operator", "rdma"):
            msg = f"unknown optional component {component_id!r}"
            raise ValueError(msg)
        setattr(self, component_id, enabled)
        self.components_touched = True

    def to_profile_data(self) -> dict[str, Any]:
        """The profile mapping these answers describe (secrets included: never log it)."""
        data = self.base.model_dump(mode="python", exclude={"source"})
        data["gpu_operator"]["enabled"] = self.gpu_operator
        data["rdma"]["enabled"] = self.rdma
        hub = data["jupyterhub"]
        hub["admin_users"] = list(self.admin_users)
        hub["allowed_users"] = list(self.allowed_users)
        hub["auth"] = {"type": self.auth_type, "open_signup": self.open_signup,
                       "password": self.password or None}
        hub["storage"]["size"] = self.storage_size
        hub["service"]["node_port"] = self.node_port
        hub["allow_private_egress"] = self.private_egress
        hub["images"] = [entry.to_profile_data() for entry in self.catalog]
        return data

    def to_profile(self) -> Profile:
        """Validate the answers as a profile.

        Raises:
            ProfileError: naming the wizard field (and profile key) that is wrong.
        """
        try:
            profile = Profile.model_validate(self.to_profile_data())
        except ValidationError as exc:
            raise _answer_error(exc) from None
        profile.source = self.base.source
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
        profile = profile.model_copy(update={"bundle": (bundle or profile.bundle_dir()).resolve()})
        text = dump_profile(profile, include_secrets=secrets)
        written = FileWriter().write(target, text, 0o600)  # raises InstallerError naming the file
        _LOGGER.info("profile saved to %s (secrets %s)", written, "included" if secrets else "left out")
        return Path(written)


def _answer_error(error: ValidationError) -> ProfileError:
    """One readable line per wrong answer, labelled as on screen."""
    lines = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not str(p).startswith("function-")]
        key = ".".join(loc)
        label = _label_for(loc)
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{label}: {message} ({key})")
    msg = "\n".join(lines) or "the answers do not form a valid profile"
    return ProfileError(msg, "Correct the field and press Next again.")


def _label_for(loc: list[str]) -> str:
    if len(loc) >= 3 and loc[:2] == ["jupyterhub", "images"] and loc[2].isdigit():
        return f"Notebook image #{int(loc[2]) + 1}" + (f" {loc[3]}" if len(loc) > 3 else "")
    for size in range(len(loc), 0, -1):
        label = FIELD_LABELS.get(".".join(loc[:size]))
        if label:
            return label
    return ".".join(loc) or "Profile"


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


def parse_limit(text: str) -> float | None:
    """A CPU limit typed by the operator: empty means none."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        msg = f"CPU limit {text!r} is not a number of cores"
        raise ProfileError(msg, "Type a number such as 2 or 0.5, or leave it empty for no limit.") from None


def parse_int(text: str, what: str) -> int:
    """A whole number typed by the operator."""
    try:
        return int(text.strip())
    except ValueError:
        msg = f"{what} {text.strip()!r} is not a whole number"
        raise ProfileError(msg, f"Type a whole number for {what.lower()}.") from None
