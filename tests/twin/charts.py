"""Small stand-ins for the z2jh and GPU Operator charts, with the upstream values keys, and test bundles.

The real charts cannot be downloaded here. These render, with the real helm, the objects
of the real charts that matter to an install (the hub with its database volume, the
proxy and its public service; the operator, NFD and the ClusterPolicy the operator turns
into operand DaemonSets) from the SAME values keys (z2jh 4.2.0 ``hub.image.name``,
``proxy.chp.image``; gpu-operator v25.x ``operator.repository/image/version``,
``toolkit.env``...). When the team's shared/ folder holds the real z2jh 4.2.0
values.yaml and values.schema.json, the stand-in carries them, so helm validates the
installer's values against the real schema.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import yaml
from imagegen import make_image_archive

from installer.bundle.manifest import save_manifest
from installer.bundle.requirements import chosen_components, component_needs, known_refs
from installer.bundle.scan import lock_bundle
from installer.config.profile import Profile

SHARED_Z2JH = Path(__file__).resolve().parents[3] / "shared" / "oracles" / "z2jh-4.2.0"

HUB_TEMPLATES = {
    "hub-pvc.yaml": """apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: hub-db-dir
spec:
  {{- with .Values.hub.db.pvc.storageClassName }}
  storageClassName: {{ . | quote }}
  {{- end }}
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
""",
    "hub-deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: hub
spec:
  replicas: 1
  template:
    metadata:
      labels: {component: hub}
    spec:
      volumes:
        - name: pvc
          persistentVolumeClaim:
            claimName: hub-db-dir
      containers:
        - name: hub
          image: "{{ .Values.hub.image.name }}:{{ .Values.hub.image.tag }}"
          imagePullPolicy: {{ .Values.hub.image.pullPolicy | default "IfNotPresent" }}
""",
    "proxy-deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: proxy
spec:
  replicas: 1
  template:
    metadata:
      labels: {component: proxy}
    spec:
      containers:
        - name: chp
          image: "{{ .Values.proxy.chp.image.name }}:{{ .Values.proxy.chp.image.tag }}"
          imagePullPolicy: {{ .Values.proxy.chp.image.pullPolicy | default "IfNotPresent" }}
""",
    "proxy-service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: proxy-public
spec:
  type: {{ .Values.proxy.service.type }}
  ports:
    - name: http
      port: 80
      {{- with .Values.proxy.service.nodePorts.http }}
      nodePort: {{ . }}
      {{- end }}
""",
}

HUB_DEFAULTS = {"hub": {"image": {"name": "quay.io/jupyterhub/k8s-hub", "tag": "4.2.0"}, "db": {"pvc": {}}},
                "proxy": {"chp": {"image": {"name": "quay.io/jupyterhub/configurable-http-proxy", "tag": "4.6.3"}},
                          "service": {"type": "LoadBalancer", "nodePorts": {}}}}

OPERAND_KEYS = ("driver", "toolkit", "devicePlugin", "validator", "dcgmExporter", "gfd", "migManager")

GPU_TEMPLATES = {
    "operator.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: gpu-operator
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: gpu-operator}
    spec:
      containers:
        - name: gpu-operator
          image: "{{ .Values.operator.repository }}/{{ .Values.operator.image }}:{{ .Values.operator.version }}"
          imagePullPolicy: {{ .Values.operator.imagePullPolicy | default "IfNotPresent" }}
""",
    "nfd.yaml": """{{- if .Values.nfd.enabled }}
{{- $nfd := index .Values "node-feature-discovery" }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Release.Name }}-node-feature-discovery-worker
spec:
  template:
    metadata:
      labels: {app: nfd-worker}
    spec:
      containers:
        - name: worker
          image: "{{ $nfd.image.repository }}:{{ $nfd.image.tag }}"
          imagePullPolicy: {{ $nfd.image.pullPolicy | default "IfNotPresent" }}
{{- end }}
""",
    # gpu-operator v25.3.4 templates/plugin_config.yaml: the device plugin's ConfigMap, when asked to create it
    "plugin_config.yaml": """{{- $config := .Values.devicePlugin.config }}
{{- if and $config.create (not (empty $config.data)) }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $config.name }}
  namespace: {{ .Release.Namespace }}
data: {{ toYaml $config.data | nindent 2 }}
{{- end }}
""",
    "clusterpolicy.yaml": """apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata:
  name: cluster-policy
spec:
{{- range $key := list "driver" "toolkit" "devicePlugin" "validator" "dcgmExporter" "gfd" "migManager" }}
{{- $section := index $.Values $key }}
  {{ $key }}:
{{ toYaml $section | indent 4 }}
{{- end }}
  mig:
{{ toYaml .Values.mig | indent 4 }}
""",
}

CLUSTERPOLICY_CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusterpolicies.nvidia.com
spec:
  group: nvidia.com
  names: {kind: ClusterPolicy, plural: clusterpolicies, singular: clusterpolicy}
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def _gpu_defaults(version: str) -> dict[str, Any]:
    """The upstream chart's defaults for the keys the templates read (gpu-operator values.yaml at the tag)."""
    toolkit = "v1.17.8-ubuntu20.04" if version.lstrip("v").startswith("25.3") else "v1.18.0"
    nvidia = "nvcr.io/nvidia"
    return {
        "operator": {"repository": nvidia, "image": "gpu-operator", "version": version},
        "nfd": {"enabled": True},
        "node-feature-discovery": {"image": {"repository": "registry.k8s.io/nfd/node-feature-discovery",
                                             "tag": "v0.17.3"}},
        "driver": {"enabled": True, "repository": nvidia, "image": "driver", "version": "570.172.08"},
        "toolkit": {"enabled": True, "repository": f"{nvidia}/k8s", "image": "container-toolkit", "version": toolkit},
        "devicePlugin": {"enabled": True, "repository": nvidia, "image": "k8s-device-plugin", "version": "v0.17.2",
                         "config": {"create": False, "name": "", "default": "", "data": {}}},
        "validator": {"repository": f"{nvidia}/cloud-native", "image": "gpu-operator-validator", "version": version},
        "dcgmExporter": {"enabled": True, "repository": f"{nvidia}/k8s", "image": "dcgm-exporter", "version": "4"},
        "gfd": {"enabled": True, "repository": nvidia, "image": "k8s-device-plugin", "version": "v0.17.2"},
        "migManager": {"enabled": True, "repository": f"{nvidia}/cloud-native", "image": "k8s-mig-manager",
                       "version": "v0.12.1", "config": {"default": "all-disabled", "create": False, "name": ""}},
        "mig": {"strategy": "single"},
    }


def _tgz(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in sorted(members.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def jupyterhub_chart(path: Path, version: str = "4.2.0") -> Path:
    """``jupyterhub-<version>.tgz``: hub, hub-db-dir PVC, proxy, proxy-public (z2jh keys and, if present, schema)."""
    members = {f"jupyterhub/templates/{n}": t for n, t in HUB_TEMPLATES.items()}
    # kubeVersion as zero-to-jupyterhub-k8s 4.2.0 jupyterhub/Chart.yaml declares it: helm refuses to render
    # the chart for an older cluster version (what MicroK8s 1.30's helm assumes without --kube-version).
    members["jupyterhub/Chart.yaml"] = (f"apiVersion: v2\nname: jupyterhub\nversion: {version}\nappVersion: 5.3.0\n"
                                        'kubeVersion: ">=1.28.0-0"\n'
                                        "description: test stand-in rendering the z2jh objects an install needs\n")
    if (SHARED_Z2JH / "values.yaml").is_file():
        members["jupyterhub/values.yaml"] = (SHARED_Z2JH / "values.yaml").read_text()
        members["jupyterhub/values.schema.json"] = (SHARED_Z2JH / "values.schema.json").read_text()
    else:
        members["jupyterhub/values.yaml"] = yaml.safe_dump(HUB_DEFAULTS)
    path.write_bytes(_tgz(members))
    return path


def gpu_operator_chart(path: Path, version: str = "v25.3.4") -> Path:
    """``gpu-operator-<version>.tgz``: operator, NFD worker, ClusterPolicy (+ its CRD under crds/)."""
    members = {f"gpu-operator/templates/{n}": t for n, t in GPU_TEMPLATES.items()}
    members["gpu-operator/crds/nvidia.com_clusterpolicies.yaml"] = CLUSTERPOLICY_CRD
    members["gpu-operator/Chart.yaml"] = (f"apiVersion: v2\nname: gpu-operator\nversion: {version}\n"
                                          f"appVersion: {version}\ndescription: test stand-in\n")
    members["gpu-operator/values.yaml"] = yaml.safe_dump(_gpu_defaults(version))
    path.write_bytes(_tgz(members))
    return path


def build_bundle(bundle: Path, profile: Profile, *, leave_out: tuple[str, ...] = ()) -> Path:
    """An offline-images folder with every image, chart and snap ``profile`` needs (minus ``leave_out`` refs)."""
    (bundle / "images").mkdir(parents=True, exist_ok=True)
    (bundle / "charts").mkdir(exist_ok=True)
    (bundle / "snaps").mkdir(exist_ok=True)
    seed = 0
    for component in chosen_components(profile):
        needs = component_needs(profile, component)
        for ref in needs.images:
            if ref in leave_out:
                continue
            seed += 1
            name = ref.replace("/", "_").replace(":", "_").replace("@", "_") + ".tar"
            if not (bundle / "images" / name).exists():
                make_image_archive(bundle / "images" / name, ref, seed=seed, size=4096)
        for chart, version in needs.charts:
            target = bundle / "charts" / f"{chart}-{version}.tgz"
            if chart == "jupyterhub":
                jupyterhub_chart(target, version)
            elif chart == "gpu-operator":
                gpu_operator_chart(target, version)
            elif chart == "hami":
                from twin.hami_chart import hami_chart

                hami_chart(target, version)
        for name in needs.snaps:
            for suffix in (".snap", ".assert"):
                (bundle / "snaps" / f"{name}_{100 + len(name)}{suffix}").write_text(f"twin test {name}{suffix}\n")
    save_manifest(lock_bundle(bundle, known_refs=known_refs(profile)), bundle)
    return bundle
