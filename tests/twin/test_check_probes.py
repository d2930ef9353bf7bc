"""The acceptance check's probes (installer/check/probes.py) through ``microk8s kubectl exec`` against the twin:
user pods on a GPU node, each with what a catalog entry asked for or less (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from twin.fixture import Twin, use_twin
from twin.test_twin import PAUSE, _gpu_cluster, ok

from installer.check.probes import probe_pod
from installer.components.jupyterhub.settings import NotebookImage
from installer.engine.commands import RealRunner

pytestmark = pytest.mark.containerd

NS = "jupyterhub"


def _pod(name: str, *, gpus: int = 0, uid: int | None = 1000, home: bool = True, shm: str | None = None,
         env: list[dict[str, str]] | None = None) -> dict[str, Any]:
    mounts, volumes = [], []
    if home:
        mounts.append({"name": "home", "mountPath": "/home/jovyan"})
        volumes.append({"name": "home", "emptyDir": {}})
    if shm:
        mounts.append({"name": "dev-shm", "mountPath": "/dev/shm"})
        volumes.append({"name": "dev-shm", "emptyDir": {"medium": "Memory", "sizeLimit": shm}})
    container: dict[str, Any] = {"name": "notebook", "image": PAUSE, "volumeMounts": mounts, "env": env or []}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    spec: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if uid is not None:
        spec["securityContext"] = {"runAsUser": uid}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec}


@pytest.fixture
def gpu_node(tmp_path: Path, clean_containerd: Any, monkeypatch: pytest.MonkeyPatch) -> Twin:
    made = _gpu_cluster(tmp_path, clean_containerd, "v25.3.4", host_containerd=False)
    ok(made.run("microk8s", "kubectl", "create", "namespace", NS))
    served = [{"name": "JUPYTERHUB_SERVICE_URL", "value": "http://0.0.0.0:8888/user/u/s/"}]
    pods = [_pod("jupyter-good", gpus=2, shm="1Gi", env=served), _pod("jupyter-one-gpu", gpus=1),
            _pod("jupyter-no-smi", gpus=1, env=[{"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute"}]),
            _pod("jupyter-root-nohome", uid=None, home=False)]
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump_all(pods))
    ok(made.run("microk8s", "kubectl", "apply", "-f", str(tmp_path / "pods.yaml")))
    use_twin(monkeypatch, made)
    return made


def _entry(**fields: Any) -> NotebookImage:
    return NotebookImage.model_validate({"name": "e", "display_name": "E", "image": PAUSE, **fields})


def _found(results: list[Any]) -> dict[str, tuple[bool, str]]:
    return {r.name: (r.ok, r.found) for r in results}


def test_probes_pass_on_a_pod_that_has_what_the_entry_asks(gpu_node: Twin) -> None:
    results = _found(probe_pod(RealRunner(), NS, "jupyter-good", _entry(gpus=2, shm_size="1Gi")))
    assert results == {"server": (True, "GET /user/u/s/api: HTTP 200"),
                       "uid": (True, "id -u: 1000"), "home": (True, "/home/jovyan writable"),
                       "gpus": (True, "nvidia-smi -L lists 2 GPU(s), 2 asked"),
                       "shm": (True, "/dev/shm 1024 MiB, 1Gi asked")}


def test_fewer_gpus_than_asked_and_no_nvidia_smi_fail_with_hints(gpu_node: Twin) -> None:
    [gpus] = [r for r in probe_pod(RealRunner(), NS, "jupyter-one-gpu", _entry(gpus=2)) if r.name == "gpus"]
    assert not gpus.ok and gpus.found == "nvidia-smi -L lists 1 GPU(s), 2 asked" and gpus.hint
    [smi] = [r for r in probe_pod(RealRunner(), NS, "jupyter-no-smi", _entry(gpus=1)) if r.name == "gpus"]
    assert not smi.ok and smi.found == "nvidia-smi not found in the pod" and smi.hint


def test_root_no_home_default_shm_and_rdma_with_memlock_16384(gpu_node: Twin) -> None:
    results = probe_pod(RealRunner(), NS, "jupyter-root-nohome", _entry(rdma=True, shm_size="2Gi"))
    found = _found(results)
    assert found["server"] == (False, "KeyError: 'JUPYTERHUB_SERVICE_URL'")  # no server on a prefix
    assert found["rdma port"] == (False, "No IB devices found")
    assert found["uid"] == (False, "id -u: 0")
    assert found["home"] == (False, "/home/jovyan not writable")
    assert found["rdma devices"] == (False, "/dev/infiniband missing")
    assert found["memlock"] == (False, "ulimit -l: 16384")  # MicroK8s's containerd-env default
    assert found["shm"] == (False, "/dev/shm 64 MiB, 2Gi asked")
    assert all(r.hint for r in results if not r.ok)


def test_a_pod_that_is_not_running_is_a_failed_probe_not_a_crash(gpu_node: Twin) -> None:
    results = probe_pod(RealRunner(), NS, "jupyter-gone", _entry())
    assert not any(r.ok for r in results)
    assert "not running" in results[0].found


def test_a_sliced_entry_is_checked_for_its_one_gpu(gpu_node: Twin) -> None:
    """A HAMi slice (gpu_memory, gpus 0) is still a GPU entry: its pod must show the one GPU it is given."""
    sliced = _entry(gpu_memory=4096, gpu_slicing=True)
    [gpus] = [r for r in probe_pod(RealRunner(), NS, "jupyter-one-gpu", sliced) if r.name == "gpus"]
    assert gpus.ok and gpus.found == "nvidia-smi -L lists 1 GPU(s), 1 asked"
    assert "gpus" not in {r.name for r in probe_pod(RealRunner(), NS, "jupyter-root-nohome", _entry())}
