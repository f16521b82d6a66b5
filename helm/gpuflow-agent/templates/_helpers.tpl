{{- define "gpuflow-agent.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gpuflow-agent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gpuflow-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpuflow-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gpuflow-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "gpuflow-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "gpuflow-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "gpuflow-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "gpuflow-agent.authSecretName" -}}
{{- default (printf "%s-auth" (include "gpuflow-agent.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* The Secret holding server.key, or nothing when each node keeps its own key in hostPath. */}}
{{- define "gpuflow-agent.serverKeySecretName" -}}
{{- if .Values.serverKey.existingSecret -}}
{{- .Values.serverKey.existingSecret -}}
{{- else if .Values.serverKey.privateKey -}}
{{- printf "%s-server-key" (include "gpuflow-agent.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The port renters dial: the node's WG_PORT with hostNetwork, else the Service's node port. */}}
{{- define "gpuflow-agent.endpointPort" -}}
{{- if .Values.hostNetwork -}}
{{- .Values.wg.port -}}
{{- else -}}
{{- .Values.service.wireguardNodePort -}}
{{- end -}}
{{- end -}}

{{/*
The Secret holding the renter port's certificate (tls.crt, tls.key), or "" when the agent makes a
self-signed one itself (or TLS is off).
*/}}
{{- define "gpuflow-agent.tlsSecretName" -}}
{{- if ne .Values.tls.mode "off" -}}
{{- if .Values.tls.existingSecret -}}
{{- .Values.tls.existingSecret -}}
{{- else if .Values.tls.certManager.enabled -}}
{{- printf "%s-tls" (include "gpuflow-agent.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The CloudNativePG Cluster's name; its Services are <name>-rw and its credentials <name>-app. */}}
{{- define "gpuflow-agent.databaseCluster" -}}
{{- printf "%s-db" (include "gpuflow-agent.fullname" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}
