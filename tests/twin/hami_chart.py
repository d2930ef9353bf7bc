"""A stand-in for the HAMi chart (Project-HAMi/HAMi v2.8.3 ``charts/hami``), written for the tests.

Nothing here is fetched: the templates are this project's, shaped after the upstream chart's
so the installer's values go through the SAME keys and the same image rules:

* ``common.images.image`` (``templates/_commons.tpl``): ``<registry>/<repository>:<tag>``, where
  a helper's ``tag`` argument (``global.imageTag`` for the extender, device plugin and monitor;
  the cluster's version for kube-scheduler unless ``scheduler.kubeScheduler.image.tag``) wins
  over ``image.tag``, and ``global.imageRegistry`` over ``image.registry``;
* kube-scheduler's default tag is ``.Capabilities.KubeVersion`` stripped to ``vX.Y.Z``
  (``_helpers.tpl`` ``resolvedKubeSchedulerTag``);
* the admission certificate Jobs use ``scheduler.patch.imageNew`` on Kubernetes >= 1.22
  (``templates/scheduler/job-patch/job-createSecret.yaml``), else ``scheduler.patch.image``;
* names are ``<fullname>-scheduler``, ``<fullname>-device-plugin``, ``<fullname>-scheduler-device``;
* the device plugin DaemonSet carries the ``toolkit-validation`` init container only with
  ``devicePlugin.gpuOperatorToolkitReady.enabled``, and selects ``devicePlugin.nvidiaNodeSelector``.

The defaults are the upstream values.yaml's for the keys these templates read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from twin.charts import _tgz

HELPERS = r'''{{- define "hs.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 -}}
{{- end -}}
{{- end -}}
{{- define "hs.image" -}}
{{- $registry := .imageRoot.registry -}}
{{- if .global.imageRegistry }}{{ $registry = .global.imageRegistry }}{{ end -}}
{{- $tag := .imageRoot.tag | toString -}}
{{- if .tag }}{{ $tag = .tag | toString }}{{ end -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .imageRoot.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .imageRoot.repository $tag -}}
{{- end -}}
{{- end -}}
{{- define "hs.kubeSchedulerTag" -}}
{{- if .Values.scheduler.kubeScheduler.image.tag -}}
{{- .Values.scheduler.kubeScheduler.image.tag | trim -}}
{{- else -}}
{{- regexReplaceAll "^(v[0-9]+\\.[0-9]+\\.[0-9]+)(.*)$" .Capabilities.KubeVersion.Version "$1" -}}
{{- end -}}
{{- end -}}
{{- define "hs.newKube" -}}
{{- if ge (regexReplaceAll "[^0-9]" .Capabilities.KubeVersion.Minor "" | int) 22 }}true{{ end -}}
{{- end -}}
{{- define "hs.kubeSchedulerImage" -}}
{{- $tag := include "hs.kubeSchedulerTag" . -}}
{{- include "hs.image" (dict "imageRoot" .Values.scheduler.kubeScheduler.image "global" .Values.global "tag" $tag) -}}
{{- end -}}
{{- define "hs.extenderImage" -}}
{{- $root := .Values.scheduler.extender.image -}}
{{- include "hs.image" (dict "imageRoot" $root "global" .Values.global "tag" .Values.global.imageTag) -}}
{{- end -}}
{{- define "hs.devicePluginImage" -}}
{{- $root := .Values.devicePlugin.image -}}
{{- include "hs.image" (dict "imageRoot" $root "global" .Values.global "tag" .Values.global.imageTag) -}}
{{- end -}}
{{- define "hs.monitorImage" -}}
{{- $root := .Values.devicePlugin.monitor.image -}}
{{- include "hs.image" (dict "imageRoot" $root "global" .Values.global "tag" .Values.global.imageTag) -}}
{{- end -}}
{{- define "hs.patchImage" -}}
{{- $new := eq (include "hs.newKube" .) "true" -}}
{{- $root := ternary .Values.scheduler.patch.imageNew .Values.scheduler.patch.image $new -}}
{{- include "hs.image" (dict "imageRoot" $root "global" .Values.global) -}}
{{- end -}}
'''

TEMPLATES = {
    "_helpers.tpl": HELPERS,
    "scheduler-deployment.yaml": '''apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "hs.fullname" . }}-scheduler
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: hami-scheduler}
    spec:
      containers:
        {{- if .Values.scheduler.kubeScheduler.enabled }}
        - name: kube-scheduler
          image: {{ include "hs.kubeSchedulerImage" . }}
          imagePullPolicy: {{ .Values.scheduler.kubeScheduler.image.pullPolicy }}
        {{- end }}
        - name: vgpu-scheduler-extender
          image: {{ include "hs.extenderImage" . }}
          imagePullPolicy: {{ .Values.scheduler.extender.image.pullPolicy }}
''',
    "device-configmap.yaml": '''apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "hs.fullname" . }}-scheduler-device
data:
  device-config.yaml: |-
    nvidia:
      resourceCountName: {{ .Values.resourceName }}
      resourceMemoryName: {{ .Values.resourceMem }}
      resourceCoreName: {{ .Values.resourceCores }}
      deviceSplitCount: {{ .Values.devicePlugin.deviceSplitCount }}
''',
    "device-plugin.yaml": '''{{- if .Values.devicePlugin.enabled }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ include "hs.fullname" . }}-device-plugin
spec:
  template:
    metadata:
      labels: {app: hami-device-plugin}
    spec:
      {{- if .Values.devicePlugin.gpuOperatorToolkitReady.enabled }}
      initContainers:
        - name: toolkit-validation
          image: {{ include "hs.devicePluginImage" . }}
          imagePullPolicy: {{ .Values.devicePlugin.image.pullPolicy }}
      {{- end }}
      containers:
        - name: device-plugin
          image: {{ include "hs.devicePluginImage" . }}
          imagePullPolicy: {{ .Values.devicePlugin.image.pullPolicy }}
        - name: vgpu-monitor
          image: {{ include "hs.monitorImage" . }}
          imagePullPolicy: {{ .Values.devicePlugin.monitor.image.pullPolicy }}
      nodeSelector: {{- toYaml .Values.devicePlugin.nvidiaNodeSelector | nindent 8 }}
{{- end }}
''',
    "job-create-secret.yaml": '''{{- if .Values.scheduler.admissionWebhook.enabled }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "hs.fullname" . }}-admission-create
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: create
          image: {{ include "hs.patchImage" . }}
          imagePullPolicy: {{ .Values.scheduler.patch.imageNew.pullPolicy }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "hs.fullname" . }}-admission-patch
  annotations:
    "helm.sh/hook": post-install,post-upgrade
spec:
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: patch
          image: {{ include "hs.patchImage" . }}
          imagePullPolicy: {{ .Values.scheduler.patch.imageNew.pullPolicy }}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {{ include "hs.fullname" . }}-webhook
webhooks:
  - name: vgpu.hami.io
    failurePolicy: {{ .Values.scheduler.admissionWebhook.failurePolicy }}
    admissionReviewVersions: ["v1"]
    sideEffects: None
    clientConfig:
      service:
        name: {{ include "hs.fullname" . }}-scheduler
        namespace: {{ .Release.Namespace }}
        path: /webhook
    rules:
      - operations: ["CREATE"]
        apiGroups: [""]
        apiVersions: ["v1"]
        resources: ["pods"]
{{- end }}
''',
}


def _image(registry: str, repository: str, tag: str) -> dict[str, Any]:
    return {"registry": registry, "repository": repository, "tag": tag, "pullPolicy": "IfNotPresent",
            "pullSecrets": []}


def hami_defaults(version: str) -> dict[str, Any]:
    """The upstream values.yaml (v2.8.3) for the keys the templates read."""
    hami = _image("docker.io", "projecthami/hami", "")
    return {
        "global": {"imageRegistry": "", "imageTag": f"v{version}"},
        "resourceName": "nvidia.com/gpu", "resourceMem": "nvidia.com/gpumem", "resourceCores": "nvidia.com/gpucores",
        "scheduler": {
            "kubeScheduler": {"enabled": True, "image": _image("registry.cn-hangzhou.aliyuncs.com",
                                                               "google_containers/kube-scheduler", "")},
            "extender": {"image": dict(hami)},
            "admissionWebhook": {"enabled": True, "failurePolicy": "Ignore"},
            "patch": {"enabled": True, "image": _image("docker.io", "jettech/kube-webhook-certgen", "v1.5.2"),
                      "imageNew": _image("docker.io", "liangjw/kube-webhook-certgen", "v1.1.1")},
        },
        "devicePlugin": {"enabled": True, "image": dict(hami), "monitor": {"image": dict(hami)},
                         "gpuOperatorToolkitReady": {"enabled": False, "hostPath": "/run/nvidia/validations"},
                         "deviceSplitCount": 10, "nvidiaNodeSelector": {"gpu": "on"}},
        "dra": {"enabled": False},
    }


def hami_chart(path: Path, version: str = "2.8.3") -> Path:
    """``hami-<version>.tgz``: scheduler (kube-scheduler + extender), device plugin, certificate Jobs, webhook."""
    members = {f"hami/templates/{name}": text for name, text in TEMPLATES.items()}
    members["hami/Chart.yaml"] = (f"apiVersion: v2\nname: hami\nversion: {version}\nappVersion: \"{version}\"\n"
                                  'kubeVersion: ">= 1.18.0-0"\ndescription: test stand-in shaped after HAMi\'s chart\n')
    members["hami/values.yaml"] = yaml.safe_dump(hami_defaults(version))
    path.write_bytes(_tgz(members))
    return path
