{{/*
Named templates shared by the chart's files. tp renders this chart with its own engine
(lib/helm), which knows only the template functions listed in lib/helm/README.md: keep to those.
*/}}

{{/* The manager's objects keep fixed names: clients and agents look for "traffic-manager". */}}
{{- define "tp.name" -}}
traffic-manager
{{- end }}

{{- define "tp.namespace" -}}
{{ .Release.Namespace }}
{{- end }}

{{- define "tp.version" -}}
{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "tp.image" -}}
{{ required "image.repository must be set" .Values.image.repository }}:{{ include "tp.version" . }}
{{- end }}

{{/* Selector labels never change after install: a Deployment's selector is immutable. */}}
{{- define "tp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The recommended labels (Kubernetes "Recommended Labels": name, instance, version, component,
part-of, managed-by). Called with the chart's context for the manager's own objects, or with
(dict "ctx" . "component" "agent-injector") for the other parts tp installs.
*/}}
{{- define "tp.labels" -}}
{{- $ctx := . -}}
{{- $component := "traffic-manager" -}}
{{- if hasKey . "ctx" -}}
{{- $ctx = .ctx -}}
{{- $component = .component -}}
{{- end -}}
{{ include "tp.selectorLabels" $ctx }}
app.kubernetes.io/version: {{ include "tp.version" $ctx | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: {{ $component }}
app.kubernetes.io/part-of: tp
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $ctx.Chart.Name $ctx.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Cluster-scoped names carry the namespace so two managers in one cluster do not collide. */}}
{{- define "tp.clusterRoleName" -}}
tp-traffic-manager-{{ .Release.Namespace }}
{{- end }}

{{- define "tp.ownerPolicyName" -}}
tp-owner-{{ .Release.Namespace }}
{{- end }}

{{- define "tp.webhookConfigName" -}}
tp-agent-injector-{{ .Release.Namespace }}
{{- end }}

{{/* The Secret holding the webhook's CA and serving certificate; the manager creates and rotates it. */}}
{{- define "tp.webhookSecretName" -}}
tp-agent-injector-tls
{{- end }}

{{/*
What the manager needs in every namespace it manages: read what clients can reach, and write the
agent-config annotation on workload pod templates (get/list/watch/patch).
*/}}
{{- define "tp.workloadRules" -}}
- apiGroups: [""]
  resources: ["pods", "services", "endpoints", "events"]
  verbs: ["get", "list", "watch"]
# A ReplicaSet does not replace its pods when its template changes: the manager deletes them.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["delete", "deletecollection"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments", "replicasets", "statefulsets"]
  verbs: ["get", "list", "watch", "patch"]
# The manager is the controller of Engagements: it reads them, writes their status, and deletes
# those whose session ended (deletecollection is what the owner policy asks of it for that).
- apiGroups: ["tp.dev"]
  resources: ["engagements"]
  verbs: ["get", "list", "watch", "delete", "deletecollection"]
- apiGroups: ["tp.dev"]
  resources: ["engagements/status"]
  verbs: ["get", "patch", "update"]
{{- end }}
