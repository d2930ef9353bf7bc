"""Profile section ``jupyterhub``: the hub, who may log in, storage, and the notebook images offered."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from installer.config.base import PASSWORD_PLACEHOLDER, Secret, Section
from installer.config.validators import ImageRef, K8sName, OneLine, Quantity, RegistryHost, Slug, UserName, Version


class AuthSettings(Section):
    """Who can log in. JupyterHub 5 lets nobody in unless users are allowed explicitly."""

    type: Literal["native", "dummy"] = "native"
    """``native``: users sign up and an admin approves them (NativeAuthenticator).
    ``dummy``: every allowed user logs in with one shared password (labs, demos)."""
    open_signup: bool = False
    """With ``native``: accounts work without admin approval."""
    password: Secret | None = None
    """With ``dummy``: the shared password (at least 8 characters). Never logged; saved
    profiles hold it only when asked."""

    @model_validator(mode="after")
    def _password_for_dummy(self) -> AuthSettings:
        if self.type == "dummy":
            secret = self.password.get_secret_value() if self.password else ""
            if len(secret) < 8:
                msg = "auth type 'dummy' needs 'password' of at least 8 characters"
                raise ValueError(msg)
            if secret == PASSWORD_PLACEHOLDER:
                msg = (f"'password' is still the placeholder {PASSWORD_PLACEHOLDER} written by a saved profile: "
                       "put the real shared password there")
                raise ValueError(msg)
        return self


class StorageSettings(Section):
    """Each user's home volume."""

    class_name: K8sName = "microk8s-hostpath"
    """StorageClass of user volumes (MicroK8s's hostpath-storage addon creates this one)."""
    size: Quantity = "10Gi"
    """Size of each user's home volume."""


class ServiceSettings(Section):
    """How the hub is reached from the network."""

    type: Literal["NodePort", "ClusterIP"] = "NodePort"
    """NodePort exposes the hub on every node's IP at ``node_port``; ClusterIP only inside the cluster
    (reach it with ``kubectl port-forward``). LoadBalancer is refused: MicroK8s has no load balancer
    unless the metallb addon is enabled, which this installer does not do."""
    node_port: int = Field(30080, ge=30000, le=32767)
    """Port of the hub on the node (the Kubernetes NodePort range is 30000-32767)."""

    @field_validator("type", mode="before")
    @classmethod
    def _no_load_balancer(cls, value: object) -> object:
        if value == "LoadBalancer":
            msg = ("'LoadBalancer' needs a load balancer, and MicroK8s has none unless its metallb addon is enabled "
                   "(this installer does not bundle it): the service would stay <pending>. Use 'NodePort' (the hub "
                   "at http://<server>:<node_port>/) or 'ClusterIP'")
            raise ValueError(msg)
        return value


class NotebookImage(Section):
    """One entry of the catalog users choose from when they start a server."""

    name: Slug
    """Short id (``scipy``, ``pytorch-gpu``)."""
    display_name: OneLine = Field(min_length=1, max_length=80)
    """What users see in the list."""
    image: ImageRef
    """Image reference; the image must be in the bundle."""
    description: str = ""
    """One line under the display name."""
    enabled: bool = True
    """Disabled entries stay in the profile but are not offered."""
    default: bool = False
    """Pre-selected in the list."""
    cpu_limit: float | None = Field(None, gt=0, le=512)
    """CPU cores a server may use."""
    mem_limit: Quantity | None = None
    """Memory a server may use, e.g. ``16G``."""
    gpus: int = Field(0, ge=0, le=16)
    """NVIDIA GPUs per server (needs the GPU Operator)."""
    rdma: bool = False
    """Give servers an RDMA device (needs the RDMA plugin)."""
    shm_size: Quantity | None = None
    """Size of a memory-backed ``/dev/shm`` (PyTorch data loaders need more than 64M)."""
    gpu_memory: Annotated[int, Field(ge=1)] | Quantity | None = None
    """A GPU slice's memory: MiB (``4096``) or a quantity (``10Gi``); needs ``gpu_slicing`` and
    ``gpu_sharing.mode: hami`` to be enforced (time-slicing gives a shared GPU, unbounded)."""
    gpu_cores: int | None = Field(None, ge=1, le=100)
    """A GPU slice's share of the SMs, in percent (HAMi); needs ``gpu_slicing``."""
    gpu_slicing: bool = False
    """The image supports GPU slicing (HAMi's ``libvgpu.so`` preloaded works with its CUDA); only
    such an image may have a sliced size (``gpu_memory``/``gpu_cores``)."""

    @model_validator(mode="after")
    def _slice_needs_a_slicing_image(self) -> NotebookImage:
        if (self.gpu_memory is not None or self.gpu_cores is not None) and not self.gpu_slicing:
            msg = (f"catalog entry '{self.name}' has a sliced GPU size (gpu_memory/gpu_cores) but its image "
                   f"{self.image} is not marked as supporting slicing: set gpu_slicing: true once the image "
                   "is known to work with HAMi, or remove gpu_memory/gpu_cores to give it whole GPUs")
            raise ValueError(msg)
        return self


def _default_images() -> list[NotebookImage]:
    return [NotebookImage(name="minimal", display_name="Minimal Python",
                          image="quay.io/jupyterhub/k8s-singleuser-sample:4.2.0",
                          description="Python with JupyterLab", default=True, cpu_limit=2, mem_limit="4G")]


class ImagePullSecret(Section):
    """Credentials for a private registry on the site's network (for images not in the bundle).

    The chart turns them into a ``kubernetes.io/dockerconfigjson`` Secret that the
    hub and every user pod reference. The password is a secret: never logged, kept
    only in the root-only values file, and left out of saved profiles unless asked.
    """

    registry: RegistryHost
    """Registry host and optional port, e.g. ``harbor.lab.example:5000``."""
    username: OneLine = Field(min_length=1, max_length=256)
    """Account name (robot accounts such as ``robot$notebooks`` are fine)."""
    password: Secret = Field(min_length=1)
    """Password or access token."""
    email: OneLine | None = None
    """Optional e-mail some registries want in the credentials."""

    @model_validator(mode="after")
    def _not_the_placeholder(self) -> ImagePullSecret:
        if self.password.get_secret_value() == PASSWORD_PLACEHOLDER:
            msg = (f"'password' is still the placeholder {PASSWORD_PLACEHOLDER} written by a saved profile: "
                   "put the registry password or token there")
            raise ValueError(msg)
        return self


class JupyterHubSettings(Section):
    """JupyterHub (the z2jh Helm chart) options."""

    chart_version: Version = "4.2.0"
    """z2jh chart version; its archive ``jupyterhub-<version>.tgz`` must be in the bundle."""
    namespace: Slug = "jupyterhub"
    """Kubernetes namespace of the release."""
    admin_users: list[UserName] = Field(default_factory=lambda: ["admin"], min_length=1)
    """Users with admin rights (they approve sign-ups with ``native`` auth)."""
    allowed_users: list[UserName] = Field(default_factory=list)
    """Users allowed to log in besides admins."""
    auth: AuthSettings = Field(default_factory=AuthSettings)
    """Authentication."""
    storage: StorageSettings = Field(default_factory=StorageSettings)
    """User home volumes."""
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    """How the hub is exposed."""
    images: list[NotebookImage] = Field(default_factory=_default_images, min_length=1)
    """The notebook image catalog."""
    ready_timeout: int = Field(600, ge=30, le=7200)
    """Seconds to wait until the hub answers."""
    image_pull_secret: ImagePullSecret | None = None
    """Optional: credentials for a private registry the pods may pull from (the bundle's images need none)."""
    allow_private_egress: bool = True
    """Notebooks may open connections to private addresses (10/8, 172.16/12, 192.168/16...): the site's
    PyPI/conda mirror, git, NFS, a private registry, other notebooks (multi-node NCCL). z2jh 4.2.0's
    NetworkPolicy blocks them by default (``singleuser.networkPolicy.egressAllowRules.privateIPs: false``),
    which on an air-gapped site cuts notebooks off from everything; false keeps that default. True also lets
    user servers accept connections from each other on every port (z2jh admits only the notebook port, and
    only from labelled pods)."""

    @model_validator(mode="after")
    def _catalog_is_usable(self) -> JupyterHubSettings:
        names = [i.name for i in self.images]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            msg = f"notebook image names must be unique; repeated: {', '.join(duplicates)}"
            raise ValueError(msg)
        if not any(i.enabled for i in self.images):
            msg = "at least one notebook image must be enabled"
            raise ValueError(msg)
        return self
