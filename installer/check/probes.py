"""Looks inside a running user pod, through ``microk8s kubectl exec`` (argv lists, timeouts, read-only).

What each catalog entry promises is checked against what the pod has: the notebook user
(uid 1000, z2jh ``singleuser.uid``), a writable home (the PVC is mounted), the GPUs asked
for (``nvidia-smi -L``, one line per GPU), for RDMA entries the uverbs devices and an
unlimited locked-memory limit (NCCL pins memory), and the ``/dev/shm`` size.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from installer.check.hub_api import HubClient
from installer.check.run import Probe, ProbeResult
from installer.components.jupyterhub.settings import NotebookImage
from installer.components.kube import parse_quantity
from installer.engine.commands import CommandResult, CommandRunner

EXEC_TIMEOUT: Final = 30.0
NOTEBOOK_UID: Final = "1000"
HOME: Final = "/home/jovyan"
DEFAULT_SHM_KIB: Final = 65536
"""The container runtime's /dev/shm when nothing is mounted there (64 MiB)."""


def pod_exec(runner: CommandRunner, namespace: str, pod: str, command: Sequence[str]) -> CommandResult:
    """``microk8s kubectl exec -n NS POD -- CMD...``; a non-zero exit is an answer, not a failure."""
    return runner.run(["microk8s", "kubectl", "exec", "-n", namespace, pod, "--", *command],
                      timeout=EXEC_TIMEOUT, check=False, mutates=False)


def _ended(done: CommandResult) -> str:
    if done.returncode is None:
        return f"no answer in {EXEC_TIMEOUT:.0f} s"
    return (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]


def make_probe(client: HubClient, runner: CommandRunner, images: dict[str, NotebookImage], namespace: str) -> Probe:
    """The looks inside each entry's pod, found through the hub's record of its spawner (KubeSpawner state;
    ``namespace``, the profile's, only when the state names none)."""

    def probe(entry: str, user: str, server: str) -> list[ProbeResult]:
        state = client.server(user, server).state or {}
        pod, where = state.get("pod_name"), state.get("namespace") or namespace
        if not isinstance(pod, str) or not pod:
            return [ProbeResult("pod", False, "the hub names no pod for this server",
                                "the hub's spawner is not KubeSpawner, or the service lacks admin:server_state "
                                "(part of admin:servers); use --no-probes to skip the looks inside")]
        return probe_pod(runner, str(where), pod, images[entry])

    return probe


def probe_pod(runner: CommandRunner, namespace: str, pod: str, image: NotebookImage) -> list[ProbeResult]:
    """Every probe that applies to ``image``, in a fixed order."""
    results = [_server(runner, namespace, pod), _uid(runner, namespace, pod), _home(runner, namespace, pod)]
    sliced = image.gpu_memory is not None or image.gpu_cores is not None  # a slice of one GPU at least
    gpus = max(image.gpus, 1) if sliced else image.gpus  # as components/gpu_sharing/values.py entry_limits asks
    if gpus:
        results.append(_gpus(runner, namespace, pod, gpus))
    if image.rdma:
        results += [_infiniband(runner, namespace, pod), _active_port(runner, namespace, pod),
                    _memlock(runner, namespace, pod)]
    results.append(_shm(runner, namespace, pod, image.shm_size))
    return results


SERVER_SCRIPT: Final = (
    "import os, urllib.parse, urllib.request\n"
    "u = urllib.parse.urlsplit(os.environ['JUPYTERHUB_SERVICE_URL'])\n"
    "r = urllib.request.urlopen(f'http://127.0.0.1:{u.port}{u.path}api', timeout=20)\n"
    "print(r.status, u.path + 'api')\n")
"""Asks the notebook server on its own prefix, from inside the pod. JupyterHub gives every server
``JUPYTERHUB_SERVICE_URL`` (``http://0.0.0.0:8888/user/<name>/<server>/`` with KubeSpawner's ip and port;
jupyterhub 5 ``spawner.py`` ``get_env``); the Jupyter server answers ``GET <prefix>api`` without a token."""


def _server(runner: CommandRunner, namespace: str, pod: str) -> ProbeResult:
    done = pod_exec(runner, namespace, pod, ["python3", "-c", SERVER_SCRIPT])
    fields = done.stdout.split() if done.ok else []
    ok = len(fields) == 2 and fields[0] == "200"
    found = f"GET {fields[1]}: HTTP {fields[0]}" if len(fields) == 2 else _ended(done)
    return ProbeResult("server", ok, found, "the notebook server does not answer on its prefix "
                                            "(JUPYTERHUB_SERVICE_PREFIX): see the pod's log "
                                            "(microk8s kubectl logs -n jupyterhub POD)")


def _active_port(runner: CommandRunner, namespace: str, pod: str) -> ProbeResult:
    """``ibv_devinfo`` when the image has it: some port ``PORT_ACTIVE`` (rdma-core ``ibv_devinfo.c``)."""
    done = pod_exec(runner, namespace, pod, ["ibv_devinfo"])
    if done.returncode == 127 or "executable file not found" in done.stderr:
        return ProbeResult("rdma port", True, "ibv_devinfo not in the image: not checked")
    states = [line.split(":", 1)[1].split()[0] for line in done.stdout.splitlines()
              if line.strip().startswith("state:") and ":" in line and line.split(":", 1)[1].split()]
    active = states.count("PORT_ACTIVE")
    found = (f"ibv_devinfo: {active} of {len(states)} port(s) active" if states else
             (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1])
    return ProbeResult("rdma port", active > 0, found,
                       "no active RDMA port in the pod: check the link (ibstat on the host) and the RDMA plugin's "
                       "selectors (rdma.devices in the profile)")


def _uid(runner: CommandRunner, namespace: str, pod: str) -> ProbeResult:
    done = pod_exec(runner, namespace, pod, ["id", "-u"])
    found = done.stdout.strip() if done.ok else _ended(done)
    return ProbeResult("uid", found == NOTEBOOK_UID, f"id -u: {found}",
                       "the notebook must run as uid 1000 (z2jh singleuser.uid); check the image's USER and "
                       "the profile's overrides")


def _home(runner: CommandRunner, namespace: str, pod: str) -> ProbeResult:
    done = pod_exec(runner, namespace, pod, ["test", "-w", HOME])
    if done.ok:
        return ProbeResult("home", True, f"{HOME} writable")
    found = f"{HOME} not writable" if done.returncode == 1 else _ended(done)
    return ProbeResult("home", False, found, "the home volume (PVC) is not mounted or not writable for uid 1000: "
                                             "microk8s kubectl get pvc -n jupyterhub")


def _gpus(runner: CommandRunner, namespace: str, pod: str, wanted: int) -> ProbeResult:
    done = pod_exec(runner, namespace, pod, ["nvidia-smi", "-L"])
    if not done.ok:
        missing = done.returncode == 127 or "not found" in done.stderr
        return ProbeResult("gpus", False, "nvidia-smi not found in the pod" if missing else _ended(done),
                           "the pod got no GPU: check the GPU Operator's device plugin and toolkit "
                           "(microk8s kubectl get pods -n gpu-operator-resources)")
    count = sum(1 for line in done.stdout.splitlines() if line.startswith("GPU "))
    return ProbeResult("gpus", count == wanted, f"nvidia-smi -L lists {count} GPU(s), {wanted} asked",
                       "the pod sees a different number of GPUs than the catalog entry asks for: check the "
                       "entry's gpus and the node's nvidia.com/gpu (microk8s kubectl describe node)")


def _infiniband(runner: CommandRunner, namespace: str, pod: str) -> ProbeResult:
    done = pod_exec(runner, namespace, pod, ["test", "-d", "/dev/infiniband"])
    return ProbeResult("rdma devices", done.ok,
                       "/dev/infiniband present" if done.ok else
                       ("/dev/infiniband missing" if done.returncode == 1 else _ended(done)),
                       "the RDMA device plugin gave the pod no device: check its resource name and the "
                       "node's rdma/ resource (microk8s kubectl describe node)")


def _memlock(runner: CommandRunner, namespace: str, pod: str) -> ProbeResult:
    done = pod_exec(runner, namespace, pod, ["sh", "-c", "ulimit -l"])
    found = done.stdout.strip() if done.ok else _ended(done)
    return ProbeResult("memlock", found == "unlimited", f"ulimit -l: {found}",
                       "NCCL over RDMA needs unlimited locked memory: set `ulimit -l unlimited` in MicroK8s's "
                       "containerd-env and restart microk8s.daemon-containerd (the install's RDMA step does)")


def _shm(runner: CommandRunner, namespace: str, pod: str, wanted: str | None) -> ProbeResult:
    done = pod_exec(runner, namespace, pod, ["df", "-P", "-k", "/dev/shm"])
    rows = [line.split() for line in done.stdout.splitlines()[1:] if line.split()] if done.ok else []
    if not rows or not rows[0][1].isdigit():
        return ProbeResult("shm", False, f"df /dev/shm: {_ended(done) if not done.ok else 'no size'}",
                           "the pod did not answer df; look at it with microk8s kubectl describe pod")
    kib = int(rows[0][1])
    found = f"/dev/shm {kib // 1024} MiB"
    if wanted is None:
        return ProbeResult("shm", True, found)
    wanted_bytes = parse_quantity(wanted)
    ok = wanted_bytes is not None and Decimal(kib) * 1024 >= wanted_bytes
    return ProbeResult("shm", ok, f"{found}, {wanted} asked",
                       "the memory volume at /dev/shm is missing or smaller than the entry's shm_size "
                       "(singleuser.storage.extraVolumes dev-shm)")
