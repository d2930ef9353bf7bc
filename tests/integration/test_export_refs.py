"""Which images an export collects: normalisation, --images-file, --helm-values, the profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from installer.bundle.imageref import normalize_ref, parse_ref
from installer.config.profile import Profile
from installer.errors import UsageError
from installer.export.refs import (
    collect_images,
    file_stem,
    helm_values_images,
    images_file_images,
    profile_images,
)

REFS = {
    "busybox": "docker.io/library/busybox:latest",
    "busybox:1.36": "docker.io/library/busybox:1.36",
    "calico/cni:v3.28.1": "docker.io/calico/cni:v3.28.1",
    "docker.io/nginx:1": "docker.io/library/nginx:1",
    "index.docker.io/library/traefik:v3.3.5": "docker.io/library/traefik:v3.3.5",
    "quay.io/jupyterhub/k8s-hub:4.2.0": "quay.io/jupyterhub/k8s-hub:4.2.0",
    "localhost:5000/team/img": "localhost:5000/team/img:latest",
    "127.0.0.1:5000/a/b:1.0": "127.0.0.1:5000/a/b:1.0",
    "nvcr.io/nvidia/cuda:13.0.1-base-ubi9": "nvcr.io/nvidia/cuda:13.0.1-base-ubi9",
    "registry.k8s.io/pause@sha256:" + "a" * 64: "registry.k8s.io/pause@sha256:" + "a" * 64,
}


@pytest.mark.parametrize(("given", "expected"), REFS.items())
def test_refs_normalise_like_the_manifest_and_containerd(given: str, expected: str) -> None:
    """Export (the checking parser) and the manifest (its never-failing form) agree on one spelling of every ref."""
    assert str(parse_ref(given)) == expected
    assert normalize_ref(given) == expected


def test_familiar_form_is_what_docker_prints_in_repo_tags() -> None:
    assert parse_ref("docker.io/library/busybox:1.36").familiar == "busybox:1.36"
    assert parse_ref("calico/cni:v3").familiar == "calico/cni:v3"
    assert parse_ref("quay.io/jupyterhub/k8s-hub:4.2.0").familiar == "quay.io/jupyterhub/k8s-hub:4.2.0"
    assert file_stem("quay.io/jupyterhub/k8s-hub:4.2.0") == "quay.io_jupyterhub_k8s-hub_4.2.0"


@pytest.mark.parametrize(("bad", "says"), [
    ("Quay.io/x:1 extra", "spaces"),
    ("quay.io/UPPER/x:1", "repository path"),
    ("busybox:bad tag", "spaces"),
    ("busybox@sha256:short", "digest"),
    ("busybox:-x", "tag"),
])
def test_bad_refs_say_which_part_is_wrong(bad: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_ref(bad)
    assert normalize_ref(f" {bad} ") == bad  # read from an archive or a chart: kept as written, never a crash


def test_images_file_skips_comments_and_names_the_bad_line(tmp_path: Path) -> None:
    good = tmp_path / "images.txt"
    good.write_text("# notebook images\n\nquay.io/jupyter/scipy-notebook:2024-12-09  # for the course\n"
                    "busybox:1.36\n   \n")
    found = images_file_images(good)
    assert [w.ref for w in found] == ["quay.io/jupyter/scipy-notebook:2024-12-09", "docker.io/library/busybox:1.36"]
    assert found[0].component == "extra" and found[0].source == f"{good}:3"
    bad = tmp_path / "bad.txt"
    bad.write_text("busybox:1.36\nnot a ref\n")
    with pytest.raises(UsageError, match=rf"{bad}:2"):
        images_file_images(bad)
    with pytest.raises(UsageError, match="does not exist"):
        images_file_images(tmp_path / "missing.txt")


VALUES = """\
hub:
  image:                         # z2jh shape
    name: quay.io/jupyterhub/k8s-hub
    tag: "4.2.0"
plain:
  image: "ghcr.io/org/tool:1.2"  # a plain string
withdigest:
  image: registry.k8s.io/pause:3.10@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
bitnami:
  image:
    registry: docker.io
    repository: bitnami/redis
    tag: 7.2.4
repotag:
  image:
    repository: nginx
    tag: 4.20                     # stays 4.20, not the float 4.2
operator:                         # NVIDIA GPU Operator shape
  repository: nvcr.io/nvidia
  image: gpu-operator
  version: v25.3.4
validator:
  repository: nvcr.io/nvidia/cloud-native
  image: gpu-operator-validator
  version: ""                     # filled in by the chart: cannot be known here
ingress:
  image:
    registry: registry.k8s.io
    image: ingress-nginx/controller
    tag: v1.11.2
    digest: sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
list:
  - name: sidecar
    image: busybox
notimage:
  name: something
  version: "1"
"""


def test_helm_values_every_shape(tmp_path: Path) -> None:
    """Each shape charts use for images gives the right ref; an empty tag is reported, not guessed."""
    values = tmp_path / "values.yaml"
    values.write_text(VALUES)
    wanted, unresolved = helm_values_images(values)
    assert [w.ref for w in wanted] == [
        "quay.io/jupyterhub/k8s-hub:4.2.0",
        "ghcr.io/org/tool:1.2",
        "registry.k8s.io/pause:3.10@sha256:" + "a" * 64,
        "docker.io/bitnami/redis:7.2.4",
        "docker.io/library/nginx:4.20",
        "nvcr.io/nvidia/gpu-operator:v25.3.4",
        "registry.k8s.io/ingress-nginx/controller:v1.11.2@sha256:" + "b" * 64,
        "docker.io/library/busybox:latest",
    ]
    assert {w.component for w in wanted} == {"extra"}
    assert wanted[0].source == f"{values}: hub.image"
    assert wanted[-1].source == f"{values}: list[0].image"
    assert len(unresolved) == 1 and "validator" in unresolved[0] and "gpu-operator-validator" in unresolved[0]


def test_helm_values_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("hub:\n  image: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        helm_values_images(broken)
    bad = tmp_path / "bad.yaml"
    bad.write_text("hub:\n  image:\n    name: Quay.io/Bad Name\n    tag: x\n")
    with pytest.raises(UsageError, match=r"hub\.image"):
        helm_values_images(bad)


def _oracle_refs(path: Path) -> set[str]:
    refs = set()
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            refs.add(normalize_ref(text))
    return refs


def test_z2jh_values_give_exactly_the_charts_images(z2jh_oracle: Path) -> None:
    """The real z2jh 4.2.0 values.yaml yields the images `helm template` uses (IMAGES.txt)."""
    wanted, unresolved = helm_values_images(z2jh_oracle / "values.yaml")
    assert {w.ref for w in wanted} == _oracle_refs(z2jh_oracle / "IMAGES.txt")
    assert unresolved == []


def test_profile_images_include_the_enabled_notebook_catalog() -> None:
    profile = Profile.model_validate({"jupyterhub": {"images": [
        {"name": "scipy", "display_name": "SciPy", "image": "quay.io/jupyter/scipy-notebook:2024-12-09"},
        {"name": "old", "display_name": "Old", "image": "quay.io/jupyter/old:1", "enabled": False},
    ]}})
    found = profile_images(profile)
    by_ref = {w.ref: w for w in found}
    assert by_ref["quay.io/jupyter/scipy-notebook:2024-12-09"].component == "jupyterhub"
    assert "quay.io/jupyter/old:1" not in by_ref
    assert len(by_ref) == len(found)  # no duplicates


def test_a_ref_keeps_its_first_component() -> None:
    profile = Profile()
    catalog = profile.jupyterhub.images[0].image
    selection = collect_images(profile, images=[catalog, "busybox:1.36"])
    components = {w.ref: w.component for w in selection.images}
    assert components[normalize_ref(catalog)] == "jupyterhub"
    assert components["docker.io/library/busybox:1.36"] == "extra"
    assert [w.ref for w in collect_images(None, images=["busybox:1.36"]).images] == ["docker.io/library/busybox:1.36"]


def test_helm_values_null_digest_and_tag_mean_absent(tmp_path: Path) -> None:
    """`digest: null` / `tag: ~` are YAML for "no value" (Grafana-style charts), not literal strings."""
    values = tmp_path / "values.yaml"
    values.write_text("a:\n  image: {repository: foo/bar, tag: \"1.0\", digest: null}\n"
                      "b:\n  image: {repository: foo/baz, tag: ~}\n")
    wanted, unresolved = helm_values_images(values)
    assert [w.ref for w in wanted] == ["docker.io/foo/bar:1.0"]
    assert len(unresolved) == 1 and "foo/baz" in unresolved[0]  # no tag: reported, not guessed as ':null'


def test_a_platform_the_manifest_would_refuse_is_refused_up_front() -> None:
    """`--platform linux/AMD64` used to pass the CLI check and fail after every pull, when writing the manifest."""
    from installer.export.images import split_platform

    assert split_platform("linux/arm64/v8") == ("linux", "arm64", "v8")
    for bad in ("linux/AMD64", "linux", "linux//amd64", "linux/amd 64"):
        with pytest.raises(ValueError, match="not a platform"):
            split_platform(bad)
