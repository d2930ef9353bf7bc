"""``uninstall``: the Helm releases and the installer's manifests, in reverse install order.

What each component applied is read from its own install steps (a :class:`HelmChartStep` is a
release; a step with ``applied_manifest`` wrote and applied that file), so a new component is
uninstalled without a line here. The hub's namespace stays, with the users' volumes in it,
unless ``delete_data``; MicroK8s (and its addons, the hostpath volumes' provisioner) stays unless
``remove_microk8s``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final

from installer.components.base import PHASES, StepInputs
from installer.components.kube import HelmChartStep
from installer.components.registry import COMPONENTS
from installer.config.profile import Profile
from installer.engine.events import EventSink
from installer.engine.plan import Plan, Step, StepContext
from installer.engine.runner import RunResult
from installer.install_run import InstallOptions
from installer.lifecycle.session import run_change
from installer.lifecycle.steps import (
    DeleteManifestStep,
    DeleteNamespaceStep,
    ForgetInstalledStep,
    RemoveMicrok8sStep,
    UninstallReleaseStep,
)

JOURNAL: Final = "uninstall-journal.json"


def data_namespace(profile: Profile) -> str:
    """The namespace holding the users' volumes: the hub's."""
    return profile.jupyterhub.namespace


def uninstall_plan(profile: Profile, state_dir: Path, *, delete_data: bool, remove_microk8s: bool) -> Plan:
    """Each enabled component's releases and manifests, last installed first; then the data and MicroK8s."""
    steps: list[Step] = []
    inputs = StepInputs(profile.bundle_dir())
    for component in reversed(COMPONENTS):
        if not component.enabled(profile):
            continue
        phased = component.steps(profile, inputs)
        installed = [step for phase in PHASES for step in phased.phase(phase)]
        for step in reversed(installed):
            if isinstance(step, HelmChartStep):
                steps.append(UninstallReleaseStep(component.key, step.release, step.namespace))
            manifest = getattr(step, "applied_manifest", None)
            if isinstance(manifest, str):
                steps.append(DeleteManifestStep(component.key, state_dir / manifest))
    if delete_data:
        steps.append(DeleteNamespaceStep("jupyterhub", data_namespace(profile)))
    if remove_microk8s:
        steps.append(RemoveMicrok8sStep())
    steps.append(ForgetInstalledStep())
    return Plan(steps)


def run_uninstall(options: InstallOptions, sink: EventSink, *, delete_data: bool, remove_microk8s: bool,
                  cancel: threading.Event | None = None) -> RunResult:
    """Run the uninstall for ``options.profile`` (the installed one); interrupted, it resumes on the next run."""

    def build(ctx: StepContext) -> Plan:
        return uninstall_plan(options.profile, ctx.state_dir, delete_data=delete_data,
                              remove_microk8s=remove_microk8s)

    return run_change(options, sink, build, journal_name=JOURNAL, purpose="uninstall", cancel=cancel)
