"""Helm values for the NVIDIA GPU Operator on an air-gapped MicroK8s.

What the values must say offline, and why:

* the host driver is used when the host has one (``driver.enabled: false``): the
  driver container downloads OS packages, which an air-gapped host cannot;
* the toolkit writes MicroK8s's containerd configuration (``CONTAINERD_CONFIG`` is
  the template MicroK8s renders from) and must never start from the config of a
  *host* ``containerd`` (docker.io, containerd.io...): it would write that config,
  with ``disabled_plugins = ["cri"]``, into MicroK8s's template and the node loses
  its CRI (gpu-operator#1367). Each toolkit is stopped from asking it in its own way,
  see :data:`TOOLKIT_NO_CONFIG_DUMP`;
* NFD stays on: without its PCI labels the operator deploys no operands;
* every image is pinned to the bundle with ``IfNotPresent``, and an operand whose
  image the bundle lacks is switched off rather than left to pull;
* mig-manager is off, so a MIG host keeps the layout its admin made: with it on, the
  operator labels every MIG-capable node that has no ``nvidia.com/mig.config`` label
  with ``migManager.config.default`` (chart default ``all-disabled``) and mig-manager
  then turns MIG off on every GPU (gpu-operator@v25.3.4 ``controllers/state_manager.go``,
  "Disable MIG on the node explicitly"). Setting that value to ``""`` does not help on
  v25.3.4: its template writes it unquoted (``templates/clusterpolicy.yaml``), YAML reads
  null, and the CRD's schema default puts ``all-disabled`` back
  (``crds/nvidia.com_clusterpolicies.yaml``); v25.10.1 quotes it. The device plugin
  advertises the MIG devices the host has with ``mig.strategy`` alone;
* CDI is off: with CDI the operator stops making ``nvidia`` containerd's default
  runtime, and user pods (which name no runtime class) would see no GPU.

``operator.defaultRuntime`` is deliberately absent: it is not a v25 chart value
(the runtime is detected from the node).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from installer.components.gpu_operator.artifacts import KNOWN_IMAGES
from installer.components.gpu_operator.settings import GpuOperatorSettings

PULL_POLICY: Final = "IfNotPresent"
CONTAINERD_TEMPLATE: Final = "/var/snap/microk8s/current/args/containerd-template.toml"
CONTAINERD_CONFIG: Final = "/var/snap/microk8s/current/args/containerd.toml"
CONTAINERD_SOCKET: Final = "/var/snap/microk8s/common/run/containerd.sock"

TOOLKIT_NO_CONFIG_DUMP: Final = "/bin/false"
"""``RUNTIME_EXECUTABLE_PATH`` for the toolkit: a program that always fails.

Toolkit v1.17.8 (chart v25.3.4) loads the config it edits from the first source that
works: ``chroot /host <RUNTIME_EXECUTABLE_PATH or containerd> config dump``, then the
``CONTAINERD_CONFIG`` file (nvidia-container-toolkit@v1.17.8
``tools/container/runtime/containerd/containerd.go`` getRuntimeConfig,
``pkg/config/engine/containerd/containerd.go`` CommandLineSource, ``pkg/config/toml/list.go``
LoadFirst; the variable is read in ``tools/container/runtime/runtime.go``). It has no
``RUNTIME_CONFIG_SOURCE``. A failing command makes it read MicroK8s's template, as on a
host where no ``containerd`` is on the PATH. Toolkit v1.18 (chart v25.10.1) reads
``RUNTIME_CONFIG_SOURCE`` instead (``cmd/nvidia-ctk-installer/container/runtime/runtime.go``),
which the operator maps under ``/host`` (gpu-operator@v25.10.1
``controllers/object_controls.go`` transformForRuntime); there the command source is not
used at all and this variable is inert."""

REQUIRED: Final = ("operator", "validator", "devicePlugin", "nfd")
"""Operands without which the operator cannot advertise a GPU."""


class MissingImages(ValueError):
    """Required operands have no image: the caller names them in its error."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(", ".join(missing))
        self.missing = missing


def split_ref(ref: str) -> tuple[str, str, str]:
    """``nvcr.io/nvidia/k8s/container-toolkit:v1.17.8`` -> (``nvcr.io/nvidia/k8s``, ``container-toolkit``, ``v1.17.8``)."""
    name, tag = split_tag(ref)
    repository, _, image = name.rpartition("/")
    return repository, image, tag


def split_tag(ref: str) -> tuple[str, str]:
    """``host:5000/a/b:1.0`` -> (``host:5000/a/b``, ``1.0``); a ref without a tag gets ``latest``."""
    name, at, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        base, tag = name[:colon], name[colon + 1:]
    else:
        base, tag = name, "latest"
    return base, tag + (f"@{digest}" if at else "")


def _pinned(ref: str) -> dict[str, str]:
    repository, image, version = split_ref(ref)
    return {"repository": repository, "image": image, "version": version, "imagePullPolicy": PULL_POLICY}


def use_host_driver(settings: GpuOperatorSettings, host_driver: str | None) -> bool:
    """``host`` when asked, or ``auto`` with a driver found on the host."""
    return settings.driver == "host" or (settings.driver == "auto" and bool(host_driver))


def gpu_operator_values(settings: GpuOperatorSettings, *, host_driver: str | None,
                        images: Mapping[str, str]) -> dict[str, Any]:
    """The values for ``helm upgrade --install gpu-operator``.

    Args:
        settings: the profile's ``gpu_operator`` section.
        host_driver: the NVIDIA driver version found on the host, if any.
        images: operand key (``operator``, ``toolkit``, ``nfd``...) -> image ref in the bundle.

    Raises:
        MissingImages: an operand the operator cannot work without has no image.
    """
    host = use_host_driver(settings, host_driver)
    missing = [key for key in REQUIRED if key not in images]
    if settings.toolkit and "toolkit" not in images:
        missing.append("toolkit")
    if not host and "driver" not in images:
        missing.append("driver")
    if missing:
        raise MissingImages(missing)

    operator = _pinned(images["operator"])
    if "initContainer" in images:
        operator["initContainer"] = _pinned(images["initContainer"])
    values: dict[str, Any] = {
        "operator": operator,
        "validator": _pinned(images["validator"]),
        "cdi": {"enabled": False},
        "nfd": {"enabled": True},
        "node-feature-discovery": {"image": _nfd_image(images["nfd"])},
        "driver": _driver(host, images),
        "toolkit": _toolkit(settings, images),
        "devicePlugin": {"enabled": True, **_pinned(images["devicePlugin"])},
        "gfd": {"enabled": "gfd" in images, **(_pinned(images["gfd"]) if "gfd" in images else {})},
        "dcgmExporter": {"enabled": "dcgmExporter" in images,
                         **(_pinned(images["dcgmExporter"]) if "dcgmExporter" in images else {})},
        "migManager": {"enabled": False},  # see the module docstring: it would wipe the host's MIG layout
        "mig": {"strategy": settings.mig_strategy},
    }
    return values


def _nfd_image(ref: str) -> dict[str, str]:
    repository, tag = split_tag(ref)
    return {"repository": repository, "tag": tag, "pullPolicy": PULL_POLICY}


def _driver(host: bool, images: Mapping[str, str]) -> dict[str, Any]:
    if host:
        return {"enabled": False}
    driver = _pinned(images["driver"])
    # The operator appends "-<os><version>" to the driver tag itself: pin the bare version.
    driver["version"] = driver["version"].split("-ubuntu")[0].split("-rhel")[0]
    values: dict[str, Any] = {"enabled": True, **driver}
    if "driverManager" in images:
        values["manager"] = _pinned(images["driverManager"])
    return values


def _toolkit(settings: GpuOperatorSettings, images: Mapping[str, str]) -> dict[str, Any]:
    if not settings.toolkit:
        return {"enabled": False}
    env = [
        {"name": "CONTAINERD_CONFIG", "value": CONTAINERD_TEMPLATE},
        {"name": "CONTAINERD_SOCKET", "value": CONTAINERD_SOCKET},
        # v1.18 (chart v25.10.1): read MicroK8s's live config, never `containerd config dump`.
        {"name": "RUNTIME_CONFIG_SOURCE", "value": f"file={CONTAINERD_CONFIG}"},
        # v1.17.8 (chart v25.3.4) ignores the line above: make its `config dump` fail instead.
        {"name": "RUNTIME_EXECUTABLE_PATH", "value": TOOLKIT_NO_CONFIG_DUMP},
        {"name": "CONTAINERD_RUNTIME_CLASS", "value": "nvidia"},
        {"name": "CONTAINERD_SET_AS_DEFAULT", "value": "1"},
    ]
    return {"enabled": True, **_pinned(images["toolkit"]), "env": env}


TOOLKIT_GUARDED_FROM: Final = (1, 17, 6)
"""First toolkit with ``RUNTIME_EXECUTABLE_PATH`` (v1.17.0-v1.17.5 always run ``containerd config dump``)."""


def toolkit_guards_host_containerd(ref: str) -> bool:
    """Whether the toolkit image ``ref`` obeys the settings that keep a host ``containerd`` out (v1.17.6 on).

    See :data:`TOOLKIT_NO_CONFIG_DUMP`; an unknown or unparsable tag counts as unguarded.
    """
    match = re.match(r"v?(\d+)\.(\d+)\.(\d+)", split_tag(ref)[1]) if ref else None
    if match is None:
        return False
    return tuple(int(n) for n in match.groups()) >= TOOLKIT_GUARDED_FROM


def known_images(version: str) -> dict[str, str]:
    """The images of chart ``version`` from :data:`KNOWN_IMAGES` (empty for an unknown version)."""
    return dict(KNOWN_IMAGES.get(version) or KNOWN_IMAGES.get("v" + version.lstrip("v")) or {})


OPERANDS: Final = ("validator", "toolkit", "devicePlugin", "gfd", "dcgmExporter", "migManager", "driver")
"""Operands the operator deploys itself, on any node (``operator.initContainer`` only on OpenShift)."""


def image_path(section: Mapping[str, Any]) -> str | None:
    """``repository/image:version`` (``@`` for a ``sha256:`` version), or ``image`` alone: the operator's rule."""
    repository, image, version = (str(section.get(k) or "") for k in ("repository", "image", "version"))
    if not repository and not version:
        return image or None
    return f"{repository}/{image}{'@' if version.startswith('sha256:') else ':'}{version}"


def operand_images(values: Mapping[str, Any], os_tag: str) -> dict[str, str]:
    """The image of every operand ``values`` enable, as the operator will name it (operand -> ref).

    The chart renders only the operator and NFD; the operator creates the operands'
    DaemonSets at runtime from the ClusterPolicy, filling each image in itself
    (gpu-operator v25.3.4 ``assets/state-*/0500_daemonset.yaml`` say ``image: "FILLED BY THE
    OPERATOR"``; ``api/nvidia/v1/clusterpolicy_types.go`` ``imagePath`` builds the ref), and
    appends ``-<os><version>`` of the node to the driver's tag (``controllers/object_controls.go``
    ``resolveDriverTag``). ``operator.initContainer`` is used only on OpenShift
    (``object_controls.go`` around line 1673), so it is not asked for.
    """
    found: dict[str, str] = {}
    for key in OPERANDS:
        section = values.get(key)
        if not isinstance(section, Mapping) or section.get("enabled") is False:
            continue
        ref = image_path(section)
        if ref is None:
            continue
        if key == "driver":
            if "sha256:" not in ref:
                ref = f"{ref}-{os_tag}"
            manager = section.get("manager")
            manager_ref = image_path(manager) if isinstance(manager, Mapping) else None
            if manager_ref:
                found["driverManager"] = manager_ref
        found[key] = ref
    return found
