"""GPU probe: nvidia-smi (live or recorded), /proc/driver/nvidia, and the PCI tree."""

from __future__ import annotations

from pathlib import Path

from fakehost import (
    A100_DRIVER,
    H100_DRIVER,
    NVIDIA_SMI_T4_NO_MIG_COLUMN,
    FakeHost,
    NVIDIA_SMI_8xH100,
    a100_mig,
    base_host,
    eight_h100,
    gpus_without_driver,
    no_gpu,
)

from installer.engine.commands import RecordingRunner
from installer.probes.gpu import (
    SMI_FIELDS,
    SMI_FIELDS_NO_MIG,
    normalise_pci_address,
    parse_driver_version,
    parse_nvidia_smi_csv,
    probe_gpus,
)
from installer.probes.hostfs import HostFS

H100_ADDRESSES = ["0000:1b:00.0", "0000:43:00.0", "0000:52:00.0", "0000:61:00.0",
                  "0000:9d:00.0", "0000:c3:00.0", "0000:d1:00.0", "0000:df:00.0"]


def _probe(root: Path) -> tuple[list, str | None, RecordingRunner]:
    runner = RecordingRunner(strict=True)
    scan = probe_gpus(runner, HostFS(root))
    return list(scan.gpus), scan.host_driver, runner


def test_no_gpu_finds_nothing_and_no_driver(tmp_path: Path) -> None:
    no_gpu(tmp_path)
    gpus, driver, runner = _probe(tmp_path)
    assert gpus == []
    assert driver is None
    assert runner.calls == []  # a copied tree never runs commands


def test_eight_h100_from_recorded_nvidia_smi(tmp_path: Path) -> None:
    eight_h100(tmp_path)
    gpus, driver, runner = _probe(tmp_path)
    assert [g.pci_address for g in gpus] == H100_ADDRESSES  # 8-digit domain normalised, NVSwitches left out
    assert {g.name for g in gpus} == {"NVIDIA H100 80GB HBM3"}
    assert {g.memory_mib for g in gpus} == {81559}
    assert {g.driver_version for g in gpus} == {H100_DRIVER}
    assert {g.source for g in gpus} == {"nvidia-smi"}
    assert {g.pci_device_id for g in gpus} == {"2330"}  # merged in from sysfs
    assert {g.mig for g in gpus} == {"Disabled"}
    assert gpus[1].uuid == "GPU-bc5610b9-79c8-fedd-8899-07539c7f868a"
    assert driver == H100_DRIVER
    assert runner.calls == []


def test_eight_h100_with_driver_but_no_nvidia_smi_uses_procfs(tmp_path: Path) -> None:
    eight_h100(tmp_path, with_smi=False)
    gpus, driver, _ = _probe(tmp_path)
    assert [g.pci_address for g in gpus] == H100_ADDRESSES
    assert {g.source for g in gpus} == {"procfs"}
    assert {g.name for g in gpus} == {"NVIDIA H100 80GB HBM3"}
    assert gpus[0].uuid == "GPU-8c35f4c9-4dff-c9a2-866f-afb5d82e1dd7"
    assert {g.memory_mib for g in gpus} == {None}  # procfs does not tell memory
    assert {g.driver_version for g in gpus} == {H100_DRIVER}
    assert driver == H100_DRIVER


def test_a100_with_mig_on(tmp_path: Path) -> None:
    a100_mig(tmp_path)
    gpus, driver, _ = _probe(tmp_path)
    assert len(gpus) == 1
    gpu = gpus[0]
    assert (gpu.pci_address, gpu.name, gpu.memory_mib, gpu.mig) == (
        "0000:07:00.0", "NVIDIA A100-SXM4-80GB", 81920, "Enabled")
    assert gpu.pci_device_id == "20b2"
    assert driver == A100_DRIVER


def test_gpus_without_driver_come_from_pci_and_skip_nvswitch(tmp_path: Path) -> None:
    gpus_without_driver(tmp_path)
    gpus, driver, _ = _probe(tmp_path)
    assert [(g.pci_address, g.source, g.pci_device_id) for g in gpus] == [
        ("0000:19:00.0", "sysfs", "2330"), ("0000:3b:00.0", "sysfs", "2330")]
    assert gpus[0].name == "NVIDIA H100 SXM5 80GB"
    assert gpus[0].driver_version is None and gpus[0].uuid is None
    assert driver is None


def test_vga_class_counts_as_gpu_and_unknown_ids_are_named_from_pci_ids(tmp_path: Path) -> None:
    host = base_host(tmp_path).nvidia_gpu_pci("0000:01:00.0", "2684", pci_class="030000")
    host.pci_ids("# comment\n10de  NVIDIA Corporation\n\t2684  AD102 [GeForce RTX 4090]\n"
                 "\t\t10de 167c  RTX 4090 Founders\n10df  Emulex Corporation\n\t2684  Not this one\n")
    gpus, _, _ = _probe(tmp_path)
    assert [g.name for g in gpus] == ["NVIDIA AD102 [GeForce RTX 4090]"]


def test_unknown_id_without_pci_ids_still_names_the_device(tmp_path: Path) -> None:
    base_host(tmp_path).nvidia_gpu_pci("0000:01:00.0", "abcd")
    gpus, _, _ = _probe(tmp_path)
    assert [g.name for g in gpus] == ["NVIDIA GPU [10de:abcd]"]


def test_loaded_module_with_odd_version_line_still_counts_as_host_driver(tmp_path: Path) -> None:
    FakeHost(tmp_path).write("/proc/driver/nvidia/version", "something unexpected\n")
    _, driver, _ = _probe(tmp_path)
    assert driver == "unknown"


def test_live_host_asks_nvidia_smi_read_only() -> None:
    runner = RecordingRunner(strict=True)
    runner.answer(["nvidia-smi"], stdout=NVIDIA_SMI_8xH100)
    scan = probe_gpus(runner, HostFS(Path("/")))
    assert runner.calls[0] == ("nvidia-smi", f"--query-gpu={SMI_FIELDS}", "--format=csv,noheader,nounits")
    assert len([g for g in scan.gpus if g.source == "nvidia-smi"]) == 8
    assert scan.host_driver == H100_DRIVER


def test_live_host_retries_without_mig_field_on_old_driver() -> None:
    runner = RecordingRunner(strict=True)
    runner.answer(["nvidia-smi", f"--query-gpu={SMI_FIELDS}"], returncode=2,
                  stderr='Field "mig.mode.current" is not a valid field to query.')
    runner.answer(["nvidia-smi", f"--query-gpu={SMI_FIELDS_NO_MIG}"], stdout=NVIDIA_SMI_T4_NO_MIG_COLUMN)
    scan = probe_gpus(runner, HostFS(Path("/")))
    assert len(runner.calls) == 2
    t4 = [g for g in scan.gpus if g.source == "nvidia-smi"]
    assert [(g.name, g.pci_address, g.memory_mib, g.mig) for g in t4] == [("Tesla T4", "0000:3b:00.0", 15360, None)]


def test_live_host_with_failing_nvidia_smi_reports_no_smi_gpus() -> None:
    runner = RecordingRunner(strict=True)
    runner.answer(["nvidia-smi"], returncode=9, stdout="NVIDIA-SMI has failed because it couldn't communicate "
                                                       "with the NVIDIA driver.")
    scan = probe_gpus(runner, HostFS(Path("/")))
    assert not [g for g in scan.gpus if g.source == "nvidia-smi"]


def test_parse_csv_handles_not_available_fields_and_skips_garbage() -> None:
    gpus = parse_nvidia_smi_csv("0, NVIDIA L4, [N/A], [N/A], 550.54.15, 00000000:01:00.0, [N/A]\n"
                                "garbage line\n\n")
    assert len(gpus) == 1
    assert (gpus[0].uuid, gpus[0].memory_mib, gpus[0].mig) == (None, None, None)


def test_driver_version_from_proprietary_and_open_modules() -> None:
    assert parse_driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 "
                                "03:34:40 UTC 2023") == "535.129.03"
    assert parse_driver_version("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release "
                                "Build  (dvs-builder@U16)  Tue Jul  8 2025") == "580.65.06"
    assert parse_driver_version("NVRM version: NVIDIA UNIX aarch64 Kernel Module  550.54.15  Tue") == "550.54.15"
    assert parse_driver_version("") is None


def test_normalise_pci_address() -> None:
    assert normalise_pci_address("00000000:3B:00.0") == "0000:3b:00.0"
    assert normalise_pci_address("00000001:C3:00.0") == "0001:c3:00.0"
    assert normalise_pci_address("0000:19:00.0") == "0000:19:00.0"
    assert normalise_pci_address("3b:00.0") == "0000:3b:00.0"
