{{/*
The workload of a component, one named template per kind. Each renders nothing while
<component>.enabled is false.
Call with (dict "ctx" $ "component" "<name>" ["waitFor" (list "<component>" ...)]
  ["waitForJobs" (list "<component>" ...)]); the lists are passed on to podTemplate.
*/}}

{{/* The Deployment of a component (replicas unless autoscaled). Call with (dict "ctx" $ "component" "<name>" ["waitFor" ...] ["waitForJobs" ...]). */}}
{{- define "autopilot.deployment" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $fullname := include "autopilot.componentFullname" . }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicaCount | int }}
  {{- end }}
  revisionHistoryLimit: 10
  strategy:
    {{- include "autopilot.toYaml" (dict "ctx" $ctx "value" $values.strategy) | nindent 4 }}
  selector:
    matchLabels:
      {{- include "autopilot.selectorLabels" . | nindent 6 }}
  template:
    {{- include "autopilot.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs) | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The StatefulSet of a component, with a claim template per enabled volume. Call like deployment. */}}
{{- define "autopilot.statefulset" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $fullname := include "autopilot.componentFullname" . }}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicaCount | int }}
  {{- end }}
  revisionHistoryLimit: 10
  serviceName: {{ printf "%s-headless" $fullname | quote }}
  podManagementPolicy: OrderedReady
  updateStrategy:
    {{- include "autopilot.toYaml" (dict "ctx" $ctx "value" $values.updateStrategy) | nindent 4 }}
  selector:
    matchLabels:
      {{- include "autopilot.selectorLabels" . | nindent 6 }}
  template:
    {{- include "autopilot.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs "statefulSet" true) | nindent 4 }}
  {{- $claims := dict }}
  {{- range $name, $volume := $values.persistence }}
  {{- if $volume.enabled }}
  {{- $_ := set $claims $name $volume }}
  {{- end }}
  {{- end }}
  {{- with $claims }}
  volumeClaimTemplates:
    {{- range $name, $volume := . }}
    - apiVersion: v1
      kind: PersistentVolumeClaim
      metadata:
        name: {{ $name | quote }}
        labels:
          {{- include "autopilot.selectorLabels" $ | nindent 10 }}
      spec:
        accessModes:
          {{- range $volume.accessModes }}
          - {{ . | quote }}
          {{- end }}
        resources:
          requests:
            storage: {{ $volume.size | quote }}
        {{- with include "autopilot.storageClass" $volume | trim }}
        {{- . | nindent 8 }}
        {{- end }}
    {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* The DaemonSet of a component. Call like deployment. */}}
{{- define "autopilot.daemonset" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ include "autopilot.componentFullname" . | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  revisionHistoryLimit: 10
  updateStrategy:
    {{- include "autopilot.toYaml" (dict "ctx" $ctx "value" $values.updateStrategy) | nindent 4 }}
  selector:
    matchLabels:
      {{- include "autopilot.selectorLabels" . | nindent 6 }}
  template:
    {{- include "autopilot.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs) | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The Job of a component, named per release revision. Call like deployment. */}}
{{- define "autopilot.job" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- /* A Job's pod template is immutable: each release revision runs its own Job. */}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "autopilot.jobName" . | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- include "autopilot.jobSpec" $values.job | nindent 2 }}
  template:
    {{- include "autopilot.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs "batch" true) | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The CronJob of a component. Call like deployment. */}}
{{- define "autopilot.cronjob" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $job := $values.job }}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "autopilot.componentFullname" . | trunc 52 | trimSuffix "-" | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  schedule: {{ $job.schedule | quote }}
  concurrencyPolicy: {{ $job.concurrencyPolicy | quote }}
  suspend: {{ $job.suspend | toJson }}
  successfulJobsHistoryLimit: {{ $job.successfulJobsHistoryLimit | int }}
  failedJobsHistoryLimit: {{ $job.failedJobsHistoryLimit | int }}
  jobTemplate:
    metadata:
      labels:
        {{- include "autopilot.labels" . | nindent 8 }}
    spec:
      {{- include "autopilot.jobSpec" $job | nindent 6 }}
      template:
        {{- include "autopilot.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs "batch" true) | nindent 8 }}
{{- end }}
{{- end -}}

{{/* The run limits of a Job (backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished). Call with <component>.job. */}}
{{- define "autopilot.jobSpec" -}}
backoffLimit: {{ .backoffLimit | int }}
{{- with .activeDeadlineSeconds }}
activeDeadlineSeconds: {{ . | int }}
{{- end }}
{{- if not (kindIs "invalid" .ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ .ttlSecondsAfterFinished | int }}
{{- end }}
{{- end -}}
