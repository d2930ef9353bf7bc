"""The operating system, MicroK8s, Docker and network basics.

Everything is read from files under the host root so a copied tree answers the
same questions; the only command is ``microk8s status`` on the live host, and
only when MicroK8s is installed (it answers in about a second).
"""

from __future__ import annotations

import os
import platform
from typing import Final

from installer.engine.commands import CommandRunner
from installer.probes.hostfs import HostFS
from installer.probes.model import SystemInfo

MICROK8S_SNAP: Final = "/snap/microk8s/current"
MICROK8S_STATUS_TIMEOUT: Final = 30.0
DOCKER_PATHS: Final = ("/usr/bin/docker", "/usr/local/bin/docker", "/usr/bin/dockerd", "/usr/sbin/dockerd",
                       "/snap/docker/current")
SNAPD_PATHS: Final = ("/usr/bin/snap", "/usr/lib/snapd/snapd")
PATH_DIRS: Final = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
"""Where ``chroot /host containerd`` finds a program: the usual PATH of a container image."""
_TCP_LISTEN: Final = "0A"


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY="value"`` lines of os-release, unquoted."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip("\"'")
    return values


def parse_meminfo_total(text: str) -> int:
    """``MemTotal:  16303684 kB`` -> bytes; 0 when absent."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                unit = parts[2].lower() if len(parts) > 2 else "kb"
                return int(parts[1]) * (1024 if unit == "kb" else 1)
    return 0


def parse_cpu_list(text: str) -> int:
    """``0-63`` or ``0,2-5`` (``/sys/devices/system/cpu/online``) -> the count."""
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            count += int(high or low) - int(low) + 1
        except ValueError:
            return 0
    return count


def has_default_route(route_v4: str | None, route_v6: str | None) -> bool:
    """A default route in ``/proc/net/route`` (dest and mask 0) or ``/proc/net/ipv6_route`` (::/0)."""
    for line in (route_v4 or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            return True
    for line in (route_v6 or "").splitlines():
        fields = line.split()
        # dest, prefix, ..., device; skip the loopback "lo" entries of unreachable routes
        if len(fields) >= 10 and fields[0] == "0" * 32 and fields[1] == "00" and fields[9] != "lo":
            return True
    return False


def parse_listening_ports(*tables: str | None) -> tuple[int, ...]:
    """Local ports in LISTEN state from ``/proc/net/tcp`` and ``/proc/net/tcp6``."""
    ports: set[int] = set()
    for table in tables:
        for line in (table or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 4 and fields[3] == _TCP_LISTEN:
                _, _, port = fields[1].rpartition(":")
                try:
                    ports.add(int(port, 16))
                except ValueError:
                    continue
    return tuple(sorted(ports))


def host_containerd(fs: HostFS) -> tuple[str, ...]:
    """``containerd`` programs on the host's PATH (docker.io, containerd.io, containerd packages).

    MicroK8s's own containerd lives in its snap and is not on the PATH. A host one is what
    the NVIDIA toolkit would ask for its config (gpu-operator#1367). ``/bin`` and ``/sbin``
    are often links to ``/usr``: each program is named once.
    """
    found: dict[str, str] = {}
    for folder in PATH_DIRS:
        path = fs.path(f"{folder}/containerd")
        if path.is_file():
            found.setdefault(str(path.resolve()), f"{folder}/containerd")
    return tuple(found.values())


def _snap_version(fs: HostFS) -> str | None:
    """``version:`` from the installed microk8s snap's ``meta/snap.yaml`` (no command needed)."""
    text = fs.read(f"{MICROK8S_SNAP}/meta/snap.yaml") or ""
    for line in text.splitlines():
        if line.startswith("version:"):
            return line.partition(":")[2].strip().strip("\"'") or None
    return None


def microk8s_ready(runner: CommandRunner) -> bool | None:
    """Whether ``microk8s status`` says it runs; None if the command cannot be run."""
    if runner.which("microk8s") is None:
        return None
    result = runner.run(["microk8s", "status"], timeout=MICROK8S_STATUS_TIMEOUT, check=False, mutates=False)
    first = (result.stdout.strip().splitlines() or [""])[0]
    return result.ok and "is running" in first and "not running" not in first


def _kernel_and_arch(fs: HostFS) -> tuple[str, str]:
    kernel = fs.read("/proc/sys/kernel/osrelease")
    arch = fs.read("/proc/sys/kernel/arch")  # Linux >= 5.12 has it
    if fs.live:
        return kernel or platform.release(), arch or platform.machine()
    return kernel or "unknown", arch or "unknown"


def _cpu_count(fs: HostFS) -> int:
    count = parse_cpu_list(fs.read("/sys/devices/system/cpu/online") or "")
    if count:
        return count
    cpuinfo = fs.read("/proc/cpuinfo") or ""
    count = sum(1 for line in cpuinfo.splitlines() if line.startswith("processor"))
    return count or ((os.cpu_count() or 0) if fs.live else 0)


def probe_system(runner: CommandRunner, fs: HostFS) -> SystemInfo:
    """The system facts. ``is_root`` is this process's own (it is who would install)."""
    release = parse_os_release(fs.read("/etc/os-release") or fs.read("/usr/lib/os-release") or "")
    kernel, arch = _kernel_and_arch(fs)
    installed = fs.exists(MICROK8S_SNAP) or fs.exists("/var/snap/microk8s/current")
    kubelet = fs.path("/var/lib/kubelet")
    return SystemInfo(
        os_id=release.get("ID", "unknown"),
        os_version=release.get("VERSION_ID", ""),
        os_pretty=release.get("PRETTY_NAME", ""),
        kernel=kernel,
        arch=arch,
        cpu_count=_cpu_count(fs),
        memory_bytes=parse_meminfo_total(fs.read("/proc/meminfo") or ""),
        is_root=os.geteuid() == 0,
        snapd=fs.any_exists(*SNAPD_PATHS),
        microk8s_installed=installed,
        microk8s_version=_snap_version(fs) if installed else None,
        microk8s_ready=microk8s_ready(runner) if installed and fs.live else None,
        docker_installed=fs.any_exists(*DOCKER_PATHS),
        host_containerd=host_containerd(fs),
        default_route=has_default_route(fs.read("/proc/net/route"), fs.read("/proc/net/ipv6_route")),
        kubelet_dir_is_real_folder=kubelet.is_dir() and not kubelet.is_symlink(),
        busy_ports=parse_listening_ports(fs.read("/proc/net/tcp"), fs.read("/proc/net/tcp6")),
        ssh_keygen=(runner.which("ssh-keygen") is not None) if fs.live else None,
    )
