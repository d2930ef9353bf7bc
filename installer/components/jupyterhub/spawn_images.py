"""The images the hub will start user servers from: in the values, never in the rendered pods.

KubeSpawner creates each user's pod at spawn time, so ``helm template`` shows only the
hub and proxy. What it will run comes from the chart values the hub reads at start-up
(z2jh 4.2.0 ``jupyterhub/files/hub/jupyterhub_config.py``):

* ``singleuser.image``: ``name:tag`` (just ``name`` when the tag is empty), lines 183-189;
* ``singleuser.networkTools.image`` as the ``block-cloud-metadata`` init container of every
  user pod while ``singleuser.cloudMetadata.blockWithIptables`` is ``true`` (the chart
  default), lines 433-465;
* ``singleuser.initContainers`` / ``extraContainers`` (KubeSpawner ``init_containers`` /
  ``extra_containers``, lines 145-179);
* each ``singleuser.profileList[].kubespawner_override.image`` and, for profiles with
  options, each ``profile_options.*.choices.*.kubespawner_override.image`` (KubeSpawner
  ``profile_list``).

The hub reads those values from its Secret (z2jh ``templates/hub/secret.yaml``: the merged
``.Values`` as base64 ``values.yaml``), so the rendered Secret is read when present: it holds
the chart's defaults merged with ours, exactly what the hub will see.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any, Final

import yaml

from installer.components.release_images import MAX_RENDER_BYTES, ImageUse
from installer.engine.safeparse import DocumentLimit, load_yaml
from installer.errors import StepFailed

VALUES_KEY: Final = "values.yaml"


def hub_values(documents: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The values the hub reads: ``values.yaml`` of a rendered Secret that has a ``singleuser`` section.

    The chart is not ours (a bundle can carry any), so the decoded YAML is read within
    the limits of :mod:`installer.engine.safeparse`: a document built to exhaust the
    parser (deep nesting, an alias bomb) stops the step naming the Secret.

    Raises:
        StepFailed: a Secret's ``values.yaml`` is larger, deeper or wider than any real one.
    """
    for document in documents:
        if document.get("kind") != "Secret":
            continue
        encoded = (document.get("data") or {}).get(VALUES_KEY) if isinstance(document.get("data"), dict) else None
        if not isinstance(encoded, str) or len(encoded) > MAX_RENDER_BYTES:
            continue
        name = (document.get("metadata") or {}).get("name") if isinstance(document.get("metadata"), dict) else None
        source = f"{VALUES_KEY} of the rendered Secret {name or '(unnamed)'}"
        try:
            values = load_yaml(base64.b64decode(encoded, validate=True), source, max_bytes=MAX_RENDER_BYTES)
        except DocumentLimit as exc:
            raise StepFailed(str(exc), "Nothing was installed. The chart in the bundle renders values no hub "
                                       "reads: rebuild the bundle with the supported chart.") from None
        except (binascii.Error, ValueError, yaml.YAMLError):
            continue
        if isinstance(values, dict) and isinstance(values.get("singleuser"), dict):
            return values
    return None


def _section(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _containers(items: Any, where: str) -> list[ImageUse]:
    return [ImageUse(c["image"], f"{where} {c.get('name', '?')}") for c in items or []
            if isinstance(c, dict) and isinstance(c.get("image"), str) and c["image"]]


def _override_image(entry: Any, where: str) -> list[ImageUse]:
    image = _section(_section(entry).get("kubespawner_override")).get("image")
    return [ImageUse(image, where)] if isinstance(image, str) and image else []


def spawn_images(values: Mapping[str, Any]) -> list[ImageUse]:
    """The images of user servers the hub will start with ``values`` (z2jh 4.2.0 layout)."""
    singleuser = _section(values.get("singleuser"))
    uses: list[ImageUse] = []
    image = _section(singleuser.get("image"))
    if image.get("name"):
        ref = f"{image['name']}:{image['tag']}" if image.get("tag") not in (None, "") else str(image["name"])
        uses.append(ImageUse(ref, "user servers (singleuser.image)"))
    if _section(singleuser.get("cloudMetadata")).get("blockWithIptables") is True:
        tools = _section(_section(singleuser.get("networkTools")).get("image"))
        if tools.get("name"):
            uses.append(ImageUse(f"{tools['name']}:{tools.get('tag')}",
                                 "user servers' init container block-cloud-metadata (singleuser.networkTools.image)"))
    uses += _containers(singleuser.get("initContainers"), "user servers' init container (singleuser.initContainers)")
    uses += _containers(singleuser.get("extraContainers"), "user servers' container (singleuser.extraContainers)")
    for index, raw_entry in enumerate(singleuser.get("profileList") or []):
        entry = _section(raw_entry)
        label = entry.get("slug") or entry.get("display_name") or f"#{index}"
        uses += _override_image(entry, f"user servers of profile '{label}' (kubespawner_override.image)")
        for option_name, option in _section(entry.get("profile_options")).items():
            for choice_name, choice in _section(_section(option).get("choices")).items():
                uses += _override_image(choice, f"user servers of profile '{label}', option {option_name}="
                                                f"{choice_name} (kubespawner_override.image)")
    return uses
