"""``./install.sh export`` against a real dockerd and a registry on 127.0.0.1, imported into a real containerd.

Test images are built in Python (imagegen), pushed to the loopback registry with
skopeo, then exported through the CLI exactly as an operator runs it.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from imagegen import ImageSpec, write_docker_archive

from installer.bundle.archive import inspect_archive
from installer.bundle.importer import ContainerdStore, ImageImporter, items_from_manifest
from installer.bundle.manifest import load_manifest
from installer.bundle.verify import verify_bundle
from installer.cli import main
from installer.config.profile import load_profile
from installer.engine.commands import RealRunner
from installer.export.archive import file_sha256
from installer.export.refs import profile_images

pytestmark = pytest.mark.dockerd


def _export(capsys: pytest.CaptureFixture[str], dockerd: Any, out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["export", "--out", str(out), "--no-profile-images", "--docker-host", dockerd.url, "--json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out)


def _push(registry: Any, image_archive: Any, name: str, seed: int, size: int = 512 * 1024) -> tuple[str, str]:
    """Build an image, push it as ``<registry>/<name>``; return (ref, image ID)."""
    path, built = image_archive(f"build/{name}", name=f"{name.replace('/', '_').replace(':', '_')}.tar",
                                seed=seed, size=size)
    return registry.push_archive(path, name), built.config_digest


def _config_digest_in_containerd(containerd: Any, ref: str) -> str:
    listing = containerd.ctr("images", "ls").stdout.splitlines()
    row = next(line.split() for line in listing[1:] if line.split()[0] == ref)
    manifest = json.loads(containerd.ctr("content", "get", row[2]).stdout)
    return str(manifest["config"]["digest"])


def _verify(out: Path) -> None:
    """The bundle's own verify passes; and, checked here too: every archive has its size and
    sha256, and holds exactly the refs and image ID the manifest says."""
    manifest = load_manifest(out)
    report = verify_bundle(out, manifest)
    assert report.ok, [c.message for c in report.failures]
    assert report.unlisted == []
    for _, entry in manifest.images():
        path = out / entry.file
        assert path.stat().st_size == entry.size
        assert file_sha256(path) == entry.sha256
        info = inspect_archive(path, platform=entry.platform)
        assert len(info.images) == 1
        assert sorted(info.images[0].refs) == sorted(entry.refs)
        assert info.images[0].config_digest == entry.digest


def _import(containerd: Any, out: Path) -> None:
    """The installer's own import (decompress into `ctr images import -`, pin, check the image IDs)."""
    store = ContainerdStore(RealRunner(), socket=containerd.socket, namespace=containerd.namespace, ctr="ctr")
    report = ImageImporter(store).run(items_from_manifest(out, load_manifest(out).images()))
    assert report.ok, [(r.item.name, r.reason) for r in report.failed]


def test_round_trip_export_verify_import_is_exact(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any,
                                                  registry: Any, image_archive: Any, clean_containerd: Any) -> None:
    """Two images exported, verified and imported into containerd: same refs, same image IDs."""
    alpha, alpha_id = _push(registry, image_archive, "roundtrip/alpha:1.0", seed=101)
    beta, beta_id = _push(registry, image_archive, "roundtrip/beta:2", seed=102, size=2 << 20)
    out = tmp_path / "offline-images"
    code, report = _export(capsys, dockerd, out, "--image", alpha, "--image", beta)
    assert code == 0, report["missing"]
    assert [(i["refs"], i["status"], i["digest"]) for i in report["images"]] == [
        ([alpha], "ok", alpha_id), ([beta], "ok", beta_id)]
    manifest = load_manifest(out)
    assert manifest.platform == "linux/amd64"
    entries = {e.refs[0]: e for _, e in manifest.images(["extra"])}
    assert entries[alpha].digest == alpha_id and entries[beta].digest == beta_id
    assert entries[alpha].file == "images/" + alpha.replace("/", "_").replace(":", "_") + ".tar.zst"
    for entry in entries.values():  # the disk check's measure: the tar inside, not the compressed file
        content = inspect_archive(out / entry.file).content_bytes
        assert entry.content_size is not None and content <= entry.content_size < content + (1 << 20)
    _verify(out)
    _import(clean_containerd, out)
    assert clean_containerd.images() == sorted([alpha, beta])
    assert _config_digest_in_containerd(clean_containerd, alpha) == alpha_id
    assert _config_digest_in_containerd(clean_containerd, beta) == beta_id


def test_rerun_skips_everything_and_rewrites_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     dockerd: Any, registry: Any, image_archive: Any) -> None:
    ref, image_id = _push(registry, image_archive, "rerun/one:1", seed=201)
    out = tmp_path / "bundle"
    assert _export(capsys, dockerd, out, "--image", ref)[0] == 0
    archive = next((out / "images").iterdir())
    before = archive.stat()
    code, report = _export(capsys, dockerd, out, "--image", ref)
    assert code == 0
    assert [(i["status"], i["digest"]) for i in report["images"]] == [("skipped", image_id)]
    after = archive.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert report["unlisted"] == []


def test_a_moved_tag_is_exported_again(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any,
                                       registry: Any, image_archive: Any) -> None:
    ref, first_id = _push(registry, image_archive, "moved/tag:1", seed=301)
    out = tmp_path / "bundle"
    assert _export(capsys, dockerd, out, "--image", ref)[0] == 0
    same_ref, second_id = _push(registry, image_archive, "moved/tag:1", seed=302)
    assert same_ref == ref and second_id != first_id
    code, report = _export(capsys, dockerd, out, "--image", ref)
    assert code == 0
    assert [(i["status"], i["digest"]) for i in report["images"]] == [("ok", second_id)]
    assert [e.digest for _, e in load_manifest(out).images()] == [second_id]
    _verify(out)


def test_missing_image_is_named_and_the_rest_is_exported(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         dockerd: Any, registry: Any, image_archive: Any) -> None:
    good, _ = _push(registry, image_archive, "missing/good:1", seed=401)
    absent = f"{registry.address}/missing/does-not-exist:9"
    out = tmp_path / "bundle"
    code, report = _export(capsys, dockerd, out, "--image", absent, "--image", good)
    assert code == 1
    assert len(report["missing"]) == 1 and absent in report["missing"][0] and "not found" in report["missing"][0]
    statuses = {i["refs"][0]: i["status"] for i in report["images"]}
    assert statuses == {good: "ok", absent: "failed"}
    assert [e.refs for _, e in load_manifest(out).images()] == [[good]]
    # the human summary says the same on stdout, progress and errors went to stderr
    code = main(["export", "--out", str(out), "--no-profile-images", "--docker-host", dockerd.url,
                 "--image", absent, "--image", good])
    captured = capsys.readouterr()
    assert code == 1
    assert "MISSING from the bundle (1):" in captured.out and absent in captured.out
    assert "1 already there" in captured.out
    assert "Pull 2 images" in captured.err


def test_images_file_and_helm_values(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any,
                                     registry: Any, image_archive: Any) -> None:
    listed, listed_id = _push(registry, image_archive, "files/listed:1", seed=501)
    hub, hub_id = _push(registry, image_archive, "files/k8s-hub:4.2.0", seed=502)
    proxy, proxy_id = _push(registry, image_archive, "files/chp:4.6.3", seed=503)
    images_file = tmp_path / "images.txt"
    images_file.write_text(f"# extra images\n{listed}\n\n")
    values = tmp_path / "values.yaml"
    values.write_text(f"hub:\n  image:\n    name: {registry.address}/files/k8s-hub\n    tag: \"4.2.0\"\n"
                      f"proxy:\n  chp:\n    image:\n      registry: {registry.address}\n"
                      f"      repository: files/chp\n      tag: 4.6.3\n"
                      f"again:\n  image: {listed}\n")
    out = tmp_path / "bundle"
    code, report = _export(capsys, dockerd, out, "--images-file", str(images_file), "--helm-values", str(values))
    assert code == 0, report["missing"]
    assert {i["refs"][0]: i["digest"] for i in report["images"]} == {listed: listed_id, hub: hub_id, proxy: proxy_id}
    exported = sorted(ref for _, e in load_manifest(out).images(["extra"]) for ref in e.refs)
    assert exported == sorted([listed, hub, proxy])


def test_two_refs_of_one_image_share_one_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any,
                                                 registry: Any, image_archive: Any, clean_containerd: Any) -> None:
    """Like `docker save a b`: one file, both tags inside, both refs after import."""
    path, built = image_archive("alias/src:1", name="alias.tar", seed=601)
    first = registry.push_archive(path, "alias/first:1")
    second = registry.push_archive(path, "alias/second:2")
    out = tmp_path / "bundle"
    code, report = _export(capsys, dockerd, out, "--image", first, "--image", second)
    assert code == 0
    assert [(i["refs"], i["digest"]) for i in report["images"]] == [([first, second], built.config_digest)]
    _verify(out)
    _import(clean_containerd, out)
    assert clean_containerd.images() == sorted([first, second])


@pytest.mark.parametrize(("kind", "suffix"), [("gzip", ".tar.gz"), ("none", ".tar")])
def test_other_compressions(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any, registry: Any,
                            image_archive: Any, kind: str, suffix: str) -> None:
    ref, _ = _push(registry, image_archive, f"compress/{kind}:1", seed=701 if kind == "gzip" else 702)
    out = tmp_path / "bundle"
    code, report = _export(capsys, dockerd, out, "--image", ref, "--compress", kind)
    assert code == 0
    assert report["images"][0]["file"].endswith(suffix)
    _verify(out)


def test_wrong_platform_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any,
                                   registry: Any, image_archive: Any) -> None:
    """Docker 20.10 keeps an amd64-only image when asked for arm64: export checks what it got."""
    ref, _ = _push(registry, image_archive, "platform/amd64only:1", seed=801)
    code, report = _export(capsys, dockerd, tmp_path / "bundle", "--image", ref, "--platform", "linux/arm64")
    assert code == 1
    assert "is linux/amd64, not linux/arm64" in report["missing"][0]


def test_adding_an_image_keeps_the_earlier_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any,
                                                registry: Any, image_archive: Any) -> None:
    first, _ = _push(registry, image_archive, "topup/first:1", seed=901)
    second, _ = _push(registry, image_archive, "topup/second:1", seed=902)
    out = tmp_path / "bundle"
    assert _export(capsys, dockerd, out, "--image", first)[0] == 0
    code, report = _export(capsys, dockerd, out, "--image", second)
    assert code == 0
    assert sorted(e.refs[0] for _, e in load_manifest(out).images()) == sorted([first, second])
    assert len(report["kept"]) == 1
    _verify(out)


def test_unreachable_docker_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "--out", str(tmp_path / "b"), "--no-profile-images", "--image", "busybox:1.36",
                 "--docker-host", f"unix://{tmp_path}/no-docker.sock"])
    err = capsys.readouterr().err
    assert code == 3
    assert "cannot reach Docker" in err and "--docker-host" in err


def test_bad_input_fails_before_any_pull(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo costs a second, not an hour: nothing is pulled, nothing is written."""
    out = tmp_path / "b"
    code = main(["export", "--out", str(out), "--image", "busybox:1.36", "--chart", str(tmp_path / "nope.tgz"),
                 "--docker-host", f"unix://{tmp_path}/no-docker.sock"])
    assert code == 2
    assert "--chart" in capsys.readouterr().err
    assert not out.exists()
    assert os.listdir(tmp_path) == []


def _chart(path: Path, name: str, version: str) -> Path:
    data = f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode()
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(f"{name}/Chart.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_profile_export_groups_images_by_component_and_names_missing_charts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any) -> None:
    """A profile brings its components' images (MicroK8s base, hub, notebook catalog); the charts and
    snaps it needs are checked too. The images were loaded into Docker (no internet here): --pull never."""
    profile_file = tmp_path / "lab.yaml"
    profile_file.write_text("jupyterhub:\n  images:\n    - name: course\n      display_name: Course\n"
                            "      image: quay.io/jupyter/scipy-notebook:2024-12-09\n")
    wanted = profile_images(load_profile(profile_file))
    archive = tmp_path / "profile-images.tar"
    built = write_docker_archive(archive, [ImageSpec(refs=[w.ref], seed=1000 + i, size=32 * 1024)
                                           for i, w in enumerate(wanted)])
    with archive.open("rb") as handle:
        dockerd.client.images.load(handle)
    out = tmp_path / "bundle"
    args = ["--profile", str(profile_file), "--pull", "never"]
    code = main(["export", "--out", str(out), "--docker-host", dockerd.url, "--json", *args])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [i["status"] for i in report["images"]] == ["ok"] * len(wanted)
    assert any("helm pull jupyterhub --repo https://hub.jupyter.org/helm-chart/ --version 4.2.0" in line
               for line in report["missing"])
    assert any(line.startswith("snap microk8s:") and "snap download microk8s" in line for line in report["missing"])
    # with the chart and the snaps given as files, nothing is missing and the pulls are skipped
    snaps = []
    for name, revision in (("snapd", "23545"), ("core20", "2496"), ("microk8s", "7394")):
        snap = tmp_path / f"{name}_{revision}.snap"
        snap.write_bytes(name.encode() * 1000)
        snap.with_suffix(".assert").write_text(f"type: snap-revision\nsnap-revision: {revision}\n")
        snaps += ["--snap", str(snap)]
    chart = _chart(tmp_path / "jupyterhub-4.2.0.tgz", "jupyterhub", "4.2.0")
    code = main(["export", "--out", str(out), "--docker-host", dockerd.url, "--json", *args,
                 "--chart", str(chart), *snaps])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["missing"]
    assert {i["status"] for i in report["images"]} == {"skipped"}
    manifest = load_manifest(out)
    by_component = {c: sorted(r for e in manifest.component(c).images for r in e.refs)
                    for c in ("microk8s", "jupyterhub")}
    expected = {c: sorted(w.ref for w in wanted if w.component == c) for c in ("microk8s", "jupyterhub")}
    assert by_component == expected
    assert "quay.io/jupyter/scipy-notebook:2024-12-09" in by_component["jupyterhub"]
    assert "registry.k8s.io/pause:3.10" in by_component["microk8s"]  # needed by both: listed once
    assert manifest.find_chart("jupyterhub", "4.2.0") is not None
    assert [s.name for s in manifest.component("microk8s").snaps] == ["snapd", "core20", "microk8s"]
    digests = {ref: image.config_digest for image in built for ref in image.refs}
    assert all(e.digest == digests[e.refs[0]] for _, e in manifest.images())
    _verify(out)


def test_pull_policies_for_images_built_locally(tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any,
                                                registry: Any, image_archive: Any) -> None:
    """--pull never exports what Docker has and names what it lacks; --pull missing fetches only that."""
    path, local = image_archive("localbuild/notebook:1", name="local.tar", seed=1101)
    with path.open("rb") as handle:
        dockerd.client.images.load(handle)
    remote, remote_id = _push(registry, image_archive, "policy/remote:1", seed=1102)
    out = tmp_path / "bundle"
    code, report = _export(capsys, dockerd, out, "--pull", "never", "--image", "localbuild/notebook:1",
                           "--image", remote)
    assert code == 1
    assert {i["refs"][0]: i["status"] for i in report["images"]} == {
        "docker.io/localbuild/notebook:1": "ok", remote: "failed"}
    assert "not in the local Docker" in report["missing"][0]
    code, report = _export(capsys, dockerd, out, "--pull", "missing", "--image", "localbuild/notebook:1",
                           "--image", remote)
    assert code == 0, report["missing"]
    assert {i["refs"][0]: (i["status"], i["digest"]) for i in report["images"]} == {
        "docker.io/localbuild/notebook:1": ("skipped", local.config_digest), remote: ("ok", remote_id)}


def test_a_digest_pinned_ref_is_exported_under_its_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       dockerd: Any, registry: Any, image_archive: Any,
                                                       clean_containerd: Any) -> None:
    """`repo:tag@sha256:…` (Helm values pin so): pulled by digest, archived and listed under the tag, verified."""
    import subprocess

    ref, image_id = _push(registry, image_archive, "pinned/app:3", seed=801)
    inspected = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"],  # noqa: S607
                               capture_output=True, text=True, check=True)
    digest = json.loads(inspected.stdout)["Digest"]
    out = tmp_path / "bundle"
    code, report = _export(capsys, dockerd, out, "--image", f"{ref}@{digest}")
    assert code == 0, report
    assert [(i["refs"], i["digest"]) for i in report["images"]] == [([ref], image_id)]
    _verify(out)
    _import(clean_containerd, out)
    assert clean_containerd.images() == [ref]

    repository = ref.rpartition(":")[0]
    code, report = _export(capsys, dockerd, tmp_path / "other", "--image", f"{repository}@{digest}")
    assert code == 1
    assert "pinned by digest only" in json.dumps(report)


@pytest.mark.parametrize("again", [["latest"], ["latest", "1.36"]])
def test_a_moved_tag_does_not_lose_or_double_the_tag_that_shared_its_archive(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], dockerd: Any, registry: Any, image_archive: Any,
        again: list[str]) -> None:
    """`latest` and `1.36` were one image in one archive; `latest` moved. Re-exporting `latest` (alone, or with
    `1.36`) keeps `1.36` under its old image and lists `latest` once, under the new one."""
    path, old = image_archive("share/src", name="share.tar", seed=1001)
    latest = registry.push_archive(path, "share/app:latest")
    pinned = registry.push_archive(path, "share/app:1.36")
    out = tmp_path / "bundle"
    assert _export(capsys, dockerd, out, "--image", latest, "--image", pinned)[0] == 0
    assert len(list((out / "images").iterdir())) == 1  # one shared archive
    moved, new_id = _push(registry, image_archive, "share/app:latest", seed=1002)
    assert moved == latest and new_id != old.config_digest

    repository = latest.rpartition(":")[0]
    code, report = _export(capsys, dockerd, out, *[arg for tag in again for arg in ("--image", f"{repository}:{tag}")])
    assert code == 0, report
    listed = [(ref, e.digest) for _, e in load_manifest(out).images() for ref in e.refs]
    assert sorted(listed) == sorted([(latest, new_id), (pinned, old.config_digest)])
    _verify(out)
