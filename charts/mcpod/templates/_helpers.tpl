{{/* Names, labels and small derived values shared by every template. */}}

{{- define "mcpod.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mcpod.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Object names of the two components (component names are short: keep the sum under 63). */}}
{{- define "mcpod.operator.name" -}}
{{- printf "%s-operator" (include "mcpod.fullname" . | trunc 54 | trimSuffix "-") -}}
{{- end -}}
{{- define "mcpod.gateway.name" -}}
{{- printf "%s-gateway" (include "mcpod.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}

{{- define "mcpod.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "mcpod.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mcpod
{{- end -}}

{{/* Selector labels of one component: pass (dict "root" $ "component" "gateway"). */}}
{{- define "mcpod.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mcpod.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mcpod.connectionNamespace" -}}
{{- default .Release.Namespace .Values.connections.namespace -}}
{{- end -}}

{{- define "mcpod.keysSecret" -}}
{{- default (printf "%s-keys" (include "mcpod.fullname" .)) .Values.keys.existingSecret -}}
{{- end -}}

{{- define "mcpod.image" -}}
{{- $repo := .repository -}}
{{- if .root.Values.image.registry -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" .root.Values.image.registry) .repository -}}
{{- end -}}
{{- if .withTag -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- else -}}
{{- $repo -}}
{{- end -}}
{{- end -}}

{{/* The Lease the operator replicas share; its name is also the only one RBAC allows. */}}
{{- define "mcpod.operator.leaseName" -}}
{{- include "mcpod.operator.name" . -}}
{{- end -}}

{{/*
The security context every container of the chart runs with: what the PodSecurity "restricted"
level requires, plus a read-only root filesystem.
*/}}
{{- define "mcpod.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "mcpod.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}
