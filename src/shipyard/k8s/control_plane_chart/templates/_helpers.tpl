{{/*
The control plane's chart. shipyard.k8s.control_plane.control_plane_objects() renders the
same objects in Python: the tests compare `helm template` with it for several value sets,
so a change on one side that the other lacks fails them.
*/}}

{{/* Every object's labels. */}}
{{- define "controlPlane.labels" -}}
{{ include "controlPlane.selector" . }}
app.kubernetes.io/component: control-plane
app.kubernetes.io/part-of: shipyard
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* The labels that select the server's pod. */}}
{{- define "controlPlane.selector" -}}
app.kubernetes.io/name: shipyard-control-plane
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Metadata of an object in the release's namespace. */}}
{{- define "controlPlane.metadata" -}}
name: {{ .Values.name }}
namespace: {{ .Release.Namespace }}
labels:
  {{- include "controlPlane.labels" . | nindent 2 }}
{{- end }}

{{/* Where models are deployed: the Role's namespace. */}}
{{- define "controlPlane.deployNamespace" -}}
{{- .Values.deployNamespace | default .Release.Namespace -}}
{{- end }}

{{/* What values alone cannot say (the schema checks each value's type). */}}
{{- define "controlPlane.check" -}}
{{- $a := .Values.artifacts -}}
{{- if not $a.location -}}
{{- fail "artifacts.location is required: s3://BUCKET/PREFIX, or a directory on artifacts.existingClaim (the pod's own disk goes with the pod)" -}}
{{- end -}}
{{- if hasPrefix "s3://" $a.location -}}
{{- if $a.existingClaim -}}
{{- fail (printf "artifacts.existingClaim %s: artifacts.location %s is in S3, not on a volume" $a.existingClaim $a.location) -}}
{{- end -}}
{{- else if not (hasPrefix "/" $a.location) -}}
{{- fail (printf "artifacts.location %s: expected s3://BUCKET/PREFIX or an absolute directory" $a.location) -}}
{{- else if not $a.existingClaim -}}
{{- fail (printf "artifacts.location %s is a directory: give artifacts.existingClaim, a PersistentVolumeClaim to mount there (the pod's own disk goes with the pod)" $a.location) -}}
{{- end -}}
{{- end }}
