{{/* Name of the chart (overridable). */}}
{{- define "tresor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: "<release>-<chart>", or the release name when it already contains the chart name. */}}
{{- define "tresor.fullname" -}}
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

{{/* Headless Service (stable pod DNS names, reaches sealed pods too). */}}
{{- define "tresor.headlessName" -}}
{{- printf "%s-internal" (include "tresor.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tresor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tresor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tresor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tresor.labels" -}}
helm.sh/chart: {{ include "tresor.chart" . }}
{{ include "tresor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tresor
{{- end -}}

{{- define "tresor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tresor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tresor.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* PSS "restricted" container securityContext; argument: dict "uid" N "gid" N. */}}
{{- define "tresor.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .gid }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Example app names. */}}
{{- define "tresor.exampleApp.fullname" -}}
{{- printf "%s-%s" (include "tresor.fullname" .) .Values.exampleApp.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tresor.exampleApp.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.exampleApp.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tresor.exampleApp.labels" -}}
helm.sh/chart: {{ include "tresor.chart" . }}
{{ include "tresor.exampleApp.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tresor
{{- end -}}

{{/* Checks that make a wrong combination of values fail at render time. */}}
{{- define "tresor.validate" -}}
{{- $c := .Values.config -}}
{{- if and (or (eq $c.seal.type "tpm2") (eq $c.counter.type "tpm2")) (not .Values.tpm.enabled) -}}
{{- fail "config.seal.type or config.counter.type is tpm2 but tpm.enabled is false: the pod would have no /dev/tpmrm0" -}}
{{- end -}}
{{- if and .Values.exampleApp.enabled (not .Values.kubernetesAuth.enabled) -}}
{{- fail "exampleApp.enabled needs kubernetesAuth.enabled: the agent logs in with auth/kubernetes" -}}
{{- end -}}
{{- if and .Values.tls.clientCA.enabled (not .Values.tls.clientCA.secretName) -}}
{{- fail "tls.clientCA.enabled needs tls.clientCA.secretName" -}}
{{- end -}}
{{- end -}}
