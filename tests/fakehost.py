"""Fake host trees (``/sys``, ``/proc``, ``/etc``...) and recorded command outputs for probe tests.

The layout mirrors a real machine, symlinks included (``/sys/class/infiniband/X``
and ``/sys/bus/pci/devices/X`` point into ``/sys/devices``), so the probes are
exercised the way they read a copied tree in a support case. Scenario builders at
the bottom are the cases issue 3 lists.
"""

from __future__ import annotations

import os
from pathlib import Path

GIB = 1 << 30

# Recorded `nvidia-smi --query-gpu=index,name,uuid,memory.total,driver_version,pci.bus_id,mig.mode.current
# --format=csv,noheader,nounits` output: eight H100 SXM5 in a DGX-style layout (UUIDs illustrative).
H100_BUSES = ("1B", "43", "52", "61", "9D", "C3", "D1", "DF")
H100_UUIDS = (
    "GPU-8c35f4c9-4dff-c9a2-866f-afb5d82e1dd7", "GPU-bc5610b9-79c8-fedd-8899-07539c7f868a",
    "GPU-2f9a5a1e-3c1d-4b7e-9a0f-1d2e3f4a5b6c", "GPU-3a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "GPU-4b9c8d7e-6f5a-4b4c-9d3e-2f1a0b9c8d7e", "GPU-5cad9e8f-7a6b-4c5d-ae4f-3a2b1c0dad9e",
    "GPU-6dbeaf9a-8b7c-4d6e-bf5a-4b3c2d1ebeaf", "GPU-7ecfba0b-9c8d-4e7f-ca6b-5c4d3e2fcfba",
)
H100_DRIVER = "550.54.15"
NVIDIA_SMI_8xH100 = "".join(
    f"{i}, NVIDIA H100 80GB HBM3, {uuid}, 81559, {H100_DRIVER}, 00000000:{bus}:00.0, Disabled\n"
    for i, (bus, uuid) in enumerate(zip(H100_BUSES, H100_UUIDS))
)
A100_DRIVER = "535.104.05"
NVIDIA_SMI_A100_MIG = (
    f"0, NVIDIA A100-SXM4-80GB, GPU-89fdc1e1-18b2-f499-c12b-82bcb9bfb3fa, 81920, {A100_DRIVER}, "
    "00000000:07:00.0, Enabled\n"
)
# An old driver that rejects mig.mode.current: the six-column form.
NVIDIA_SMI_T4_NO_MIG_COLUMN = ("0, Tesla T4, GPU-1d2c3b4a-0000-1111-2222-333344445555, 15360, 470.82.01, "
                               "00000000:3B:00.0\n")

VERSION_PROPRIETARY = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  {v}  Thu Oct 19 03:34:40 UTC 2023\n"
                       "GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n")
VERSION_OPEN = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {v}  Release Build  "
                "(dvs-builder@U16-I3-B03-4-3)  Tue Jul  8 19:08:51 UTC 2025\n"
                "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n")

INFORMATION = """Model: \t\t {model}
IRQ:   \t\t 172
GPU UUID: \t {uuid}
Video BIOS: \t 96.00.89.00.01
Bus Type: \t PCIe
DMA Size: \t 52 bits
DMA Mask: \t 0xfffffffffffff
Bus Location: \t {address}
Device Minor: \t {minor}
GPU Excluded:\t No
"""

PROC_NET_TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
                       "inode\n")
PROC_NET_TCP6_HEADER = ("  sl  local_address                         remote_address                        st "
                        "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")


class FakeHost:
    """Builds a host tree under ``root``; every method returns ``self`` so calls chain."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._minor = 0

    # --- primitives ---------------------------------------------------------------------

    def path(self, host_path: str) -> Path:
        """``host_path`` inside the tree."""
        return self.root / host_path.lstrip("/")

    def write(self, host_path: str, content: str) -> FakeHost:
        """Write a file (parents created)."""
        path = self.path(host_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        return self

    def symlink(self, host_path: str, target: str) -> FakeHost:
        """``host_path -> target`` (target kept verbatim, relative like sysfs)."""
        path = self.path(host_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
        return self

    def mkdir(self, host_path: str) -> FakeHost:
        """An empty folder."""
        self.path(host_path).mkdir(parents=True, exist_ok=True)
        return self

    # --- system -------------------------------------------------------------------------

    def os_release(self, os_id: str = "ubuntu", version: str = "22.04", pretty: str | None = None) -> FakeHost:
        """``/etc/os-release``."""
        pretty = pretty or f"{os_id.capitalize()} {version} LTS"
        return self.write("/etc/os-release", f'PRETTY_NAME="{pretty}"\nNAME="{os_id.capitalize()}"\n'
                                             f'VERSION_ID="{version}"\nID={os_id}\nID_LIKE=debian\n')

    def kernel(self, release: str = "5.15.0-91-generic", arch: str = "x86_64") -> FakeHost:
        """``/proc/sys/kernel/{osrelease,arch}``."""
        return self.write("/proc/sys/kernel/osrelease", release + "\n").write("/proc/sys/kernel/arch", arch + "\n")

    def cpus(self, count: int) -> FakeHost:
        """``/sys/devices/system/cpu/online``."""
        return self.write("/sys/devices/system/cpu/online", f"0-{count - 1}\n" if count > 1 else "0\n")

    def memory(self, n_bytes: int) -> FakeHost:
        """``/proc/meminfo``."""
        kib = n_bytes // 1024
        return self.write("/proc/meminfo", f"MemTotal:       {kib} kB\nMemFree:        {kib // 2} kB\n"
                                           f"MemAvailable:   {kib // 2} kB\n")

    def routes(self, default: bool = True) -> FakeHost:
        """``/proc/net/route`` with or without a default route (IPv6 without one)."""
        lines = ["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"]
        if default:
            lines.append("eno1\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0")
        lines.append("eno1\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0")
        v6 = ("00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
              "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
              "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
              "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eno1\n")
        return self.write("/proc/net/route", "\n".join(lines) + "\n").write("/proc/net/ipv6_route", v6)

    def ipv6_default_route(self) -> FakeHost:
        """A default route over IPv6 only."""
        v6 = ("00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
              "fe800000000000000000000000000001 00000400 00000001 00000000 00000003     eno1\n")
        return self.write("/proc/net/ipv6_route", v6)

    def listening(self, *ports: int, v6: tuple[int, ...] = ()) -> FakeHost:
        """``/proc/net/tcp{,6}`` with these ports in LISTEN (plus one established connection)."""
        rows = [f"   {i}: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 "
                f"{1000 + i} 1 0000000000000000 100 0 0 10 0" for i, port in enumerate(ports)]
        rows.append(f"   {len(rows)}: 0100007F:E151 0100007F:0CEA 01 00000000:00000000 00:00000000 00000000     0"
                    "        0 0 3 0000000000000000")
        rows6 = [f"   {i}: 00000000000000000000000000000000:{port:04X} 00000000000000000000000000000000:0000 0A "
                 "00000000:00000000 00:00000000 00000000     0        0 2000 1 0000000000000000 100 0 0 10 0"
                 for i, port in enumerate(v6)]
        return (self.write("/proc/net/tcp", PROC_NET_TCP_HEADER + "\n".join(rows) + "\n")
                .write("/proc/net/tcp6", PROC_NET_TCP6_HEADER + "\n".join(rows6) + ("\n" if rows6 else "")))

    def snapd(self) -> FakeHost:
        """The snap command."""
        return self.write("/usr/bin/snap", "")

    def microk8s(self, version: str = "v1.32.3", revision: str = "7964") -> FakeHost:
        """An installed microk8s snap (``/snap/microk8s/current -> <rev>``)."""
        self.write(f"/snap/microk8s/{revision}/meta/snap.yaml",
                   f"name: microk8s\nversion: {version}\nconfinement: classic\nbase: core20\n")
        self.symlink("/snap/microk8s/current", revision)
        self.mkdir(f"/var/snap/microk8s/{revision}")
        return self.symlink("/var/snap/microk8s/current", revision)

    def docker(self) -> FakeHost:
        """The docker CLI and daemon."""
        return self.write("/usr/bin/docker", "").write("/usr/bin/dockerd", "")

    def host_containerd(self, path: str = "/usr/bin/containerd", *, merged_usr: bool = True) -> FakeHost:
        """A ``containerd`` program on the PATH (docker.io, containerd.io); ``/bin -> usr/bin`` like Ubuntu."""
        if merged_usr and not self.path("/bin").exists():
            self.symlink("/bin", "usr/bin")
        return self.write(path, "#!/bin/sh\n")

    def kubelet_dir(self, real: bool = True) -> FakeHost:
        """``/var/lib/kubelet`` as a real folder, or as MicroK8s's symlink."""
        if real:
            return self.mkdir("/var/lib/kubelet/pods")
        self.mkdir("/var/snap/microk8s/common/var/lib/kubelet")
        return self.symlink("/var/lib/kubelet", "../../snap/microk8s/common/var/lib/kubelet")

    # --- PCI and NVIDIA -----------------------------------------------------------------

    def pci_device(self, address: str, vendor: str, device: str, pci_class: str, driver: str | None = None) -> str:
        """A PCI function under ``/sys/devices`` linked from ``/sys/bus/pci/devices``; returns its sysfs path."""
        real = f"/sys/devices/pci0000:00/{address}"
        self.write(f"{real}/vendor", f"0x{vendor}\n").write(f"{real}/device", f"0x{device}\n")
        self.write(f"{real}/class", f"0x{pci_class}\n")
        if driver:
            self.mkdir(f"/sys/bus/pci/drivers/{driver}")
            self.symlink(f"{real}/driver", f"../../../bus/pci/drivers/{driver}")
        self.symlink(f"/sys/bus/pci/devices/{address}", f"../../../devices/pci0000:00/{address}")
        return real

    def nvidia_gpu_pci(self, address: str, device_id: str = "2330", pci_class: str = "030200",
                       driver: str | None = None) -> FakeHost:
        """An NVIDIA GPU on the PCI bus (3D controller by default)."""
        self.pci_device(address, "10de", device_id, pci_class, driver)
        return self

    def nvswitch(self, address: str) -> FakeHost:
        """An NVSwitch: NVIDIA vendor, bridge class 0x0680; not a GPU."""
        self.pci_device(address, "10de", "22a3", "068000")
        return self

    def nvidia_driver(self, version: str, open_module: bool = False) -> FakeHost:
        """``/proc/driver/nvidia/version`` (the kernel module is loaded)."""
        template = VERSION_OPEN if open_module else VERSION_PROPRIETARY
        return self.write("/proc/driver/nvidia/version", template.format(v=version))

    def nvidia_peermem(self) -> FakeHost:
        """The driver's GPUDirect RDMA module loaded (``/sys/module/nvidia_peermem``)."""
        return self.write("/sys/module/nvidia_peermem/refcnt", "0\n")

    def nvidia_procfs_gpu(self, address: str, model: str, uuid: str) -> FakeHost:
        """``/proc/driver/nvidia/gpus/<address>/information``."""
        self._minor += 1
        return self.write(f"/proc/driver/nvidia/gpus/{address}/information",
                          INFORMATION.format(model=model, uuid=uuid, address=address, minor=self._minor - 1))

    def nvidia_smi(self, csv: str) -> FakeHost:
        """A recorded nvidia-smi output for the probes to read (``.installer/nvidia-smi.csv``)."""
        return self.write("/.installer/nvidia-smi.csv", csv)

    def pci_ids(self, text: str) -> FakeHost:
        """``/usr/share/misc/pci.ids``."""
        return self.write("/usr/share/misc/pci.ids", text)

    # --- InfiniBand / RoCE ----------------------------------------------------------------

    def ib_device(self, name: str, address: str, ports: list[dict[str, str]], *, device_id: str = "1021",
                  vendor: str = "15b3", driver: str = "mlx5_core", netdevs: dict[str, int | None] | None = None,
                  ) -> FakeHost:
        """An RDMA device with ``ports`` (dicts of state/phys_state/rate/link_layer) and its netdevs.

        ``netdevs`` maps interface name -> ``dev_port`` (0-based) or None for no dev_port file.
        """
        real = self.pci_device(address, vendor, device_id, "020700", driver)
        ib = f"{real}/infiniband/{name}"
        self.symlink(f"{ib}/device", "../../../" + address)
        for number, port in enumerate(ports, start=1):
            for key in ("state", "phys_state", "rate", "link_layer"):
                self.write(f"{ib}/ports/{number}/{key}", port[key] + "\n")
        for ifname, dev_port in (netdevs or {}).items():
            self.mkdir(f"{real}/net/{ifname}")
            if dev_port is not None:
                self.write(f"{real}/net/{ifname}/dev_port", f"{dev_port}\n")
        return self.symlink(f"/sys/class/infiniband/{name}", f"../../devices/pci0000:00/{address}/infiniband/{name}")


IB_ACTIVE_NDR = {"state": "4: ACTIVE", "phys_state": "5: LinkUp", "rate": "400 Gb/sec (4X NDR)",
                 "link_layer": "InfiniBand"}
IB_DOWN = {"state": "1: DOWN", "phys_state": "2: Polling", "rate": "10 Gb/sec (4X SDR)", "link_layer": "InfiniBand"}
ROCE_ACTIVE = {"state": "4: ACTIVE", "phys_state": "5: LinkUp", "rate": "100 Gb/sec (2X HDR)",
               "link_layer": "Ethernet"}


# --- scenarios ---------------------------------------------------------------------------


def base_host(root: Path, *, memory: int = 512 * GIB, cpus: int = 64) -> FakeHost:
    """A healthy Ubuntu 22.04 server with snapd, a default route, nothing listening, no GPU, no IB."""
    return (FakeHost(root).os_release().kernel().cpus(cpus).memory(memory).routes().listening(22)
            .snapd())


def no_gpu(root: Path) -> FakeHost:
    """A CPU-only server (a network card on the PCI bus, nothing NVIDIA)."""
    host = base_host(root)
    host.pci_device("0000:00:1f.6", "8086", "15fa", "020000", "e1000e")
    return host


def eight_h100(root: Path, *, with_smi: bool = True) -> FakeHost:
    """A DGX-style H100 node: eight GPUs with driver 550.54.15, four NVSwitches."""
    host = base_host(root).nvidia_driver(H100_DRIVER)
    for bus, uuid in zip(H100_BUSES, H100_UUIDS):
        address = f"0000:{bus.lower()}:00.0"
        host.nvidia_gpu_pci(address, "2330", driver="nvidia")
        host.nvidia_procfs_gpu(address, "NVIDIA H100 80GB HBM3", uuid)
    for bus in ("05", "06", "07", "08"):
        host.nvswitch(f"0000:{bus}:00.0")
    if with_smi:
        host.nvidia_smi(NVIDIA_SMI_8xH100)
    return host


def a100_mig(root: Path) -> FakeHost:
    """One A100 SXM4 80GB with MIG enabled and the open kernel module."""
    host = base_host(root).nvidia_driver(A100_DRIVER, open_module=True)
    host.nvidia_gpu_pci("0000:07:00.0", "20b2", driver="nvidia")
    host.nvidia_procfs_gpu("0000:07:00.0", "NVIDIA A100-SXM4-80GB", "GPU-89fdc1e1-18b2-f499-c12b-82bcb9bfb3fa")
    return host.nvidia_smi(NVIDIA_SMI_A100_MIG)


def gpus_without_driver(root: Path) -> FakeHost:
    """Two H100s on the PCI bus with no driver at all, beside an NVSwitch (and the GPUs' audio-less peers)."""
    host = base_host(root)
    host.nvidia_gpu_pci("0000:19:00.0", "2330").nvidia_gpu_pci("0000:3b:00.0", "2330")
    return host.nvswitch("0000:05:00.0")


def two_ib_ports(root: Path) -> FakeHost:
    """ConnectX-7 pair: mlx5_0 ACTIVE at 400 Gb/s (ib0), mlx5_1 DOWN/Polling (ib1)."""
    host = base_host(root)
    host.ib_device("mlx5_0", "0000:1a:00.0", [IB_ACTIVE_NDR], netdevs={"ib0": 0})
    return host.ib_device("mlx5_1", "0000:1a:00.1", [IB_DOWN], netdevs={"ib1": 0})


def roce_port(root: Path) -> FakeHost:
    """A ConnectX-6 Dx port running RoCE (Ethernet link layer) on ens1f0np0."""
    host = base_host(root)
    return host.ib_device("mlx5_0", "0000:3b:00.0", [ROCE_ACTIVE], device_id="101d",
                          netdevs={"ens1f0np0": 0})


def gpu_and_infiniband(root: Path) -> FakeHost:
    """Eight H100s and the two InfiniBand ports: the full GPU node."""
    eight_h100(root)
    host = FakeHost(root)
    host.ib_device("mlx5_0", "0000:1a:00.0", [IB_ACTIVE_NDR], netdevs={"ib0": 0})
    return host.ib_device("mlx5_1", "0000:1a:00.1", [IB_DOWN], netdevs={"ib1": 0})
