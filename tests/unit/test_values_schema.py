"""Generated JupyterHub values validate against the z2jh 4.2.0 chart's own schema.

Helm merges user values over the chart's ``values.yaml`` (maps merged key by key,
lists and scalars replaced) and validates the result against ``values.schema.json``;
these tests do the same with the chart files kept in ``shared/oracles``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from installer.components.jupyterhub.steps import values_for
from installer.components.jupyterhub.values import KNOWN_HUB_IMAGES, jupyterhub_values, split_image
from installer.components.kube import dump_values
from installer.config.profile import Profile, load_profile

REPO = Path(__file__).resolve().parents[2]
PROFILES = sorted((REPO / "profiles").glob("*.yaml"))


def helm_merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of user values over chart defaults: maps merge, everything else replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = helm_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


@pytest.fixture(scope="module")
def chart(z2jh_oracle: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    defaults = yaml.safe_load((z2jh_oracle / "values.yaml").read_text())
    schema = json.loads((z2jh_oracle / "values.schema.json").read_text())
    return defaults, schema


def validate(values: dict[str, Any], chart: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """Round-trip through the YAML Helm reads, merge, validate; return the merged values."""
    defaults, schema = chart
    as_helm_reads_it = yaml.safe_load(dump_values(values))
    merged = helm_merge(defaults, as_helm_reads_it)
    jsonschema.validate(merged, schema)
    return merged


def images_in(values: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every ``{name, tag}`` image block in the values, with its key path."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(values, dict):
        if "name" in values and "tag" in values and set(values) <= {"name", "tag", "pullPolicy", "pullSecrets"}:
            found.append((path, values))
        for key, value in values.items():
            found += images_in(value, f"{path}.{key}" if path else key)
    return found


def test_shipped_profiles_exist() -> None:
    """The three profiles the README promises are there."""
    assert {p.name for p in PROFILES} >= {"cpu.yaml", "gpu.yaml", "gpu-rdma.yaml"}


@pytest.mark.parametrize("profile_path", PROFILES, ids=lambda p: p.name)
def test_profile_values_pass_the_chart_schema(profile_path: Path, chart: Any, tmp_path: Path) -> None:
    """Every shipped profile's values, merged like Helm does, validate; every image is pinned and IfNotPresent."""
    profile = load_profile(profile_path)
    values = values_for(profile, tmp_path / "no-bundle")
    merged = validate(values, chart)

    generated = images_in(yaml.safe_load(dump_values(values)))
    assert {p for p, _ in generated} >= {"hub.image", "proxy.chp.image", "singleuser.image",
                                         "singleuser.networkTools.image"}
    for path, image in generated:
        assert isinstance(image["tag"], str) and image["tag"], path
        assert image["pullPolicy"] == "IfNotPresent", path
    assert merged["prePuller"]["hook"]["enabled"] is False
    assert merged["prePuller"]["continuous"]["enabled"] is False
    assert merged["scheduling"]["userScheduler"]["enabled"] is False
    assert merged["proxy"]["service"] == {**merged["proxy"]["service"], "type": "NodePort",
                                          "nodePorts": {"http": profile.jupyterhub.service.node_port, "https": None}}
    offered = [p["slug"] for p in merged["singleuser"]["profileList"]]
    assert offered == [i.name for i in profile.jupyterhub.images if i.enabled]
    for entry in merged["singleuser"]["profileList"]:
        assert entry["kubespawner_override"]["image_pull_policy"] == "IfNotPresent"


def test_tags_that_look_like_numbers_stay_strings(chart: Any) -> None:
    """``pause:3.10`` and ``img:2024`` must reach Helm as strings (a float 3.1 fails the schema)."""
    profile = Profile.model_validate({"jupyterhub": {"images": [
        {"name": "n", "display_name": "N", "image": "registry.local:5000/team/notebook:3.10", "default": True}]}})
    values = jupyterhub_values(profile.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"])
    merged = validate(values, chart)
    assert merged["singleuser"]["image"] == {"name": "registry.local:5000/team/notebook", "tag": "3.10",
                                             "pullPolicy": "IfNotPresent", "pullSecrets": []}


def test_schema_rejects_a_numeric_tag(chart: Any) -> None:
    """The oracle bites: the trap the generator avoids really fails validation."""
    profile = Profile()
    values = jupyterhub_values(profile.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"])
    values["hub"]["image"]["tag"] = 4.2
    with pytest.raises(jsonschema.ValidationError):
        validate(values, chart)


def test_gpu_and_rdma_entries(chart: Any) -> None:
    """GPU entries get limits, the GPU node selector and toleration; RDMA only when the plugin is on."""
    data = {"jupyterhub": {"images": [
        {"name": "cpu", "display_name": "CPU", "image": "quay.io/a/cpu:1", "mem_limit": "4G", "cpu_limit": 2},
        {"name": "gpu", "display_name": "GPU", "image": "quay.io/a/gpu:1", "gpus": 2, "rdma": True,
         "shm_size": "16Gi", "default": True},
        {"name": "off", "display_name": "Off", "image": "quay.io/a/off:1", "enabled": False}]}}
    profile = Profile.model_validate(data)
    without = validate(jupyterhub_values(profile.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"]), chart)
    with_rdma = validate(jupyterhub_values(profile.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"],
                                           rdma_resource="hca_shared_devices_a"), chart)

    entries = {e["slug"]: e for e in with_rdma["singleuser"]["profileList"]}
    assert set(entries) == {"cpu", "gpu"}  # the disabled entry is not offered
    assert entries["gpu"]["default"] is True and "default" not in entries["cpu"]
    gpu = entries["gpu"]["kubespawner_override"]
    assert gpu["extra_resource_limits"] == {"nvidia.com/gpu": "2", "rdma/hca_shared_devices_a": "1"}
    assert gpu["node_selector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]
    assert "container_security_context" not in gpu  # IPC_LOCK gives uid 1000 nothing (kubernetes#56374)
    cpu = entries["cpu"]["kubespawner_override"]
    assert cpu == {"image": "quay.io/a/cpu:1", "image_pull_policy": "IfNotPresent", "cpu_limit": 2.0,
                   "mem_limit": "4G"}
    assert with_rdma["singleuser"]["image"]["name"] == "quay.io/a/gpu"
    assert with_rdma["singleuser"]["storage"]["extraVolumes"] == [
        {"name": "dev-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}]
    assert {"name": "dev-shm", "mountPath": "/dev/shm"} in with_rdma["singleuser"]["storage"]["extraVolumeMounts"]

    no_rdma = next(e for e in without["singleuser"]["profileList"] if e["slug"] == "gpu")["kubespawner_override"]
    assert no_rdma["extra_resource_limits"] == {"nvidia.com/gpu": "2"}
    assert "container_security_context" not in no_rdma


def test_auth_native_and_dummy(chart: Any) -> None:
    """JupyterHub 5 needs an allow rule: native approval allows all signups; dummy only listed users."""
    native = Profile.model_validate({"jupyterhub": {"admin_users": ["boss"]}})
    config = validate(jupyterhub_values(native.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"]), chart)["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "nativeauthenticator.NativeAuthenticator"
    assert config["Authenticator"] == {"admin_users": ["boss"], "allow_all": True}
    assert config["NativeAuthenticator"] == {"open_signup": False}

    listed = Profile.model_validate({"jupyterhub": {"allowed_users": ["ana", "admin"]}})
    config = jupyterhub_values(listed.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"])["hub"]["config"]
    assert config["Authenticator"] == {"admin_users": ["admin"], "allowed_users": ["ana"]}

    dummy = Profile.model_validate({"jupyterhub": {"allowed_users": ["ana"],
                                                   "auth": {"type": "dummy", "password": "s3cret-pass"}}})
    values = jupyterhub_values(dummy.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"])
    config = validate(values, chart)["hub"]["config"]
    assert config["JupyterHub"]["authenticator_class"] == "dummy"
    assert config["DummyAuthenticator"] == {"password": "s3cret-pass"}
    assert config["Authenticator"] == {"admin_users": ["admin"], "allowed_users": ["ana"]}
    assert "extraConfig" not in values["hub"]


def test_storage_and_service(chart: Any) -> None:
    """Storage class and size reach the user PVCs and the hub DB; ClusterIP has no node port."""
    profile = Profile.model_validate({"jupyterhub": {"storage": {"class_name": "fast", "size": "100Gi"},
                                                     "service": {"type": "ClusterIP"}}})
    merged = validate(jupyterhub_values(profile.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"]), chart)
    assert merged["singleuser"]["storage"]["capacity"] == "100Gi"
    assert merged["singleuser"]["storage"]["dynamic"]["storageClass"] == "fast"
    assert merged["hub"]["db"]["pvc"]["storageClassName"] == "fast"
    assert merged["proxy"]["service"]["type"] == "ClusterIP"
    assert merged["proxy"]["service"]["nodePorts"] == {"http": None, "https": None}


def test_load_balancer_is_refused_naming_metallb() -> None:
    """MicroK8s has no load balancer without metallb: the service would stay <pending> and the URL be wrong."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        Profile.model_validate({"jupyterhub": {"service": {"type": "LoadBalancer"}}})
    assert "metallb" in str(caught.value) and "NodePort" in str(caught.value)


@pytest.mark.parametrize("allow", [True, False])
def test_private_egress_is_the_profiles_choice(chart: Any, allow: bool) -> None:
    """z2jh 4.2.0 defaults privateIPs to false; the profile's allow_private_egress (default true) decides."""
    defaults, _ = chart
    assert defaults["singleuser"]["networkPolicy"]["egressAllowRules"]["privateIPs"] is False
    assert Profile().jupyterhub.allow_private_egress is True
    profile = Profile.model_validate({"jupyterhub": {"allow_private_egress": allow}})
    merged = validate(jupyterhub_values(profile.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"]), chart)
    policy = merged["singleuser"]["networkPolicy"]
    assert policy["enabled"] is True
    assert policy["egressAllowRules"]["privateIPs"] is allow
    assert policy["egressAllowRules"]["nonPrivateIPs"] is True  # the rest of the chart's rules are kept


@pytest.mark.parametrize("allow", [True, False])
def test_private_network_lets_notebooks_reach_each_other_on_every_port(chart: Any, allow: bool) -> None:
    """privateIPs opens egress only: z2jh 4.2.0 templates/singleuser/netpol.yaml admits into a notebook pod only
    the notebook port from pods labelled hub.jupyter.org/network-access-singleuser. Multi-pod NCCL needs every
    port from the other user servers (labels as the chart's own podSelector), in and out; off keeps z2jh's rules."""
    defaults, _ = chart
    assert defaults["singleuser"]["networkPolicy"]["ingress"] == []  # the chart adds no rule of its own
    profile = Profile.model_validate({"jupyterhub": {"allow_private_egress": allow}})
    merged = validate(jupyterhub_values(profile.jupyterhub, KNOWN_HUB_IMAGES["4.2.0"]), chart)
    policy = merged["singleuser"]["networkPolicy"]
    peers = {"podSelector": {"matchLabels": {"component": "singleuser-server", "app": "jupyterhub"}}}
    if allow:
        assert policy["ingress"] == [{"from": [peers]}]  # no "ports": every port
        assert policy["egress"] == [{"to": [peers]}]
    else:
        assert policy["ingress"] == [] and policy["egress"] == []


@pytest.mark.parametrize(("ref", "expected"), [
    ("quay.io/jupyterhub/k8s-hub:4.2.0", ("quay.io/jupyterhub/k8s-hub", "4.2.0")),
    ("localhost:5000/nb", ("localhost:5000/nb", "latest")),
    ("host:5000/a/b:1.0@sha256:" + "a" * 64, ("host:5000/a/b", "1.0@sha256:" + "a" * 64)),
])
def test_split_image(ref: str, expected: tuple[str, str]) -> None:
    """A registry port is not a tag; a digest stays with the tag (the chart joins name:tag)."""
    assert split_image(ref) == expected


def test_the_checks_service_and_role_pass_the_schema(chart: Any, tmp_path: Path) -> None:
    """The acceptance check's token reaches the hub as a ``hub.services`` entry with a role (issue 14)."""
    from installer.check.token import SCOPES, SERVICE, ensure_token, read_token

    token = ensure_token(tmp_path)
    assert ensure_token(tmp_path) == token == read_token(tmp_path)  # made once, then kept
    assert (tmp_path / "check-token").stat().st_mode & 0o077 == 0
    values = jupyterhub_values(Profile().jupyterhub, KNOWN_HUB_IMAGES["4.2.0"], check_token=token)
    merged = validate(values, chart)
    assert merged["hub"]["services"][SERVICE] == {"apiToken": token}
    assert merged["hub"]["loadRoles"][SERVICE] == {"scopes": list(SCOPES), "services": [SERVICE]}
    assert "services" not in jupyterhub_values(Profile().jupyterhub, KNOWN_HUB_IMAGES["4.2.0"])["hub"]
