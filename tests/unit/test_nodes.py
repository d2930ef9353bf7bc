"""The join pieces on their own: the connection string, the node rows, and the bundle server's name table
(a real server on loopback, real HTTP requests)."""

from __future__ import annotations

import hashlib
import http.client
import os
import time
from pathlib import Path

import pytest

from installer.errors import BundleError, UsageError
from installer.nodes.connection import check_connection
from installer.nodes.fetch import download, fetch_manifest
from installer.nodes.listing import format_rows, rows_from_json
from installer.nodes.server import BundleServer, serving

TOKEN = "a" * 32


@pytest.mark.parametrize("text", ["10.0.0.5:25000", f"member:25000/{TOKEN}", f"10.0.0.5/{TOKEN}",
                                  f"10.0.0.5:0/{TOKEN}", "10.0.0.5:25000/short", f"10.0.0.5:25000/{TOKEN}/abc",
                                  f"10.0.0.5:25000/{TOKEN}/abcdefabcdef/x"])
def test_connection_strings_microk8s_join_refuses_are_bad_input(text: str) -> None:
    with pytest.raises(UsageError):
        check_connection(text)


def test_a_valid_connection_string_passes() -> None:
    assert check_connection(f"10.0.0.5:25000/{TOKEN}/abcdefabcdef") == f"10.0.0.5:25000/{TOKEN}/abcdefabcdef"


def test_node_rows_read_role_readiness_and_hardware() -> None:
    document = {"items": [
        {"metadata": {"name": "gpu-2", "labels": {"node.kubernetes.io/microk8s-worker": "microk8s-worker",
                                                  "jupyterhub-offline-installer/gpu": "true",
                                                  "jupyterhub-offline-installer/role": "worker"}},
         "status": {"conditions": [{"type": "Ready", "status": "True"}],
                    "addresses": [{"type": "InternalIP", "address": "10.0.0.6"}],
                    "allocatable": {"nvidia.com/gpu": "8", "rdma/rdma_shared_device_a": "63"}}},
        {"metadata": {"name": "gpu-1", "labels": {}},
         "status": {"conditions": [{"type": "Ready", "status": "False"}], "addresses": [], "allocatable": {}}}]}
    rows = rows_from_json(document)
    assert [(r.name, r.role, r.ready, r.gpus, r.rdma, r.hardware) for r in rows] == [
        ("gpu-1", "control-plane", False, 0, (), ()),
        ("gpu-2", "worker", True, 8, ("rdma/rdma_shared_device_a",), ("gpu",))]
    lines = format_rows(rows)
    assert "8 × nvidia.com/gpu" in lines[2] and lines[1].split()[:3] == ["gpu-1", "control-plane", "no"]


def _bundle(tmp_path: Path) -> tuple[Path, bytes]:
    bundle = tmp_path / "offline-images"
    (bundle / "charts").mkdir(parents=True)
    data = os.urandom(300_000)
    (bundle / "charts" / "c-1.tgz").write_bytes(data)
    (bundle / "manifest.yaml").write_text(
        "version: 1\ncomponents:\n  jupyterhub:\n    charts:\n    - name: c\n      version: '1'\n"
        f"      file: charts/c-1.tgz\n      sha256: {hashlib.sha256(data).hexdigest()}\n      size: {len(data)}\n")
    return bundle, data


def _get(port: int, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def test_server_serves_listed_files_with_ranges_and_nothing_else(tmp_path: Path) -> None:
    bundle, data = _bundle(tmp_path)
    (bundle / "charts" / "outside.tgz").symlink_to("/etc/passwd")
    server = BundleServer(bundle, "127.0.0.1", 0, 60.0)
    sha = server.prepare()
    with serving(server):
        assert _get(server.port, "/charts/c-1.tgz") == (200, data)
        assert _get(server.port, "/charts/c-1.tgz", headers={"Range": "bytes=1000-"}) == (206, data[1000:])
        for path in ("/../offline-images/manifest.yaml", "/charts/outside.tgz", "/charts/../manifest.yaml",
                     "/etc/passwd", "/%2e%2e/etc/passwd", "/charts"):
            assert _get(server.port, path)[0] == 404, path
        assert _get(server.port, "/manifest.yaml", method="DELETE")[0] == 405
        manifest, _ = fetch_manifest(f"http://127.0.0.1:{server.port}", sha)
        assert manifest.find_chart("c", "1") is not None
        with pytest.raises(BundleError, match="not the"):
            fetch_manifest(f"http://127.0.0.1:{server.port}", "0" * 64)


def test_download_resumes_a_part_and_refuses_a_wrong_hash(tmp_path: Path) -> None:
    bundle, data = _bundle(tmp_path)
    server = BundleServer(bundle, "127.0.0.1", 0, 60.0)
    server.prepare()
    target = tmp_path / "spool" / "charts" / "c-1.tgz"
    target.parent.mkdir(parents=True)
    (target.parent / "c-1.tgz.part").write_bytes(data[:100_000])
    sha = hashlib.sha256(data).hexdigest()
    with serving(server):
        url = f"http://127.0.0.1:{server.port}"
        assert download(url, "charts/c-1.tgz", len(data), sha, target) == len(data) - 100_000
        assert target.read_bytes() == data
        target.unlink()
        with pytest.raises(BundleError, match="does not match the manifest"):
            download(url, "charts/c-1.tgz", len(data), "0" * 64, target)
        assert not target.exists() and not (target.parent / "c-1.tgz.part").exists()


def test_server_refuses_a_bundle_that_does_not_match_its_manifest(tmp_path: Path) -> None:
    bundle, _ = _bundle(tmp_path)
    (bundle / "charts" / "c-1.tgz").write_bytes(b"changed")
    with pytest.raises(BundleError, match="does not match its manifest"):
        BundleServer(bundle, "127.0.0.1", 0, 60.0).prepare()


def test_server_answers_nothing_after_its_time(tmp_path: Path) -> None:
    bundle, _ = _bundle(tmp_path)
    server = BundleServer(bundle, "127.0.0.1", 0, 60.0)
    server.prepare()
    with serving(server):
        server.deadline = time.time() - 1  # its time is up (the wait loop then stops it)
        assert _get(server.port, "/manifest.yaml")[0] == 404
    server.wait()  # returns at once: past the deadline
    with pytest.raises(OSError):
        _get(server.port, "/manifest.yaml")


def test_a_node_runs_the_gpu_and_rdma_images_only_with_that_hardware(tmp_path: Path) -> None:
    from fakehost import base_host, gpu_and_infiniband

    from installer.bundle.manifest import Manifest
    from installer.bundle.requirements import component_needs
    from installer.components.gpu_operator.settings import GpuOperatorSettings
    from installer.components.rdma.settings import RdmaSettings
    from installer.config.profile import Profile
    from installer.engine.commands import RecordingRunner
    from installer.nodes.needs import node_needs, require_in_manifest
    from installer.probes import probe_host

    profile = Profile(gpu_operator=GpuOperatorSettings(enabled=True), rdma=RdmaSettings(enabled=True))
    cpu = node_needs(profile, probe_host(RecordingRunner(strict=True), base_host(tmp_path / "cpu").root))
    gpu = node_needs(profile, probe_host(RecordingRunner(strict=True), gpu_and_infiniband(tmp_path / "gpu").root))
    assert "gpu_operator" not in cpu.components and set(cpu.skipped) == {"gpu_operator", "rdma"}
    assert {"gpu_operator", "rdma"} <= set(gpu.components) and gpu.gpus and gpu.infiniband
    operator_refs = set(component_needs(profile, "gpu_operator").images)
    assert operator_refs <= set(gpu.refs) and not operator_refs & set(cpu.refs)
    with pytest.raises(BundleError, match=r"needs \d+ image"):
        require_in_manifest(gpu, Manifest(), "http://10.0.0.5:25080")


def test_a_taken_port_is_said_plainly(tmp_path: Path) -> None:
    from installer.errors import StepFailed

    bundle, _ = _bundle(tmp_path)
    first = BundleServer(bundle, "127.0.0.1", 0, 60.0)
    first.prepare()
    with serving(first):
        second = BundleServer(bundle, "127.0.0.1", first.port, 60.0)
        second.prepare()
        with pytest.raises(StepFailed, match=f"127.0.0.1:{first.port}"):
            second.start()
        second.stop()


def test_an_empty_node_list_has_no_rows() -> None:
    """`kubectl get nodes -o json` with no items is no node (not one nameless node)."""
    assert rows_from_json({"apiVersion": "v1", "kind": "List", "items": []}) == []


def test_install_tar_leaves_out_private_files_and_the_bundle_images(tmp_path: Path) -> None:
    """A profile the wizard saved with its password (0600) is not served to the network; the wheels are."""
    import tarfile

    from installer.nodes.server import installer_tar

    repo, bundle = tmp_path / "repo", tmp_path / "repo" / "offline-images"
    (repo / "profiles").mkdir(parents=True)
    (repo / "install.sh").write_text("#!/bin/sh\n")
    (repo / "profiles" / "cpu.yaml").write_text("jupyterhub: {}\n")
    secret = repo / "profiles" / "lab.yaml"
    secret.write_text("jupyterhub: {auth: {password: s3cret}}\n")
    secret.chmod(0o600)
    (bundle / "wheels").mkdir(parents=True)
    (bundle / "wheels" / "x-1-py3-none-any.whl").write_bytes(b"w")
    (bundle / "images").mkdir()
    (bundle / "images" / "big.tar").write_bytes(b"i")
    with tarfile.open(installer_tar(repo, bundle, tmp_path / "install.tar")) as tar:
        names = set(tar.getnames())
    assert {"install.sh", "profiles/cpu.yaml", "offline-images/wheels/x-1-py3-none-any.whl"} <= names
    assert "profiles/lab.yaml" not in names and not any("big.tar" in n for n in names)
