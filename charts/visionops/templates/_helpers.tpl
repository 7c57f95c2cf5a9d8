{{/* Release-scoped name, at most 63 characters (DNS label). */}}
{{- define "visionops.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "visionops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The same name label config/ uses, so dashboards and selectors work for both installs. */}}
{{- define "visionops.selectorLabels" -}}
app.kubernetes.io/name: visionops-operator
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end -}}

{{- define "visionops.labels" -}}
{{ include "visionops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: visionops
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "visionops.chart" . }}
{{- end -}}

{{- define "visionops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "visionops.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "visionops.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "visionops.serverImage" -}}
{{- printf "%s:%s" .Values.serverImage.repository (default .Chart.AppVersion .Values.serverImage.tag) -}}
{{- end -}}

{{/*
The manager's rules: the same as config/rbac/role.yaml (test/delivery/helm-chart.test.ts compares
them), exactly what the operator calls. A ClusterRole, or a Role in watchNamespace.
*/}}
{{- define "visionops.managerRules" -}}
  # Read through informers (list + watch); the operator never writes a spec.
  - apiGroups: [visionops.io]
    resources: [modelservices]
    verbs: [list, watch]
  # Status is written by server-side apply, which is a PATCH.
  - apiGroups: [visionops.io]
    resources: [modelservices/status]
    verbs: [patch]
  # blockOwnerDeletion on the children's ownerReferences needs update on the owner's finalizers.
  - apiGroups: [visionops.io]
    resources: [modelservices/finalizers]
    verbs: [update]
  # Children are read from informers and written by server-side apply (a PATCH, plus create when
  # the object does not exist yet); the garbage collector deletes them with their ModelService.
  - apiGroups: [""]
    resources: [configmaps, services, persistentvolumeclaims]
    verbs: [list, watch, create, patch]
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [list, watch, create, patch]
  # Optional children are also deleted when their section leaves the spec.
  - apiGroups: [networking.k8s.io]
    resources: [ingresses]
    verbs: [list, watch, create, patch, delete]
  - apiGroups: [autoscaling]
    resources: [horizontalpodautoscalers]
    verbs: [list, watch, create, patch, delete]
  - apiGroups: [policy]
    resources: [poddisruptionbudgets]
    verbs: [list, watch, create, patch, delete]
  # Read-only: pod states feed the ModelService conditions.
  - apiGroups: [""]
    resources: [pods]
    verbs: [list, watch]
  # models:/ URIs: the credentials Secret and CA bundle ConfigMap a ModelService names, read one by
  # one (get, never list or watch) to ask the MLflow registry; pods get the Secret by reference.
  - apiGroups: [""]
    resources: [secrets, configmaps]
    verbs: [get]
  # Events on ModelServices (what kubectl describe shows), patched when a repeated event's count goes up.
  - apiGroups: [""]
    resources: [events]
    verbs: [create, patch]
{{- end -}}
