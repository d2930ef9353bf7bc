"""Helm values for the z2jh chart, generated from the profile's ``jupyterhub`` section.

The traps this module exists for (each checked by tests against the chart's own schema):

* image tags are strings and ``singleuser.image`` is ``{name, tag}``, pull policy per image;
* an air-gapped node must never pull: every image is pinned and ``IfNotPresent``, the
  pre-pullers (which need ``k8s-image-awaiter``) and the user scheduler (which needs
  ``kube-scheduler``) are off, and so is the user placeholder;
* JupyterHub 5 lets nobody in unless users are allowed explicitly: ``allowed_users``,
  or ``allow_all`` with native sign-up where an admin approves each account;
* ``kubespawner_override`` *replaces* a trait, so per-image overrides only set what is
  per image (image, limits, GPUs, RDMA); ``/dev/shm`` is one chart-wide memory
  volume (overriding ``volumes`` per image would drop the home volume).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from installer.check.token import service_values
from installer.components.gpu_sharing.values import entry_limits
from installer.components.jupyterhub.artifacts import KNOWN_HUB_IMAGES, HubImages
from installer.components.jupyterhub.settings import JupyterHubSettings, NotebookImage
from installer.components.kube import parse_quantity

PULL_POLICY: Final = "IfNotPresent"
GPU_RESOURCE: Final = "nvidia.com/gpu"
GPU_NODE_SELECTOR: Final = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATION: Final = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
USER_TOLERATIONS: Final = (
    {"key": "hub.jupyter.org/dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"},
    {"key": "hub.jupyter.org_dedicated", "operator": "Equal", "value": "user", "effect": "NoSchedule"},
)
"""What z2jh gives user pods; repeated because a per-image ``tolerations`` override replaces them."""
NATIVE_AUTHENTICATOR: Final = "nativeauthenticator.NativeAuthenticator"
NATIVE_TEMPLATES: Final = (
    "import os, nativeauthenticator\n"
    "c.JupyterHub.template_paths = [os.path.join(os.path.dirname(nativeauthenticator.__file__), 'templates')]\n"
)
"""NativeAuthenticator's sign-up pages live in its package; the hub must be told where."""


def split_image(ref: str) -> tuple[str, str]:
    """``quay.io/a/b:1.0`` -> (``quay.io/a/b``, ``1.0``); a registry port is not a tag; no tag -> ``latest``."""
    name, at, digest = ref.partition("@")
    slash, colon = name.rfind("/"), name.rfind(":")
    base, tag = (name[:colon], name[colon + 1:]) if colon > slash else (name, "latest")
    return base, tag + (f"@{digest}" if at else "")


def image_values(ref: str) -> dict[str, str]:
    """``{name, tag, pullPolicy}``: the z2jh image shape (tag always a string)."""
    name, tag = split_image(ref)
    return {"name": name, "tag": str(tag), "pullPolicy": PULL_POLICY}


def offered_images(settings: JupyterHubSettings) -> list[NotebookImage]:
    """The enabled catalog entries, in profile order (disabled ones are not offered)."""
    return [image for image in settings.images if image.enabled]


def default_image(settings: JupyterHubSettings) -> NotebookImage:
    """The entry marked ``default``, else the first enabled one."""
    offered = offered_images(settings)
    return next((i for i in offered if i.default), offered[0])


def _quantity_bytes(value: str) -> Decimal:
    """A size for comparing; the profile's ``K`` (kubespawner's spelling) counts as Kubernetes's ``k``."""
    amount = parse_quantity(value[:-1] + "k" if value.endswith("K") else value)
    return amount if amount is not None else Decimal(0)


def _profile_entry(image: NotebookImage, chosen_default: str, rdma_resource: str | None,
                   sharing: str = "none") -> dict[str, Any]:
    override: dict[str, Any] = {"image": image.image, "image_pull_policy": PULL_POLICY}
    if image.cpu_limit is not None:
        override["cpu_limit"] = float(image.cpu_limit)
    if image.mem_limit is not None:
        override["mem_limit"] = image.mem_limit
    limits = entry_limits(sharing, gpus=image.gpus, gpu_memory=image.gpu_memory, gpu_cores=image.gpu_cores)
    if limits:
        override["node_selector"] = dict(GPU_NODE_SELECTOR)
        override["tolerations"] = [*USER_TOLERATIONS, GPU_TOLERATION]
    if image.rdma and rdma_resource:
        limits[f"rdma/{rdma_resource}"] = "1"
        # No IPC_LOCK: the notebook runs as z2jh's uid 1000, and a non-root container gets added capabilities
        # in its bounding set only (kubernetes/kubernetes#56374). Locked memory comes from rdma.memlock instead.
    if limits:
        override["extra_resource_limits"] = limits
    entry: dict[str, Any] = {"display_name": image.display_name, "slug": image.name,
                             "description": image.description or image.image, "kubespawner_override": override}
    if image.name == chosen_default:
        entry["default"] = True
    return entry


def _auth_config(settings: JupyterHubSettings) -> dict[str, Any]:
    auth = settings.auth
    admins = list(settings.admin_users)
    allowed = [u for u in settings.allowed_users if u not in admins]
    authenticator: dict[str, Any] = {"admin_users": admins}
    config: dict[str, Any] = {"JupyterHub": {"admin_access": True}, "Authenticator": authenticator}
    if auth.type == "native":
        config["JupyterHub"]["authenticator_class"] = NATIVE_AUTHENTICATOR
        config["NativeAuthenticator"] = {"open_signup": auth.open_signup}
        # Sign-up is gated by admin approval (or open on purpose); a user list, when given, narrows it.
        if allowed:
            authenticator["allowed_users"] = allowed
        else:
            authenticator["allow_all"] = True
    else:
        config["JupyterHub"]["authenticator_class"] = "dummy"
        config["DummyAuthenticator"] = {"password": auth.password.get_secret_value() if auth.password else ""}
        # A shared password must not let any name in: only admins and the listed users.
        authenticator["allowed_users"] = allowed
    return config


def _service(settings: JupyterHubSettings) -> dict[str, Any]:
    service: dict[str, Any] = {"type": settings.service.type}
    if settings.service.type == "NodePort":
        service["nodePorts"] = {"http": settings.service.node_port}
    return service


def _shm_volume(settings: JupyterHubSettings) -> dict[str, Any]:
    empty_dir: dict[str, Any] = {"medium": "Memory"}
    sizes = [i.shm_size for i in offered_images(settings) if i.shm_size]
    if sizes:
        empty_dir["sizeLimit"] = max(sizes, key=_quantity_bytes)
    return {"name": "dev-shm", "emptyDir": empty_dir}


def jupyterhub_values(settings: JupyterHubSettings, images: HubImages, *,
                      rdma_resource: str | None = None, check_token: str | None = None,
                      sharing: str = "none") -> dict[str, Any]:
    """The values for ``helm upgrade --install jupyterhub``.

    Args:
        settings: the profile's ``jupyterhub`` section.
        images: the chart's images pinned to the bundle.
        rdma_resource: ``resource_name`` of the RDMA plugin when it is installed; catalog
            entries asking for RDMA get ``rdma/<resource_name>`` only then.
        check_token: the acceptance check's API token: adds its ``hub.services`` entry and role.
        sharing: ``gpu_sharing.mode``: under ``hami`` a sliced entry gets ``nvidia.com/gpumem`` and
            ``nvidia.com/gpucores`` beside its ``nvidia.com/gpu`` (``gpu_sharing.values.entry_limits``).
    """
    chosen = default_image(settings)
    storage_class = settings.storage.class_name
    hub: dict[str, Any] = {
        "image": image_values(images.hub),
        "config": _auth_config(settings),
        "db": {"pvc": {"storageClassName": storage_class}},
    }
    if check_token:
        hub.update(service_values(check_token))
    if settings.auth.type == "native":
        hub["extraConfig"] = {"00-nativeauthenticator-templates": NATIVE_TEMPLATES}
    values: dict[str, Any] = {
        "hub": hub,
        "proxy": {
            "chp": {"image": image_values(images.proxy)},
            "service": _service(settings),
        },
        "singleuser": {
            "image": image_values(chosen.image),
            "networkTools": {"image": image_values(images.network_tools)},
            "storage": {
                "capacity": settings.storage.size,
                "dynamic": {"storageClass": storage_class},
                "extraVolumes": [_shm_volume(settings)],
                "extraVolumeMounts": [{"name": "dev-shm", "mountPath": "/dev/shm"}],
            },
            "profileList": [_profile_entry(i, chosen.name, rdma_resource, sharing) for i in offered_images(settings)],
            "networkPolicy": _network_policy(settings),
        },
        "prePuller": {
            "hook": {"enabled": False},
            "continuous": {"enabled": False},
            "pullProfileListImages": False,
        },
        "scheduling": {
            "userScheduler": {"enabled": False},
            "userPlaceholder": {"enabled": False},
        },
    }
    pull = settings.image_pull_secret
    if pull is not None:  # the chart creates the Secret and references it from every pod
        values["imagePullSecret"] = {"create": True, "automaticReferenceInjection": True, "registry": pull.registry,
                                     "username": pull.username, "password": pull.password.get_secret_value(),
                                     **({"email": pull.email} if pull.email else {})}
    return values


SINGLEUSER_PODS: Final = {"podSelector": {"matchLabels": {"component": "singleuser-server", "app": "jupyterhub"}}}
"""Other user servers of this namespace: the labels z2jh 4.2.0's own ``templates/singleuser/netpol.yaml`` selects
them by (``jupyterhub.matchLabels`` with ``componentLabel: singleuser-server``; ``app`` is the chart name)."""


def _network_policy(settings: JupyterHubSettings) -> dict[str, Any]:
    """``singleuser.networkPolicy``: z2jh's rules, opened to private networks and other notebooks when allowed.

    z2jh 4.2.0 ``jupyterhub/values.yaml`` keeps the policy on with ``privateIPs: false``
    (Calico enforces it), and ``_helpers-netpol.tpl`` adds the private ranges only when
    ``privateIPs`` is true: written always, so the profile decides. That flag opens egress
    only. Ingress into a notebook pod (``templates/singleuser/netpol.yaml``) is allowed on
    the notebook port from pods labelled ``hub.jupyter.org/network-access-singleuser``, so
    notebook-to-notebook traffic (NCCL between pods, Dask, Ray) stays blocked until
    ``singleuser.networkPolicy.ingress`` adds a rule; a rule without ``ports`` allows every
    port. The matching egress rule names the pods too, not only their private addresses:
    Kubernetes means ``ipBlock`` for cluster-external addresses ("Pod IPs are ephemeral and
    unpredictable", kubernetes/website ``content/en/docs/concepts/services-networking/
    network-policies.md``), so pod-to-pod traffic should not rest on it.
    """
    allow = settings.allow_private_egress
    policy: dict[str, Any] = {"egressAllowRules": {"privateIPs": allow}}
    if allow:
        policy["ingress"] = [{"from": [SINGLEUSER_PODS]}]
        policy["egress"] = [{"to": [SINGLEUSER_PODS]}]
    return policy


def chart_images(settings: JupyterHubSettings) -> HubImages | None:
    """The chart version's own images from :data:`KNOWN_HUB_IMAGES` (``None`` if unknown)."""
    return KNOWN_HUB_IMAGES.get(settings.chart_version)
