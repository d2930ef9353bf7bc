"""The twin's configuration, its state file, time, and the MicroK8s files it lays out on the fake host.

``$MICROK8S_TWIN_STATE/config.json`` says where things are (fake host root, the real
containerd socket, the helm binary, the time scale); ``state.json`` is the cluster
(snaps, API restarts, Kubernetes objects, Helm releases). Every change is a
read-modify-write under an exclusive lock, written atomically, so a twin process
killed with the installer never leaves a torn file, as a real cluster would not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_ENV = "MICROK8S_TWIN_STATE"

SNAP = "/snap/microk8s/current"
SNAP_DATA = "/var/snap/microk8s/current"
SNAP_COMMON = "/var/snap/microk8s/common"
TEMPLATE = f"{SNAP_DATA}/args/containerd-template.toml"
CONTAINERD_ENV = f"{SNAP_DATA}/args/containerd-env"
KUBELET_ARGS = f"{SNAP_DATA}/args/kubelet"

# Per channel: (calico, pause, coredns). microk8s@<channel> build-scripts/images.txt, the
# containerd-template.toml sandbox_image, core-addons@<channel> addons/dns/coredns.yaml.
CHANNEL_IMAGES: dict[str, tuple[str, str, str]] = {
    "1.30": ("v3.25.1", "3.7", "1.10.1"),
    "1.31": ("v3.25.1", "3.7", "1.10.1"),
    "1.32": ("v3.28.1", "3.10", "1.10.1"),
    "1.33": ("v3.29.3", "3.10", "1.12.1"),
}


@dataclass(frozen=True)
class Config:
    """Where the twin's world is (written by the test fixture or the demo)."""

    state_dir: Path
    host_root: Path
    containerd_socket: Path
    namespace: str = "k8s.io"
    helm: str = ""
    """The real helm binary that renders charts (given by the caller); empty: charts without directives only."""
    time_scale: float = 0.01
    """Multiplies every wait the twin does (2 s polls, --timeout N, restarts), so tests stay fast."""
    channel: str = "1.32"
    node_name: str = "twin-node"
    node_ip: str = "10.0.0.5"
    interface: str = "eno1"
    fs_type: str = "ext4"
    """Filesystem of /var/snap/microk8s/common (``zfs`` makes MicroK8s use the native snapshotter)."""
    peers: str = ""
    """A JSON file ``{ip: state folder}`` of the nodes a ``microk8s join`` can reach (see :mod:`.nodes`)."""
    helm_delay: float = 0.0
    """Seconds (unscaled) ``helm upgrade`` stays pending before it applies: lets a test kill it there."""

    @classmethod
    def load(cls) -> Config:
        """The config named by ``$MICROK8S_TWIN_STATE``."""
        state_dir = os.environ.get(STATE_ENV)
        if not state_dir:
            raise SystemExit(f"twin: {STATE_ENV} is not set (the `twin` test fixture and the demo set it)")
        data = json.loads((Path(state_dir) / "config.json").read_text())
        data["state_dir"] = state_dir
        for key in ("state_dir", "host_root", "containerd_socket"):
            data[key] = Path(data[key])
        return cls(**data)

    def save(self) -> None:
        """Write config.json into the state folder."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items() if k != "state_dir"}
        (self.state_dir / "config.json").write_text(json.dumps(data, indent=1))

    def host(self, path: str) -> Path:
        """``path`` on the fake host."""
        return self.host_root / path.lstrip("/")

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of twin time."""
        time.sleep(seconds * self.time_scale)

    def images(self) -> tuple[str, str, str]:
        """``(calico cni, pause, coredns)`` refs for the channel."""
        calico, pause, coredns = CHANNEL_IMAGES[self.channel]
        return (f"docker.io/calico/cni:{calico}", f"registry.k8s.io/pause:{pause}",
                f"docker.io/coredns/coredns:{coredns}")


def fresh_state() -> dict[str, Any]:
    """A host without MicroK8s."""
    return {"snaps": {}, "acked": [], "api_down_until": 0.0, "launched": False, "objects": {}, "releases": {},
            "toolkit_applied": False, "containerd_memlock": None}


def start_containerd(config: Config, state: dict[str, Any]) -> None:
    """MicroK8s's containerd (re)starts: microk8s@1.32 microk8s-resources/wrappers/run-containerd-with-args
    sources ``args/containerd-env`` first, so its ``ulimit -l`` is what every container inherits from then on."""
    import re

    try:
        text = config.host(CONTAINERD_ENV).read_text()
    except OSError:
        text = ""
    limits = re.findall(r"^\s*ulimit\s+-l\s+(\S+)", text, re.MULTILINE)
    state["containerd_memlock"] = limits[-1] if limits else "8192"
    # A new process: its /proc/<pid>/limits on the fake host, in the kernel's format (linux
    # fs/proc/base.c proc_pid_limits: "%-25s %-20s %-20s %-10s", locked memory in bytes).
    pid = int(state.get("containerd_pid") or 4000) + 1
    state["containerd_pid"] = pid
    kib = state["containerd_memlock"]
    value = kib if not kib.isdigit() else str(int(kib) * 1024)
    limits_file = config.host(f"/proc/{pid}/limits")
    limits_file.parent.mkdir(parents=True, exist_ok=True)
    limits_file.write_text(f"{'Limit':<25} {'Soft Limit':<20} {'Hard Limit':<20} {'Units':<10}\n"
                           f"{'Max open files':<25} {'65536':<20} {'65536':<20} {'files':<10}\n"
                           f"{'Max locked memory':<25} {value:<20} {value:<20} {'bytes':<10}\n")


class Store:
    """The state file, locked for each read-modify-write."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.path = config.state_dir / "state.json"

    def read(self) -> dict[str, Any]:
        """The current state (a fresh host when there is none yet)."""
        try:
            return json.loads(self.path.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return fresh_state()

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """Lock, yield the state for changes, write it back atomically."""
        with (self.config.state_dir / "lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read()
            yield state
            fd, tmp = tempfile.mkstemp(dir=self.config.state_dir, prefix=".state.")
            with os.fdopen(fd, "w") as handle:
                json.dump(state, handle, indent=1, sort_keys=True)
            os.replace(tmp, self.path)


# --- what `snap install microk8s` lays out (upstream defaults) ------------------------------------

def template_text(pause: str) -> str:
    """The parts of microk8s@1.32 microk8s-resources/default-args/containerd-template.toml the twin reads.

    Kept to the keys that matter here: the sandbox image, the snapshotter placeholder,
    and the CNI folders that only calico's install-cni fills (the install hook empties
    args/cni-network). The toolkit rewriting this file is what gpu-operator#1367 is about.
    """
    return f"""# Use config version 2 to enable new configuration fields.
version = 2
oom_score = 0

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${{SNAPSHOTTER}}"
    default_runtime_name = "${{RUNTIME}}"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "${{RUNTIME_TYPE}}"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${{SNAP_DATA}}/opt/cni/bin"
    conf_dir = "${{SNAP_DATA}}/args/cni-network"

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${{SNAP_DATA}}/args/certs.d"
"""


# microk8s@1.32 microk8s-resources/default-args/containerd-env (comments shortened): the limits
# set here "get inherited to the running containers".
CONTAINERD_ENV_TEXT = """# Remember to restart MicroK8s after editing this file:
#
# sudo microk8s stop; sudo microk8s start
#
PATH=$PATH:$KATA_PATH

# Attempt to change the maximum number of open file descriptors
# this get inherited to the running containers
#
ulimit -n 65536 || true

# Attempt to change the maximum locked memory limit
# this get inherited to the running containers
#
ulimit -l 16384 || true
"""

# microk8s@1.32 microk8s-resources/microk8s.default.yaml: the launch configuration adds these
# kubelet arguments and enables dns at first start.
KUBELET_ARGS_TEXT = """--kubeconfig=${SNAP_DATA}/credentials/kubelet.config
--cert-dir=${SNAP_DATA}/certs
--node-labels="microk8s.io/cluster=true"
--cluster-domain=cluster.local
--cluster-dns=10.152.183.10
"""


def write_host_file(config: Config, path: str, text: str, *, exist_ok: bool = True) -> None:
    """Write ``text`` at ``path`` on the fake host (kept as is when it exists and ``exist_ok``)."""
    target = config.host(path)
    if exist_ok and target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def lay_out_microk8s(config: Config, revision: str) -> None:
    """The files ``snap install microk8s`` and its install hook leave on the host."""
    _, pause, _ = config.images()
    write_host_file(config, f"/snap/microk8s/{revision}/meta/snap.yaml",
                    f"name: microk8s\nversion: v{config.channel}.0\nconfinement: classic\nbase: core20\n")
    for link, target in ((SNAP, revision), (SNAP_DATA, revision)):
        path = config.host(link)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_symlink():
            path.symlink_to(target)
    config.host(f"/var/snap/microk8s/{revision}/args/cni-network").mkdir(parents=True, exist_ok=True)
    write_host_file(config, TEMPLATE, template_text(pause))
    write_host_file(config, CONTAINERD_ENV, CONTAINERD_ENV_TEXT)
    write_host_file(config, KUBELET_ARGS, KUBELET_ARGS_TEXT)
    write_host_file(config, f"{SNAP_DATA}/args/ctr", "--address=${SNAP_COMMON}/run/containerd.sock\n"
                                                       "--namespace k8s.io\n")
    config.host(f"{SNAP_COMMON}/var/lib/kubelet").mkdir(parents=True, exist_ok=True)
    # microk8s@1.32 snap/hooks/install: /var/lib/kubelet becomes a link to MicroK8s's kubelet
    # folder only when it does not exist yet (a leftover folder is kept as is).
    kubelet = config.host("/var/lib/kubelet")
    if not kubelet.exists() and not kubelet.is_symlink():
        kubelet.parent.mkdir(parents=True, exist_ok=True)
        kubelet.symlink_to(f"{SNAP_COMMON}/var/lib/kubelet")
