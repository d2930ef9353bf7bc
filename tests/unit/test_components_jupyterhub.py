"""JupyterHub component: notebook image checks on real archives, the hub wait and the URL."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from imagegen import ImageSpec, make_image_archive, write_docker_archive

from installer.bundle.manifest import Manifest, save_manifest
from installer.components.jupyterhub.image_checks import check_notebook_images, resolve_uid, scan_layers
from installer.components.jupyterhub.steps import HubUrlStep, HubWaitStep, NotebookImageChecksStep, hub_images
from installer.config.profile import Profile
from installer.engine.commands import CommandResult, RecordingRunner
from installer.engine.events import CheckReported, CollectingSink, LogLine
from installer.engine.files import FileWriter
from installer.engine.plan import StepContext
from installer.errors import BundleError, StepFailed

SINGLEUSER = {"opt/conda/bin/jupyterhub-singleuser": b"#!/usr/bin/env python\n"}
PASSWD = {"etc/passwd": b"root:x:0:0:root:/root:/bin/bash\njovyan:x:1000:100::/home/jovyan:/bin/bash\n"}


def add_to_manifest(bundle: Path, archives: dict[str, tuple[Path, str]]) -> None:
    """Manifest entries (component extra) for ref -> (archive, config digest)."""
    images = []
    for ref, (path, digest) in archives.items():
        data = path.read_bytes()
        images.append({"refs": [ref], "file": str(path.relative_to(bundle)), "sha256": hashlib.sha256(data).hexdigest(),
                       "size": len(data), "digest": digest})
    save_manifest(Manifest.model_validate({"components": {"extra": {"images": images}}}), bundle / "manifest.yaml")


def catalog(*entries: tuple[str, str]) -> Profile:
    return Profile.model_validate({"jupyterhub": {"images": [
        {"name": name, "display_name": name, "image": ref} for name, ref in entries]}})


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle with three real notebook archives: good, root without the binary, and named-user."""
    root = tmp_path / "bundle"
    good = make_image_archive(root / "images/good.tar", "quay.io/lab/good:1", user="1000", files=SINGLEUSER)
    kubeflow = make_image_archive(root / "images/kf.tar", "kubeflownotebookswg/jupyter:v1", user="0")
    named = make_image_archive(root / "images/named.tar", "quay.io/lab/named:1", user="jovyan",
                               files={**SINGLEUSER, **PASSWD})
    add_to_manifest(root, {"quay.io/lab/good:1": (root / "images/good.tar", good.config_digest),
                           "docker.io/kubeflownotebookswg/jupyter:v1": (root / "images/kf.tar", kubeflow.config_digest),
                           "quay.io/lab/named:1": (root / "images/named.tar", named.config_digest)})
    return root


def test_image_checks_name_the_bad_image(bundle: Path) -> None:
    """UID 0 and no jupyterhub-singleuser are warnings naming the image; a jovyan image passes both."""
    from installer.bundle.manifest import load_manifest

    profile = catalog(("good", "quay.io/lab/good:1"), ("kf", "kubeflownotebookswg/jupyter:v1"),
                      ("named", "quay.io/lab/named:1"), ("absent", "quay.io/lab/absent:1"))
    results = check_notebook_images(profile.jupyterhub, bundle, load_manifest(bundle))
    by_title = {r.title: r for r in results}
    assert by_title["notebook image quay.io/lab/good:1: user"].status == "pass"
    assert by_title["notebook image quay.io/lab/good:1: jupyterhub-singleuser"].status == "pass"
    kf_user = by_title["notebook image kubeflownotebookswg/jupyter:v1: user"]
    assert kf_user.status == "warn" and "UID 0" in kf_user.found and "kubeflownotebookswg/jupyter:v1" in kf_user.hint
    kf_bin = by_title["notebook image kubeflownotebookswg/jupyter:v1: jupyterhub-singleuser"]
    assert kf_bin.status == "warn" and "Kubeflow" in kf_bin.hint
    assert by_title["notebook image quay.io/lab/named:1: user"].status == "pass"  # jovyan resolved via /etc/passwd
    assert by_title["notebook image quay.io/lab/absent:1"].found == "not in the bundle"


def test_layer_scan_of_compressed_and_oci_archives(tmp_path: Path) -> None:
    """zstd-compressed docker archives and skopeo's OCI archives (gzip layers) are scanned too."""
    plain = tmp_path / "nb.tar"
    make_image_archive(plain, "quay.io/lab/nb:1", files=SINGLEUSER)
    import zstandard

    compressed = tmp_path / "nb.tar.zst"
    compressed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    assert scan_layers(compressed).has_singleuser is True
    if subprocess.run(["which", "skopeo"], capture_output=True, check=False).returncode != 0:
        pytest.skip("skopeo is not installed (tests/run.sh installs it)")
    oci = tmp_path / "nb-oci.tar"
    subprocess.run(["skopeo", "copy", "--quiet", f"docker-archive:{plain}", f"oci-archive:{oci}:quay.io/lab/nb:1"],
                   check=True, capture_output=True)
    assert scan_layers(oci).has_singleuser is True


def test_layer_scan_multi_layer_passwd_later_wins(tmp_path: Path) -> None:
    """Without the binary: False; passwd read from the archive."""
    path = tmp_path / "x.tar"
    write_docker_archive(path, [ImageSpec(refs=["quay.io/a/x:1"], files=PASSWD)])
    scan = scan_layers(path)
    assert scan.has_singleuser is False
    assert resolve_uid("jovyan", scan.passwd) == 1000
    assert resolve_uid("", None) == 0
    assert resolve_uid("1000:100", None) == 1000
    assert resolve_uid("someone", scan.passwd) is None


def test_image_check_step_reports_events(bundle: Path, tmp_path: Path) -> None:
    """The step emits check events and warning lines; it never fails the install."""
    profile = catalog(("kf", "kubeflownotebookswg/jupyter:v1"))
    sink = CollectingSink()
    ctx = StepContext(runner=RecordingRunner(), files=FileWriter(sink), sink=sink, profile=profile,
                      state_dir=tmp_path / "s")
    step = NotebookImageChecksStep(bundle, profile.jupyterhub)
    assert step.is_done(ctx) is None
    step.run(ctx)
    assert {e.status for e in sink.of(CheckReported)} == {"warn"}
    assert any("kubeflownotebookswg/jupyter:v1" in e.message for e in sink.of(LogLine) if e.level == "warning")


def test_hub_images_must_be_in_the_bundle(bundle: Path) -> None:
    """With a manifest lacking the hub image, a bundle error names it."""
    with pytest.raises(BundleError) as caught:
        hub_images(Profile().jupyterhub, bundle)
    assert "quay.io/jupyterhub/k8s-hub:4.2.0" in caught.value.message


def test_hub_wait_polls_health_until_it_answers(tmp_path: Path) -> None:
    """Rollout of hub and proxy, then /hub/health through the service proxy until it answers."""
    answers = iter([1, 1, 0])
    runner = RecordingRunner()
    runner.answers[("microk8s", "kubectl", "get", "--raw")] = lambda argv: CommandResult(argv, next(answers))
    sink = CollectingSink()
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path)
    step = HubWaitStep(Profile().jupyterhub, poll_interval=0.0)
    assert step.is_done(ctx) is False
    step.run(ctx)
    assert runner.ran("microk8s", "kubectl", "-n", "jupyterhub", "rollout") == [
        ("microk8s", "kubectl", "-n", "jupyterhub", "rollout", "status", "deployment/hub", "--timeout=600s"),
        ("microk8s", "kubectl", "-n", "jupyterhub", "rollout", "status", "deployment/proxy", "--timeout=600s")]
    assert runner.ran("microk8s", "kubectl", "get", "--raw")[-1][-1] == (
        "/api/v1/namespaces/jupyterhub/services/proxy-public:http/proxy/hub/health")


def test_hub_wait_timeout(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(["microk8s", "kubectl", "get", "--raw"], returncode=1)
    ticks = iter(range(0, 10_000, 100))
    sink = CollectingSink()
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path)
    with pytest.raises(StepFailed) as caught:
        HubWaitStep(Profile().jupyterhub, poll_interval=0.0, clock=lambda: float(next(ticks))).run(ctx)
    assert "hub answers" in caught.value.message


def test_url_step(tmp_path: Path) -> None:
    runner = RecordingRunner()
    runner.answer(["microk8s", "kubectl", "get", "nodes"], json.dumps({"items": [
        {"status": {"addresses": [{"type": "InternalIP", "address": "192.168.7.20"}]}}]}))
    sink = CollectingSink()
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path)
    HubUrlStep(Profile().jupyterhub).run(ctx)
    assert ctx.results.hub_url == "http://192.168.7.20:30080/"
    assert any("sign up as admin" in e.message for e in sink.of(LogLine))


def test_cluster_ip_url_is_the_port_forward_not_the_node(tmp_path: Path) -> None:
    """A ClusterIP service answers on no node address: the URL shown is the port-forward's."""
    runner = RecordingRunner()
    runner.answer(["microk8s", "kubectl", "get", "nodes"], json.dumps({"items": [
        {"status": {"addresses": [{"type": "InternalIP", "address": "192.168.7.20"}]}}]}))
    sink = CollectingSink()
    settings = Profile.model_validate({"jupyterhub": {"service": {"type": "ClusterIP"}}}).jupyterhub
    ctx = StepContext(runner=runner, files=FileWriter(sink), sink=sink, profile=Profile(), state_dir=tmp_path)
    HubUrlStep(settings).run(ctx)
    assert ctx.results.hub_url == "http://127.0.0.1:8080/"
    assert any("port-forward service/proxy-public 8080:80" in e.message for e in sink.of(LogLine))


def test_known_hub_images_match_the_bundle_artifact_list() -> None:
    """Hub, proxy and network-tools refs are among what ``artifacts.py`` tells export to carry."""
    from installer.bundle.imageref import normalize_ref
    from installer.components.jupyterhub import artifacts
    from installer.components.jupyterhub.values import KNOWN_HUB_IMAGES

    carried = {normalize_ref(r) for r in artifacts.required_images(Profile())}
    images = KNOWN_HUB_IMAGES["4.2.0"]
    assert {images.hub, images.proxy, images.network_tools} <= carried
