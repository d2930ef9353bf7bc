"""Reading a rendered release, the hub's values and the GPU Operator's values for the images they run."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from installer.components import release_images
from installer.components.gpu_operator.settings import GpuOperatorSettings
from installer.components.gpu_operator.values import gpu_operator_values, known_images, operand_images
from installer.components.jupyterhub.spawn_images import hub_values, spawn_images
from installer.components.release_images import cri_name, parse_documents, pod_images
from installer.errors import StepFailed

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("ref", "name"), [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("calico/cni:v3.28.1", "docker.io/calico/cni:v3.28.1"),
    ("docker.io/calico/cni:v3.28.1", "docker.io/calico/cni:v3.28.1"),
    ("localhost:5000/x/y", "localhost:5000/x/y:latest"),
    (f"quay.io/a/b:1@{DIGEST}", f"quay.io/a/b@{DIGEST}"),  # ParseDockerRef drops the tag beside a digest
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
    (f"registry:5000/b:2@{DIGEST}", f"registry:5000/b@{DIGEST}"),
    (DIGEST, DIGEST),
])
def test_cri_name_follows_parse_docker_ref(ref: str, name: str) -> None:
    assert cri_name(ref) == name


def test_multi_document_lists_and_non_pods() -> None:
    """`---` streams, nested Lists, empty documents and non-mappings; only pod-bearing kinds give images."""
    text = """\
---
# Source: x/templates/a.yaml
apiVersion: v1
kind: List
items:
  - kind: List
    items:
      - {kind: Pod, metadata: {name: inner}, spec: {containers: [{name: c, image: a:1}]}}
  - {kind: Service, metadata: {name: s}}
---
---
just a string
---
kind: Deployment
metadata: {name: d}
spec: {template: {spec: {initContainers: [{name: i, image: b:1}], containers: [{name: c, image: ""}, {name: e}]}}}
"""
    uses = pod_images(parse_documents(text, "test"))
    assert [(u.ref, u.where) for u in uses] == [("a:1", "Pod/inner container c"),
                                                ("b:1", "Deployment/d init container i")]


def test_bad_or_huge_renders_are_refused_with_the_source_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StepFailed) as caught:
        parse_documents("kind: Pod\nspec: [unclosed\n", "the rendered release x")
    assert "the rendered release x is not valid YAML (line" in caught.value.message
    monkeypatch.setattr(release_images, "MAX_DOCUMENTS", 50)
    with pytest.raises(StepFailed, match="more than 50 documents"):
        parse_documents("kind: List\nitems:\n" + "  - {kind: Pod}\n" * 52, "big")
    with pytest.raises(StepFailed, match="more than 50 documents"):
        parse_documents("---\nkind: Pod\n" * 52, "big")
    monkeypatch.setattr(release_images, "MAX_RENDER_BYTES", 1000)
    with pytest.raises(StepFailed, match="read at most"):
        parse_documents("kind: Pod\n" * 200, "big")


def test_alias_heavy_yaml_is_read_without_blowing_up() -> None:
    """A billion-laughs style document: the safe loader shares aliases, the reader follows fixed paths only."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines += ["kind: Pod", "spec: {containers: [{name: c, image: ok:1}]}"]
    assert [u.ref for u in pod_images(parse_documents("\n".join(lines), "bomb"))] == ["ok:1"]


def test_spawn_images_of_z2jh_defaults(z2jh_oracle: Path) -> None:
    """z2jh 4.2.0's own values: the sample image, and network-tools for the metadata block (on by default)."""
    values = yaml.safe_load((z2jh_oracle / "values.yaml").read_text())
    assert [u.ref for u in spawn_images(values)] == ["quay.io/jupyterhub/k8s-singleuser-sample:4.2.0",
                                                      "quay.io/jupyterhub/k8s-network-tools:4.2.0"]


def test_spawn_images_profiles_options_and_containers() -> None:
    values = {"singleuser": {
        "image": {"name": "quay.io/a/nb", "tag": ""},
        "cloudMetadata": {"blockWithIptables": False},
        "networkTools": {"image": {"name": "quay.io/jupyterhub/k8s-network-tools", "tag": "4.2.0"}},
        "initContainers": [{"name": "fix-perms", "image": "busybox:1.36"}],
        "extraContainers": [{"name": "sidecar", "image": "quay.io/s/car:2"}],
        "profileList": [
            {"display_name": "GPU", "slug": "gpu", "kubespawner_override": {"image": "quay.io/a/gpu:1"}},
            {"display_name": "Choose", "profile_options": {"image": {"choices": {
                "old": {"kubespawner_override": {"image": "quay.io/a/old:1"}},
                "new": {"display_name": "New"}}}}},
        ]}}
    assert [(u.ref, u.where) for u in spawn_images(values)] == [
        ("quay.io/a/nb", "user servers (singleuser.image)"),
        ("busybox:1.36", "user servers' init container (singleuser.initContainers) fix-perms"),
        ("quay.io/s/car:2", "user servers' container (singleuser.extraContainers) sidecar"),
        ("quay.io/a/gpu:1", "user servers of profile 'gpu' (kubespawner_override.image)"),
        ("quay.io/a/old:1", "user servers of profile 'Choose', option image=old (kubespawner_override.image)"),
    ]


def test_hub_values_come_from_the_rendered_secret() -> None:
    """The Secret carrying values.yaml with a singleuser section is what the hub reads; others are ignored."""
    ours = {"singleuser": {"image": {"name": "quay.io/a/nb", "tag": "1"}}}
    docs = [{"kind": "Secret", "data": {"values.yaml": "not base64!"}},
            {"kind": "Secret", "data": {"values.yaml": base64.b64encode(b"other: 1").decode()}},
            {"kind": "Secret", "data": {"values.yaml": base64.b64encode(yaml.safe_dump(ours).encode()).decode()}}]
    assert hub_values(docs) == ours
    assert hub_values(docs[:2]) is None


@pytest.mark.parametrize(("hostile", "reason"), [
    ("singleuser: " + "[" * 900 + "]" * 900 + "\n", "nested deeper than 64 levels"),
    ("\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
               + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
               + ["singleuser: {image: {name: a, tag: b}}"]), "more than 200000 values"),
], ids=["deep", "alias-bomb"])
def test_a_hostile_hub_secret_stops_the_step_naming_it(hostile: str, reason: str) -> None:
    """A chart is not ours: values.yaml built to exhaust the parser is a StepFailed naming the Secret, not a crash."""
    docs = [{"kind": "Secret", "metadata": {"name": "hub"},
             "data": {"values.yaml": base64.b64encode(hostile.encode()).decode()}}]
    with pytest.raises(StepFailed) as caught:
        hub_values(docs)
    assert caught.value.message.startswith("values.yaml of the rendered Secret hub: ")
    assert reason in caught.value.message
    assert "rebuild the bundle" in caught.value.hint


def test_operand_images_follow_the_operators_image_path() -> None:
    """Enabled operands as repository/image:version; the driver gets the node OS; disabled ones are left out."""
    settings = GpuOperatorSettings.model_validate({"enabled": True, "mig_strategy": "none", "driver": "operator"})
    values = gpu_operator_values(settings, host_driver=None, images=known_images("v25.3.4"))
    found = operand_images(values, "ubuntu24.04")
    assert found["driver"] == "nvcr.io/nvidia/driver:580.82.07-ubuntu24.04"
    assert found["driverManager"] == "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.8.1"
    assert found["toolkit"] == "nvcr.io/nvidia/k8s/container-toolkit:v1.17.8-ubuntu20.04"
    assert "migManager" not in found  # mig_strategy none: disabled
    assert "operator" not in found and "nfd" not in found  # chart pods: read from the render
    digest = {"driver": {"enabled": True, "repository": "r.io/n", "image": "driver", "version": DIGEST}}
    assert operand_images(digest, "ubuntu22.04") == {"driver": f"r.io/n/driver@{DIGEST}"}


def test_raw_stdout_reaches_only_the_caller() -> None:
    """The caller parses the unmasked text; the event, the log and an error carry the masked one."""
    from installer.engine.commands import CommandRan, RecordingRunner, Redactor
    from installer.engine.events import CollectingSink
    from installer.errors import CommandFailed

    sink = CollectingSink()
    runner = RecordingRunner(sink_=sink, redactor_=Redactor(["jupyterhub"]))
    runner.answer(["ctr", "images", "ls"], stdout="quay.io/jupyterhub/k8s-hub:4.2.0\n")
    assert runner.run(["ctr", "images", "ls"], raw_stdout=True).stdout == "quay.io/jupyterhub/k8s-hub:4.2.0\n"
    assert runner.run(["ctr", "images", "ls"]).stdout == "quay.io/***/k8s-hub:4.2.0\n"
    assert {e.stdout_tail for e in sink.of(CommandRan)} == {"quay.io/***/k8s-hub:4.2.0"}
    runner.answer(["ctr", "images", "rm"], stdout="jupyterhub gone", returncode=1)
    with pytest.raises(CommandFailed) as caught:
        runner.run(["ctr", "images", "rm"], raw_stdout=True)
    assert "jupyterhub" not in caught.value.message
