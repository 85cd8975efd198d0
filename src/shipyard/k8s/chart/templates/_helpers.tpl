{{/*
The chart renders the objects shipyard.k8s.manifests renders for `shipyard export kubernetes`,
from values: the tests compare `helm template` with manifests.objects() for several settings,
so a change on one side that the other lacks fails them.
*/}}

{{/* Every object's labels. Called with (dict "root" $ "track" T "version" V) for a track's
Deployment, (dict "root" $) for the shared objects. Later keys win, as in manifests._labels. */}}
{{- define "shipyard.labels" -}}
{{- $labels := dict "app.kubernetes.io/name" .root.Values.name "app.kubernetes.io/managed-by" "shipyard" -}}
{{- range $key, $value := .root.Values.labels }}{{ $_ := set $labels $key $value }}{{ end -}}
{{- if .version -}}
{{- $version := include "shipyard.number" .version -}}
{{- $_ := set $labels "app.kubernetes.io/version" $version -}}
{{- $_ := set $labels "shipyard.dev/model" .root.Values.model.name -}}
{{- $_ := set $labels "shipyard.dev/version" $version -}}
{{- end -}}
{{- with .track }}{{ $_ := set $labels "shipyard.dev/track" . }}{{ end -}}
{{- toYaml $labels -}}
{{- end }}

{{/* The label every pod of the deployment carries, whatever its track. */}}
{{- define "shipyard.selector" -}}
app.kubernetes.io/name: {{ .Values.name }}
{{- end }}

{{/* Metadata of an object the tracks share (Service, budget, autoscaler, monitors). */}}
{{- define "shipyard.shared" -}}
name: {{ .Values.name }}
labels:
  {{- include "shipyard.labels" (dict "root" .) | nindent 2 }}
namespace: {{ .Release.Namespace }}
{{- end }}

{{/* A whole number as text (values from YAML files arrive as floats). */}}
{{- define "shipyard.number" -}}
{{- printf "%d" (int64 .) -}}
{{- end }}

{{/* A track's image: the repository, the tag if any, {model} and {version} filled in. */}}
{{- define "shipyard.image" -}}
{{- $image := .root.Values.image.repository -}}
{{- with .tag }}{{ $image = printf "%s:%s" $image . }}{{ end -}}
{{- $image | replace "{model}" .root.Values.model.name | replace "{version}" (include "shipyard.number" .version) -}}
{{- end }}

{{/* Pods per track: a canary's weight in whole pods, at least one each (manifests.split,
whose round() rounds halves to even). */}}
{{- define "shipyard.pods" -}}
{{- $replicas := int64 .Values.replicas -}}
{{- $stable := $replicas -}}
{{- $canary := 0 -}}
{{- if .Values.canary.enabled -}}
{{- $share := mul $replicas (int64 .Values.canary.weight) -}}
{{- $pods := div $share 100 -}}
{{- $rest := mod $share 100 -}}
{{- if or (gt $rest 50) (and (eq $rest 50) (eq (mod $pods 2) 1)) }}{{ $pods = add1 $pods }}{{ end -}}
{{- $canary = max 1 $pods -}}
{{- $stable = max 1 (sub $replicas $canary) -}}
{{- end -}}
stable: {{ $stable }}
canary: {{ $canary }}
{{- end }}

{{/* What values alone cannot say (the schema checks each value's type and range). */}}
{{- define "shipyard.check" -}}
{{- $a := .Values.autoscaling -}}
{{- if and $a.enabled (gt (int64 .Values.replicas) (int64 $a.maxReplicas)) -}}
{{- fail (printf "replicas %s and autoscaling.maxReplicas %s: expected 1 <= replicas <= max replicas" (include "shipyard.number" .Values.replicas) (include "shipyard.number" $a.maxReplicas)) -}}
{{- end -}}
{{- if and $a.enabled $a.minReplicas (gt (int64 $a.minReplicas) (int64 $a.maxReplicas)) -}}
{{- fail (printf "autoscaling.minReplicas %s and autoscaling.maxReplicas %s: expected min <= max" (include "shipyard.number" $a.minReplicas) (include "shipyard.number" $a.maxReplicas)) -}}
{{- end -}}
{{- $c := .Values.canary -}}
{{- if $c.enabled -}}
{{- if or (not $c.version) (not $c.digest) -}}
{{- fail "canary.enabled needs canary.version and canary.digest: export the chart with `shipyard export helm MODEL --canary-version N`, which fills them in" -}}
{{- end -}}
{{- $image := printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- if and (not $c.image.tag) (not (contains "{version}" $image)) -}}
{{- fail (printf "image %s names no version, so the canary would run the stable image: set image.tag to {version} or give canary.image.tag" $image) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* The Deployment of one track, called with (dict "root" $ "track" T "version" V "digest" D
"commit" C "tag" TAG "replicas" N): manifests.deployment(). */}}
{{- define "shipyard.deployment" -}}
{{- $root := .root -}}
{{- $name := $root.Values.name -}}
{{- $labels := include "shipyard.labels" (dict "root" $root "track" .track "version" .version) -}}
{{- $annotations := dict "shipyard.dev/content-digest" .digest -}}
{{- with .commit }}{{ $_ := set $annotations "shipyard.dev/git-commit" . }}{{ end -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ if eq .track "stable" }}{{ $name }}{{ else }}{{ $name }}-{{ .track }}{{ end }}
  labels:
    {{- $labels | nindent 4 }}
  annotations:
    {{- toYaml $annotations | nindent 4 }}
  namespace: {{ $root.Release.Namespace }}
spec:
  replicas: {{ .replicas }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "shipyard.selector" $root | nindent 6 }}
      shipyard.dev/track: {{ .track }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  template:
    metadata:
      labels:
        {{- $labels | nindent 8 }}
      annotations:
        {{- toYaml $annotations | nindent 8 }}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile:
          type: RuntimeDefault
      terminationGracePeriodSeconds: 30
      containers:
        - name: model
          image: {{ include "shipyard.image" (dict "root" $root "tag" .tag "version" .version) | quote }}
          # the image's own serve command (images/model_dockerfile.py SERVE_COMMAND), told the deployment's name
          command: [shipyard, serve, /srv/bundle, --host, 0.0.0.0, --port, "8000", --deployment, {{ $name | quote }}]
          ports:
            - name: http
              containerPort: 8000
              protocol: TCP
          startupProbe:  # up to 3 minutes to load
            httpGet: {path: /v2/health/ready, port: http}
            periodSeconds: 2
            timeoutSeconds: 3
            failureThreshold: 90
          readinessProbe:
            httpGet: {path: /v2/health/ready, port: http}
            periodSeconds: 5
            timeoutSeconds: 3
            failureThreshold: 2
          livenessProbe:
            httpGet: {path: /v2/health/live, port: http}
            periodSeconds: 10
            timeoutSeconds: 3
            failureThreshold: 3
          resources:
            {{- $r := $root.Values.resources }}
            requests:
              cpu: {{ toString $r.requests.cpu | quote }}
              memory: {{ toString $r.requests.memory | quote }}
            limits:
              {{- with $r.limits.cpu }}
              cpu: {{ toString . | quote }}
              {{- end }}
              memory: {{ toString ($r.limits.memory | default $r.requests.memory) | quote }}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: false
            capabilities:
              drop: [ALL]
{{- end }}
