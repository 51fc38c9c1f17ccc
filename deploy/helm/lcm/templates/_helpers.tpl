{{/*
Names, labels and the table of roles. Every role is a Deployment of the one image running
`lcm <args> --port <port> --host 0.0.0.0` (as docker-compose.yml runs them).
*/}}

{{- define "lcm.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lcm.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The object name of one role, e.g. lcm-gateway, lcm-score-reports (names stay under 63 characters). */}}
{{- define "lcm.roleName" -}}
{{- printf "%s-%s" (include "lcm.fullname" .root) .role | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lcm.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Kubernetes' recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */}}
{{- define "lcm.labels" -}}
helm.sh/chart: {{ include "lcm.chart" . }}
{{ include "lcm.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lcm
{{- end }}

{{- define "lcm.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lcm.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one role's objects: the chart's plus app.kubernetes.io/component = the role. */}}
{{- define "lcm.roleLabels" -}}
{{ include "lcm.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "lcm.roleSelectorLabels" -}}
{{ include "lcm.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "lcm.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lcm.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The worker-controller's own ServiceAccount (IRSA: the only role that calls AWS). */}}
{{- define "lcm.workerControllerServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-worker-controller" (include "lcm.fullname" .) | trunc 63 | trimSuffix "-") .Values.serviceAccount.workerController.name }}
{{- else }}
{{- default (include "lcm.serviceAccountName" .) .Values.serviceAccount.workerController.name }}
{{- end }}
{{- end }}

{{- define "lcm.workerTemplatesFile" -}}
/etc/lcm/worker-templates.yaml
{{- end }}

{{- define "lcm.secretName" -}}
{{- default (include "lcm.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{- define "lcm.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
The roles: kind (gateway, subgraph, controller), the `lcm` arguments, the port (docker-compose.yml's),
and the Secret keys each reads: `required` ones must exist, `optional` ones may (secretKeyRef optional).
A role gets only the secrets it uses: the AWS credentials reach the worker-controller alone.
*/}}
{{- define "lcm.roles" -}}
gateway:
  kind: gateway
  args: [gateway]
  port: 4000
  required: [LCM_ADMIN_TOKEN, LCM_INTERNAL_SECRET, LCM_MONGODB_URI]
  optional: [LCM_OIDC_ISSUER, LCM_OIDC_AUDIENCE, LCM_OIDC_JWKS_URL]
definitions:
  kind: subgraph
  args: [subgraph, definitions]
  port: 4001
  required: [LCM_INTERNAL_SECRET, LCM_MONGODB_URI]
  optional: []
workers:
  kind: subgraph
  args: [subgraph, workers]
  port: 4002
  required: [LCM_INTERNAL_SECRET, LCM_MONGODB_URI]
  optional: []
sessions:
  kind: subgraph
  args: [subgraph, sessions]
  port: 4003
  required: [LCM_INTERNAL_SECRET, LCM_MONGODB_URI]
  optional: []
score-reports:
  kind: subgraph
  args: [subgraph, score-reports]
  port: 4004
  required: [LCM_INTERNAL_SECRET, LCM_MONGODB_URI]
  optional: []
resource-scheduler:
  kind: controller
  args: [controller, resource-scheduler]
  port: 4011
  required: []
  optional: [LCM_TOKEN, LCM_ADMIN_TOKEN]
lablet-controller:
  kind: controller
  args: [controller, lablet-controller]
  port: 4012
  required: [LCM_INTERNAL_SECRET]
  optional: [LCM_TOKEN, LCM_ADMIN_TOKEN, LCM_EVENTS_TOKEN, LCM_CML_PASSWORD]
worker-controller:
  kind: controller
  args: [controller, worker-controller]
  port: 4013
  required: []
  optional: [LCM_TOKEN, LCM_ADMIN_TOKEN, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, LCM_CML_PASSWORD, LCM_CML_LICENSE_TOKEN]
{{- end }}

{{/* Replicas of one role: gateway.replicaCount, subgraphs.perSubgraph.<name>.replicaCount or subgraphs.replicaCount, controllers.replicaCount. */}}
{{- define "lcm.replicas" -}}
{{- $v := .root.Values }}
{{- if eq .spec.kind "gateway" }}{{ $v.gateway.replicaCount }}
{{- else if eq .spec.kind "subgraph" }}{{ dig .role "replicaCount" $v.subgraphs.replicaCount $v.subgraphs.perSubgraph }}
{{- else }}{{ $v.controllers.replicaCount }}
{{- end }}
{{- end }}

{{/* The values a role's settings come from (resources). */}}
{{- define "lcm.resources" -}}
{{- $v := .root.Values }}
{{- if eq .spec.kind "gateway" }}{{ toYaml $v.gateway.resources }}
{{- else if eq .spec.kind "subgraph" }}{{ toYaml (dig .role "resources" $v.subgraphs.resources $v.subgraphs.perSubgraph) }}
{{- else }}{{ toYaml $v.controllers.resources }}
{{- end }}
{{- end }}

{{/* Every Secret key the chart knows (values.yaml, auth.existingSecret); none may be in the ConfigMap. */}}
{{- define "lcm.secretKeys" -}}
[LCM_ADMIN_TOKEN, LCM_INTERNAL_SECRET, LCM_MONGODB_URI, LCM_TOKEN, LCM_EVENTS_TOKEN, LCM_OIDC_ISSUER, LCM_OIDC_AUDIENCE, LCM_OIDC_JWKS_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, LCM_CML_PASSWORD, LCM_CML_LICENSE_TOKEN]
{{- end }}
