"""Fixed host facts and a small real plan for the wizard's tests.

The screens are tested on data that does not depend on this machine (snapshots
must look the same everywhere), and the install screen on a plan of real
:class:`~installer.engine.plan.Step` objects run by the real runner, journal and
lock, with one real command: only what the steps do is small.
"""

from __future__ import annotations

import threading
from pathlib import Path

from installer.config.profile import Profile
from installer.engine.events import CheckReported, EventSink, ItemFinished
from installer.engine.plan import Plan, Step, StepContext
from installer.install_run import InstallOptions
from installer.probes.model import DiskInfo, GpuInfo, HostFacts, IbPort, SystemInfo
from installer.wizard.backend import WizardSession
from installer.wizard.model import ComponentChoice

TS = 1_800_000_000.0
"""A fixed timestamp for events shown on screen."""

H100 = GpuInfo(pci_address="0000:19:00.0", name="NVIDIA H100 80GB HBM3", memory_mib=81559,
               driver_version="550.54.15", uuid="GPU-1", mig="Disabled", source="nvidia-smi", pci_device_id="2330")
FACTS = HostFacts(
    gpus=(H100, GpuInfo(**{**H100.to_dict(), "pci_address": "0000:3b:00.0", "uuid": "GPU-2"})),
    host_driver="550.54.15",
    infiniband=(
        IbPort("mlx5_0", 1, "ACTIVE", "LinkUp", 400.0, "InfiniBand", ("ib0",), "15b3", "1021", "mlx5_core"),
        IbPort("mlx5_1", 1, "DOWN", "Polling", None, "InfiniBand", ("ib1",), "15b3", "1021", "mlx5_core"),
    ),
    system=SystemInfo(os_id="ubuntu", os_version="22.04", kernel="5.15.0-112-generic", arch="x86_64", cpu_count=64,
                      memory_bytes=512 * 2**30, is_root=True, snapd=True, microk8s_installed=False,
                      microk8s_version=None, microk8s_ready=None, docker_installed=False, default_route=True,
                      kubelet_dir_is_real_folder=False, busy_ports=(22,), os_pretty="Ubuntu 22.04.4 LTS"),
    disks=(DiskInfo("/var/snap/microk8s/common", "/", 900 * 2**30, 1800 * 2**30, "containerd", "/"),),
)


def check(check_id: str, title: str, status: str, found: str, required: str, hint: str = "") -> CheckReported:
    """A check event with a fixed timestamp."""
    return CheckReported(check_id=check_id, title=title, status=status, found=found,  # type: ignore[arg-type]
                         required=required, hint=hint, ts=TS)


CHECKS = [
    check("root", "Running as root", "pass", "root", "root"),
    check("os", "Operating system", "pass", "Ubuntu 22.04.4 LTS", "Ubuntu 22.04 or 24.04"),
    check("memory", "Memory", "pass", "512.0 GiB", "at least 8 GiB"),
    check("disk-containerd", "Disk for images", "pass", "900.0 GiB free", "27.5 GiB free"),
    check("microk8s", "MicroK8s", "pass", "snaps in the bundle", "installed, or its snaps in the bundle"),
    check("kubelet-dir", "/var/lib/kubelet", "warn", "a real folder", "absent, or a symlink",
          "Move /var/lib/kubelet away before installing: device plugins would register in the wrong place."),
    check("gpu", "NVIDIA GPUs", "pass", "2 × NVIDIA H100 80GB HBM3", "a GPU for the GPU Operator"),
]
FAILED = check("memory", "Memory", "fail", "3.8 GiB", "at least 8 GiB (preflight.min_memory_gib)",
               "Add memory, or lower preflight.min_memory_gib in the profile if you know the load is small.")
CHOICES = [
    ComponentChoice("gpu_operator", "NVIDIA GPU Operator", True,
                    "2 × NVIDIA H100 80GB HBM3, host driver 550.54.15"),
    ComponentChoice("rdma", "RDMA shared device plugin", True, "mlx5_0 port 1 (ib0): InfiniBand 400 Gb/s"),
]


def fixed_preflight(monkeypatch, *, checks: list[CheckReported] | None = None,
                    choices: list[ComponentChoice] | None = None) -> None:
    """Make the wizard's preflight return :data:`FACTS` and ``checks`` instead of probing this machine."""
    from installer.wizard import backend

    def engine(options: InstallOptions,
               sink: EventSink) -> tuple[HostFacts, list[CheckReported], list[ComponentChoice]]:
        shown = list(CHECKS if checks is None else checks)
        for event in shown:
            sink.emit(event)
        return FACTS, shown, list(CHOICES if choices is None else choices)

    monkeypatch.setattr(backend, "_preflight_engine", engine)
    monkeypatch.setattr(backend, "notebook_image_warnings", lambda options: {})


class CommandStep(Step):
    """Runs one real, harmless command through the runner; hands back ``hub_url`` as the URL step does."""

    def __init__(self, step_id: str, title: str, component: str = "microk8s", *, hub_url: str | None = None) -> None:
        self.id, self.title, self.component = step_id, title, component
        self.hub_url = hub_url

    def run(self, ctx: StepContext) -> None:
        """``true``, through the command runner."""
        ctx.runner.run(["true"], timeout=30, hint="")
        if self.hub_url is not None:
            ctx.results.hub_url = self.hub_url


class ImportStep(Step):
    """Reports byte progress for a few images, optionally stopping at a gate (to cancel there)."""

    id = "import-images"
    title = "Import images"
    component = "bundle"

    def __init__(self, images: tuple[tuple[str, int], ...], gate: threading.Event | None = None) -> None:
        self.images = images
        self.gate = gate
        self.reached = threading.Event()
        """Set when the step waits at the gate (in the middle of the second image)."""

    def run(self, ctx: StepContext) -> None:
        """Progress in eight chunks per image; an item finished event after each."""
        total = sum(size for _, size in self.images)
        before = 0
        for index, (name, size) in enumerate(self.images):
            for chunk in range(9):
                ctx.check_cancelled()
                done = size * chunk // 8
                ctx.progress(done, size, item=name, overall_done=before + done, overall_total=total)
                if self.gate is not None and index == 1 and chunk == 4:
                    self.reached.set()
                    self.gate.wait(60)
            ctx.sink.emit(ItemFinished(step_id=ctx.step_id or "", item=name, status="ok"))
            before += size


IMAGES = (("quay.io/jupyterhub/k8s-hub:4.2.0", 3 << 20), ("quay.io/jupyter/scipy-notebook:2025-01-06", 5 << 20),
          ("registry.k8s.io/pause:3.10", 1 << 20))


HUB_URL = "http://10.20.0.5:30080/"
"""The address the fake plan's last step reports, as the real URL step reads it from the node."""


def fake_plan(monkeypatch, *, gate: threading.Event | None = None) -> ImportStep:
    """Make ``install_plan`` return a small plan (real steps, real runner); returns its import step."""
    from installer import install_run as session

    importer = ImportStep(IMAGES, gate)
    steps = [CommandStep("preflight", "Preflight checks", "preflight"), importer,
             CommandStep("microk8s-install", "Install MicroK8s"), CommandStep("jupyterhub", "Install JupyterHub",
                                                                             "jupyterhub", hub_url=HUB_URL)]
    monkeypatch.setattr(session, "install_plan", lambda options: Plan(list(steps)))
    return importer


def make_session(tmp_path: Path, profile: Profile | None = None, **options: object) -> WizardSession:
    """A wizard session whose state, log and saved profile stay in ``tmp_path``."""
    bundle = tmp_path / "offline-images"
    bundle.mkdir(exist_ok=True)
    opts = InstallOptions(profile=profile or Profile(), state_dir=tmp_path / "state", bundle_dir=bundle,
                          **options)  # type: ignore[arg-type]
    return WizardSession.start(opts, log_file=tmp_path / "install.log", profile_dir=tmp_path / "profiles")
