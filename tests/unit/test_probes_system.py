"""System probe over fake trees, and its parsers."""

from __future__ import annotations

from pathlib import Path

from fakehost import GIB, FakeHost, base_host

from installer.engine.commands import RecordingRunner
from installer.probes.hostfs import HostFS
from installer.probes.system import (
    has_default_route,
    microk8s_ready,
    parse_cpu_list,
    parse_listening_ports,
    probe_system,
)


def _probe(root: Path):  # noqa: ANN202 - SystemInfo
    runner = RecordingRunner(strict=True)
    info = probe_system(runner, HostFS(root))
    assert runner.calls == []  # a copied tree never runs commands
    return info


def test_base_ubuntu_server(tmp_path: Path) -> None:
    base_host(tmp_path, memory=256 * GIB, cpus=48)
    info = _probe(tmp_path)
    assert (info.os_id, info.os_version, info.os_pretty) == ("ubuntu", "22.04", "Ubuntu 22.04 LTS")
    assert (info.kernel, info.arch, info.cpu_count) == ("5.15.0-91-generic", "x86_64", 48)
    assert info.memory_bytes == 256 * GIB
    assert info.snapd is True
    assert (info.microk8s_installed, info.microk8s_version, info.microk8s_ready) == (False, None, None)
    assert info.docker_installed is False
    assert info.default_route is True
    assert info.kubelet_dir_is_real_folder is False
    assert info.busy_ports == (22,)


def test_microk8s_installed_version_from_snap_yaml(tmp_path: Path) -> None:
    base_host(tmp_path).microk8s("v1.32.3").docker()
    info = _probe(tmp_path)
    assert (info.microk8s_installed, info.microk8s_version) == (True, "v1.32.3")
    assert info.microk8s_ready is None  # not asked on a copied tree
    assert info.docker_installed is True


def test_missing_microk8s_and_snapd(tmp_path: Path) -> None:
    FakeHost(tmp_path).os_release("debian", "12")
    info = _probe(tmp_path)
    assert (info.microk8s_installed, info.snapd) == (False, False)
    assert info.os_id == "debian"


def test_no_default_route_and_ipv6_only_default(tmp_path: Path) -> None:
    host = base_host(tmp_path).routes(default=False)
    assert _probe(tmp_path).default_route is False
    host.ipv6_default_route()
    assert _probe(tmp_path).default_route is True


def test_kubelet_dir_real_folder_vs_symlink(tmp_path: Path) -> None:
    base_host(tmp_path / "a").kubelet_dir(real=True)
    base_host(tmp_path / "b").kubelet_dir(real=False)
    assert _probe(tmp_path / "a").kubelet_dir_is_real_folder is True
    assert _probe(tmp_path / "b").kubelet_dir_is_real_folder is False


def test_listening_ports_v4_and_v6_only_listen_state(tmp_path: Path) -> None:
    base_host(tmp_path).listening(16443, 30080, v6=(10250,))
    assert _probe(tmp_path).busy_ports == (10250, 16443, 30080)


def test_empty_tree_gives_safe_unknowns(tmp_path: Path) -> None:
    info = _probe(tmp_path)
    assert (info.os_id, info.kernel, info.arch, info.cpu_count, info.memory_bytes) == ("unknown", "unknown",
                                                                                       "unknown", 0, 0)
    assert info.busy_ports == ()


def test_microk8s_ready_reads_status() -> None:
    runner = RecordingRunner(strict=True)
    runner.answer(["microk8s", "status"], stdout="microk8s is running\nhigh-availability: no\n")
    assert microk8s_ready(runner) is True
    assert runner.calls == [("microk8s", "status")]
    runner.answer(["microk8s", "status"], stdout="microk8s is not running. Use microk8s inspect for a deeper "
                                                 "inspection.\n", returncode=1)
    assert microk8s_ready(runner) is False
    assert microk8s_ready(RecordingRunner(strict=True)) is None  # no microk8s command


def test_parsers() -> None:
    assert parse_cpu_list("0-63") == 64
    assert parse_cpu_list("0,2-5") == 5
    assert parse_cpu_list("0") == 1
    assert has_default_route("Iface\tDestination\tGateway\n", None) is False
    assert parse_listening_ports(None, "") == ()


def test_a_host_containerd_on_the_path_is_found_once(tmp_path: Path) -> None:
    """docker.io/containerd.io put ``containerd`` on the PATH; merged /usr shows it twice but it is one program."""
    host = base_host(tmp_path)
    assert _probe(tmp_path).host_containerd == ()
    host.host_containerd().host_containerd("/usr/local/bin/containerd")
    info = _probe(tmp_path)
    assert info.host_containerd == ("/usr/local/bin/containerd", "/usr/bin/containerd")
    assert info.docker_installed is False  # no Docker: the containerd alone is what matters


def test_microk8s_own_containerd_is_not_a_host_containerd(tmp_path: Path) -> None:
    base_host(tmp_path).microk8s().write("/snap/microk8s/7964/bin/containerd", "")
    assert _probe(tmp_path).host_containerd == ()
