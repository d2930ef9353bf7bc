"""Each preflight check: the verdict, what it says was found and required, and the hint."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from fakehost import GIB, a100_mig, base_host, eight_h100, gpu_and_infiniband, no_gpu, roce_port, two_ib_ports

from installer.components.gpu_operator.settings import GpuOperatorSettings
from installer.components.rdma.settings import RdmaSettings
from installer.config.profile import Profile
from installer.engine.commands import RecordingRunner
from installer.preflight import checks
from installer.preflight.checks import CHECK_IDS, containerd_bytes_needed, run_checks
from installer.probes import HostFacts, probe_host
from installer.probes.disk import measure
from installer.probes.model import GpuInfo, SystemInfo


def _facts(root: Path) -> HostFacts:
    return probe_host(RecordingRunner(strict=True), root)


def _system(**changes: object) -> SystemInfo:
    base = SystemInfo(os_id="ubuntu", os_version="22.04", kernel="5.15.0", arch="x86_64", cpu_count=8,
                      memory_bytes=64 * GIB, is_root=True, snapd=True, microk8s_installed=False,
                      microk8s_version=None, microk8s_ready=None, docker_installed=False, default_route=True,
                      kubelet_dir_is_real_folder=False, busy_ports=())
    return dataclasses.replace(base, **changes)


def test_run_checks_covers_every_id_in_order(tmp_path: Path) -> None:
    no_gpu(tmp_path)
    results = run_checks(_facts(tmp_path), Profile())
    assert tuple(r.id for r in results) == CHECK_IDS
    assert all(r.status in ("pass", "warn", "fail") for r in results)
    assert all(r.found and r.required for r in results)
    assert all(r.hint for r in results if r.status != "pass")


def test_healthy_cpu_host_passes_everything_but_microk8s(tmp_path: Path) -> None:
    no_gpu(tmp_path)
    profile = Profile.model_validate({"preflight": {"disk_headroom_gib": 0}})
    results = {r.id: r for r in run_checks(_facts(tmp_path), profile, bundle_bytes=0)}
    assert results["microk8s"].status == "fail"
    others = {i: r.status for i, r in results.items() if i not in ("microk8s", "root")}
    assert set(others.values()) == {"pass"}, others


# --- disk ----------------------------------------------------------------------------------


def test_too_little_disk_on_a_real_temp_folder(tmp_path: Path) -> None:
    disk = measure(tmp_path / "var" / "snap" / "microk8s" / "common", shown_as="/var/snap/microk8s/common",
                   role="containerd")
    free_gib = shutil.disk_usage(tmp_path).free / GIB
    result = checks.check_disk_containerd(disk, bundle_bytes=4 * GIB, headroom_gib=free_gib + 1)
    assert result.status == "fail"
    assert result.required.startswith(f"{(2.5 * 4 * GIB + (free_gib + 1) * GIB) / GIB:.1f} GiB free")
    assert "2.5 x 4.0 GiB of image files" in result.required
    assert "preflight.disk_headroom_gib" in result.required
    assert result.hint.startswith("Free ") and disk.mount_point in result.hint
    assert checks.check_disk_containerd(disk, bundle_bytes=0, headroom_gib=0).status == "pass"


def test_images_already_imported_need_no_room(tmp_path: Path) -> None:
    """A re-run after an interrupted import asks only for what is left to import."""
    disk = measure(tmp_path, shown_as="/var/snap/microk8s/common", role="containerd")
    free = shutil.disk_usage(tmp_path).free
    bundle = int(free / 2.5) + GIB  # the whole bundle would not fit ...
    assert checks.check_disk_containerd(disk, bundle_bytes=bundle, headroom_gib=0).status == "fail"
    rerun = checks.check_disk_containerd(disk, bundle_bytes=bundle, headroom_gib=0, imported_bytes=2 * GIB)
    assert rerun.status == "pass", rerun  # ... but what is left does
    assert "not yet imported (2.0 GiB already are)" in rerun.required
    unknown = checks.check_disk_containerd(disk, bundle_bytes=bundle, headroom_gib=0, imported_bytes=None)
    assert unknown.status == "fail" and "--skip-check disk-containerd" in unknown.hint  # could not list: say so


def test_too_little_disk_through_the_profile_threshold(tmp_path: Path) -> None:
    no_gpu(tmp_path)
    free_gib = shutil.disk_usage(tmp_path).free / GIB
    profile = Profile.model_validate({"preflight": {"disk_headroom_gib": round(free_gib) + 10}})
    results = {r.id: r for r in run_checks(_facts(tmp_path), profile)}
    assert results["disk-containerd"].status == "fail"
    assert "bundle size unknown" in results["disk-containerd"].required


def test_disk_requirement_formula() -> None:
    assert containerd_bytes_needed(None, 20) == 20 * GIB
    assert containerd_bytes_needed(10 * GIB, 20) == 45 * GIB
    assert containerd_bytes_needed(10 * GIB, 20, imported_bytes=4 * GIB) == 35 * GIB
    assert containerd_bytes_needed(10 * GIB, 20, imported_bytes=12 * GIB) == 20 * GIB


def test_snap_disk_only_matters_before_microk8s(tmp_path: Path) -> None:
    disk = dataclasses.replace(measure(tmp_path, shown_as="/var/lib/snapd", role="snapd"), free_bytes=100)
    assert checks.check_disk_snapd(disk, microk8s_installed=False).status == "fail"
    assert checks.check_disk_snapd(disk, microk8s_installed=True).status == "pass"


# --- MicroK8s and system --------------------------------------------------------------------


def test_microk8s_missing_fails_with_the_bundle_hint() -> None:
    result = checks.check_microk8s(_system(), install_snaps=True, bundle_has_snaps=False)
    assert result.status == "fail"
    assert "snaps" in result.hint and "bundle" in result.hint and ".assert" in result.hint


def test_microk8s_missing_with_snaps_in_bundle_only_warns() -> None:
    result = checks.check_microk8s(_system(), install_snaps=True, bundle_has_snaps=True)
    assert result.status == "warn"


def test_microk8s_missing_with_install_snaps_off_fails() -> None:
    result = checks.check_microk8s(_system(), install_snaps=False, bundle_has_snaps=True)
    assert result.status == "fail"
    assert "install_snaps" in result.required


def test_microk8s_installed_running_and_stopped() -> None:
    running = _system(microk8s_installed=True, microk8s_version="v1.32.3", microk8s_ready=True)
    assert checks.check_microk8s(running, install_snaps=True, bundle_has_snaps=False).found == \
        "installed v1.32.3, running"
    stopped = dataclasses.replace(running, microk8s_ready=False)
    assert checks.check_microk8s(stopped, install_snaps=True, bundle_has_snaps=False).status == "warn"


def test_snapd_needed_only_to_install_microk8s() -> None:
    assert checks.check_snapd(_system(snapd=False)).status == "fail"
    assert checks.check_snapd(_system(snapd=False, microk8s_installed=True)).status == "pass"


def test_busy_ports_matter_only_without_microk8s() -> None:
    ports = checks.needed_ports(Profile())
    assert set(ports) >= {16443, 10250, 25000, 30080}
    busy = _system(busy_ports=(22, 16443, 30080))
    result = checks.check_ports(busy, ports)
    assert result.status == "fail"
    assert "16443 (Kubernetes API)" in result.found and "30080 (JupyterHub" in result.found
    assert checks.check_ports(dataclasses.replace(busy, microk8s_installed=True), ports).status == "pass"


def test_node_port_comes_from_the_profile() -> None:
    profile = Profile.model_validate({"jupyterhub": {"service": {"node_port": 31000}}})
    assert 31000 in checks.needed_ports(profile) and 30080 not in checks.needed_ports(profile)


def test_memory_threshold_from_profile() -> None:
    assert checks.check_memory(_system(memory_bytes=7 * GIB), 8).status == "fail"
    assert checks.check_memory(_system(memory_bytes=8 * GIB), 8).status == "pass"


def test_os_root_arch_cpu() -> None:
    assert checks.check_os(_system()).status == "pass"
    assert checks.check_os(_system(os_version="24.04")).status == "pass"
    assert checks.check_os(_system(os_id="debian", os_version="12")).status == "warn"
    assert checks.check_root(_system(is_root=False)).status == "fail"
    assert "sudo" in checks.check_root(_system(is_root=False)).hint
    assert checks.check_arch(_system(arch="ppc64le")).status == "fail"
    assert checks.check_cpu(_system(cpu_count=1)).status == "warn"


def test_default_route_missing_warns_when_the_installer_adds_one() -> None:
    assert checks.check_default_route(_system(default_route=False), add_default_route=True).status == "warn"
    assert checks.check_default_route(_system(default_route=False), add_default_route=False).status == "fail"


def test_real_kubelet_folder_fails_only_with_device_plugins() -> None:
    system = _system(kubelet_dir_is_real_folder=True)
    assert checks.check_kubelet_dir(system, device_plugins=True).status == "fail"
    assert checks.check_kubelet_dir(system, device_plugins=False).status == "warn"
    assert checks.check_kubelet_dir(_system(), device_plugins=True).status == "pass"


def test_a_host_containerd_fails_when_the_toolkit_would_copy_its_config(tmp_path: Path) -> None:
    """gpu-operator#1367: a containerd on the PATH (no Docker needed) is named, with the fix, when the toolkit cannot
    be told to leave it alone; the shipped charts' toolkits (v1.17.8, v1.18.1) can, so they pass and say why."""
    eight_h100(tmp_path).host_containerd()
    facts = _facts(tmp_path)
    assert not facts.system.docker_installed

    def docker(gpu_operator: dict[str, object]) -> checks.CheckResult:
        profile = Profile.model_validate({"gpu_operator": {"enabled": True, **gpu_operator}})
        return {r.id: r for r in run_checks(facts, profile)}["docker"]

    old_chart = docker({"version": "v24.9.2"})  # no image list: its toolkit is not known to obey
    assert old_chart.status == "fail"
    assert "/usr/bin/containerd" in old_chart.found and "/usr/bin/containerd config dump" in old_chart.hint
    assert "apt remove" in old_chart.hint and "v25.3.4" in old_chart.hint
    for version in ("v25.3.4", "v25.10.1"):
        guarded = docker({"version": version})
        assert guarded.status == "pass" and "/usr/bin/containerd" in guarded.found
        assert "RUNTIME_EXECUTABLE_PATH" in guarded.hint
    assert docker({"version": "v24.9.2", "toolkit": False}).status == "pass"  # no toolkit: nothing copies it


def test_host_containerd_check_without_gpu_operator_or_containerd() -> None:
    system = _system(docker_installed=True, host_containerd=("/usr/bin/containerd",))
    assert checks.check_docker(system, gpu_operator=False, toolkit_guarded=False).status == "pass"
    assert checks.check_docker(system, gpu_operator=True, toolkit_guarded=False).status == "fail"
    docker_snap = checks.check_docker(_system(docker_installed=True), gpu_operator=True, toolkit_guarded=False)
    assert docker_snap.status == "pass" and "no containerd on the host PATH" in docker_snap.found


# --- components against the hardware --------------------------------------------------------


def test_gpu_operator_on_without_gpu_fails(tmp_path: Path) -> None:
    no_gpu(tmp_path)
    result = checks.check_gpu(_facts(tmp_path).gpus, GpuOperatorSettings(enabled=True))
    assert result.status == "fail"
    assert result.found == "no NVIDIA GPU"
    assert "gpu_operator.enabled" in result.required and "gpu_operator.enabled: false" in result.hint


def test_gpu_found_with_operator_off_passes_and_says_so(tmp_path: Path) -> None:
    eight_h100(tmp_path)
    result = checks.check_gpu(_facts(tmp_path).gpus, GpuOperatorSettings())
    assert (result.status, result.found) == ("pass", "8 x NVIDIA H100 80GB HBM3")
    assert "gpu_operator.enabled: true" in result.hint


@pytest.mark.parametrize(("driver", "host_driver", "status"), [
    ("host", None, "fail"),
    ("operator", "550.54.15", "fail"),
    ("auto", "550.54.15", "pass"),
    ("host", "550.54.15", "pass"),
    ("auto", None, "warn"),
    ("operator", None, "warn"),
])
def test_gpu_driver_choice_against_host(driver: str, host_driver: str | None, status: str) -> None:
    gpus = (GpuInfo(pci_address="0000:19:00.0", name="H100"),)
    result = checks.check_gpu_driver(gpus, host_driver, GpuOperatorSettings(enabled=True, driver=driver))
    assert result.status == status


def test_mig_without_strategy_warns() -> None:
    gpus = (GpuInfo(pci_address="0000:07:00.0", name="A100", mig="Enabled"),)
    assert checks.check_gpu_mig(gpus, GpuOperatorSettings(enabled=True, mig_strategy="none")).status == "warn"
    assert checks.check_gpu_mig(gpus, GpuOperatorSettings(enabled=True)).status == "pass"


def test_rdma_on_without_active_port_fails(tmp_path: Path) -> None:
    base_host(tmp_path).ib_device("mlx5_0", "0000:1a:00.0",
                                  [{"state": "1: DOWN", "phys_state": "3: Disabled", "rate": "10 Gb/sec (4X SDR)",
                                    "link_layer": "InfiniBand"}], netdevs={"ib0": 0})
    result = checks.check_rdma(_facts(tmp_path).infiniband, RdmaSettings(enabled=True))
    assert result.status == "fail"
    assert "mlx5_0/1 DOWN/Disabled" in result.found
    assert "rdma.enabled: false" in result.hint


def test_rdma_on_with_no_device_fails(tmp_path: Path) -> None:
    no_gpu(tmp_path)
    result = checks.check_rdma(_facts(tmp_path).infiniband, RdmaSettings(enabled=True))
    assert (result.status, result.found) == ("fail", "no RDMA device")


def test_rdma_on_with_active_port_passes_and_checks_configured_selectors(tmp_path: Path) -> None:
    two_ib_ports(tmp_path)
    ports = _facts(tmp_path).infiniband
    assert checks.check_rdma(ports, RdmaSettings(enabled=True)).status == "pass"
    wrong_if = checks.check_rdma(ports, RdmaSettings(enabled=True, interfaces=["ib1"]))  # ib1 is down
    assert wrong_if.status == "fail" and "ib0" in wrong_if.hint
    wrong_link = checks.check_rdma(ports, RdmaSettings(enabled=True, link_types=["ether"]))
    assert wrong_link.status == "fail"
    wrong_vendor = checks.check_rdma(ports, RdmaSettings(enabled=True, vendors=["8086"]))
    assert wrong_vendor.status == "fail"


def test_roce_port_satisfies_ether_link_type(tmp_path: Path) -> None:
    roce_port(tmp_path)
    ports = _facts(tmp_path).infiniband
    assert checks.check_rdma(ports, RdmaSettings(enabled=True, link_types=["ether"])).status == "pass"


def test_check_result_event_and_dict() -> None:
    result = checks.check_root(_system(is_root=False))
    event = result.to_event()
    assert (event.check_id, event.status, event.found, event.required, event.hint) == (
        "root", "fail", "not root", "root", result.hint)
    assert set(result.to_dict()) == {"id", "title", "status", "found", "required", "hint"}


# --- GPUDirect RDMA and the catalog's GPU requests -------------------------------------------


def _check(facts: HostFacts, profile: dict[str, object], check_id: str) -> checks.CheckResult:
    return {r.id: r for r in run_checks(facts, Profile.model_validate(profile))}[check_id]


GPU_RDMA = {"gpu_operator": {"enabled": True}, "rdma": {"enabled": True}}


def test_gpudirect_rdma_with_the_host_driver_needs_nvidia_peermem(tmp_path: Path) -> None:
    """Eight GPUs, InfiniBand and the host driver but no nvidia_peermem: NCCL would stage through host memory."""
    host = gpu_and_infiniband(tmp_path)
    missing = _check(_facts(tmp_path), GPU_RDMA, "gpudirect")
    assert missing.status == "warn"
    assert missing.found == "nvidia_peermem not loaded (proprietary kernel module)"
    assert "modprobe nvidia_peermem" in missing.hint and "/etc/modules-load.d/" in missing.hint
    host.nvidia_peermem()
    assert _check(_facts(tmp_path), GPU_RDMA, "gpudirect").status == "pass"
    assert _check(_facts(tmp_path), {"gpu_operator": {"enabled": True}}, "gpudirect").status == "pass"  # no RDMA


def test_gpudirect_names_dma_buf_for_the_open_module_and_the_driver_container(tmp_path: Path) -> None:
    host = gpu_and_infiniband(tmp_path)
    host.nvidia_driver("580.82.07", open_module=True)
    assert "DMA-BUF may work" in _check(_facts(tmp_path), GPU_RDMA, "gpudirect").found
    operator = {"gpu_operator": {"enabled": True, "driver": "operator"}, "rdma": {"enabled": True}}
    container = _check(_facts(tmp_path), operator, "gpudirect")
    assert container.status == "warn" and "driver.rdma.enabled" in container.found


def _catalog(*entries: tuple[str, int, bool]) -> dict[str, object]:
    return {"jupyterhub": {"images": [{"name": name, "display_name": name, "image": f"example.org/{name}:1",
                                       "gpus": gpus, "enabled": enabled} for name, gpus, enabled in entries]}}


def test_a_catalog_entry_asking_for_more_gpus_than_the_node_has_is_named(tmp_path: Path) -> None:
    """Eight H100s: an entry asking for 16 never starts; a disabled one is not offered, so it is not named."""
    eight_h100(tmp_path)
    facts = _facts(tmp_path)
    profile = {"gpu_operator": {"enabled": True}, **_catalog(("small", 1, True), ("huge", 16, True),
                                                            ("old", 12, False))}
    result = _check(facts, profile, "gpu-catalog")
    assert result.status == "warn"
    assert result.found == "huge asks for 16"
    assert "huge" in result.hint and "8 GPU(s)" in result.hint
    fits = _check(facts, {"gpu_operator": {"enabled": True}, **_catalog(("small", 1, True), ("all", 8, True))},
                  "gpu-catalog")
    assert fits.status == "pass" and fits.found == "small: 1, all: 8"


def test_gpu_entries_without_the_gpu_operator_never_start(tmp_path: Path) -> None:
    eight_h100(tmp_path)
    result = _check(_facts(tmp_path), _catalog(("cpu", 0, True), ("gpu", 1, True)), "gpu-catalog")
    assert result.status == "warn" and result.found == "gpu asks for 1" and "GPU Operator is off" in result.hint


def test_mig_slices_are_not_counted_against_the_catalog(tmp_path: Path) -> None:
    """One A100 in MIG mode advertises its slices (maybe 7 x nvidia.com/gpu): the probe cannot count them."""
    a100_mig(tmp_path)
    profile = {"gpu_operator": {"enabled": True}, **_catalog(("seven", 7, True))}
    assert _check(_facts(tmp_path), profile, "gpu-catalog").status == "pass"
    # strategy none: the GPU is advertised whole, once
    none = {"gpu_operator": {"enabled": True, "mig_strategy": "none"}, **_catalog(("seven", 7, True))}
    assert _check(_facts(tmp_path), none, "gpu-catalog").status == "warn"


def test_a_small_bundle_is_said_in_its_own_unit(tmp_path: Path) -> None:
    """A demo-sized bundle reads "2.5 x 9.3 MiB of image files", not "2.5 x 0.0 GiB" (issue 13 point 10)."""
    disk = measure(tmp_path, shown_as="/var/snap/microk8s/common", role="containerd")
    result = checks.check_disk_containerd(disk, bundle_bytes=int(9.3 * (1 << 20)), headroom_gib=1)
    assert "2.5 x 9.3 MiB of image files" in result.required, result.required
    partly = checks.check_disk_containerd(disk, bundle_bytes=3 << 20, headroom_gib=1, imported_bytes=1 << 20)
    assert "2.5 x 2.0 MiB of image files (unpacked) not yet imported (1.0 MiB already are)" in partly.required


def test_ssh_keygen_is_checked_only_when_a_trust_file_is_configured(tmp_path: Path) -> None:
    """Issue 18: a trust file needs ssh-keygen on the server; without one nobody is asked for it."""
    import dataclasses

    no_gpu(tmp_path)
    facts = _facts(tmp_path)
    trusted = Profile.model_validate({"bundle": {"trust": str(tmp_path / "trusted-signers")}})
    assert "ssh-keygen" not in [r.id for r in run_checks(facts, Profile())]
    missing = dataclasses.replace(facts, system=dataclasses.replace(facts.system, ssh_keygen=False))
    assert "ssh-keygen" not in [r.id for r in run_checks(missing, Profile())]
    last = run_checks(missing, trusted)[-1]
    assert (last.id, last.status, last.found) == ("ssh-keygen", "fail", "not installed")
    assert "openssh-client" in last.hint
    present = dataclasses.replace(facts, system=dataclasses.replace(facts.system, ssh_keygen=True))
    assert run_checks(present, trusted)[-1].status == "pass"
