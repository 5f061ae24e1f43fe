{{/*
The workload of a component, one named template per kind. Each renders nothing while
<component>.enabled is false.
Call with (dict "ctx" $ "component" "<name>" ["waitFor" (list "<component>" ...)]
  ["waitForJobs" (list "<component>" ...)]); the lists are passed on to podTemplate.
*/}}

{{/* The Deployment of a component (replicas unless autoscaled). Call with (dict "ctx" $ "component" "<name>" ["waitFor" ...] ["waitForJobs" ...]). */}}
{{- define "@@CHART@@.deployment" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "@@CHART@@.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $fullname := include "@@CHART@@.componentFullname" . }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "@@CHART@@.labels" . | nindent 4 }}
  {{- with include "@@CHART@@.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicaCount | int }}
  {{- end }}
  revisionHistoryLimit: 10
  strategy:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $values.strategy) | nindent 4 }}
  selector:
    matchLabels:
      {{- include "@@CHART@@.selectorLabels" . | nindent 6 }}
  template:
    {{- include "@@CHART@@.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs) | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The StatefulSet of a component, with a claim template per enabled volume. Call like deployment. */}}
{{- define "@@CHART@@.statefulset" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "@@CHART@@.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $fullname := include "@@CHART@@.componentFullname" . }}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "@@CHART@@.labels" . | nindent 4 }}
  {{- with include "@@CHART@@.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
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
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $values.updateStrategy) | nindent 4 }}
  selector:
    matchLabels:
      {{- include "@@CHART@@.selectorLabels" . | nindent 6 }}
  template:
    {{- include "@@CHART@@.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs "statefulSet" true) | nindent 4 }}
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
          {{- include "@@CHART@@.selectorLabels" $ | nindent 10 }}
      spec:
        accessModes:
          {{- range $volume.accessModes }}
          - {{ . | quote }}
          {{- end }}
        resources:
          requests:
            storage: {{ $volume.size | quote }}
        {{- with include "@@CHART@@.storageClass" $volume | trim }}
        {{- . | nindent 8 }}
        {{- end }}
    {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* The DaemonSet of a component. Call like deployment. */}}
{{- define "@@CHART@@.daemonset" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "@@CHART@@.valuesKey" .component) -}}
{{- if $values.enabled }}
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ include "@@CHART@@.componentFullname" . | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "@@CHART@@.labels" . | nindent 4 }}
  {{- with include "@@CHART@@.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  revisionHistoryLimit: 10
  updateStrategy:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $values.updateStrategy) | nindent 4 }}
  selector:
    matchLabels:
      {{- include "@@CHART@@.selectorLabels" . | nindent 6 }}
  template:
    {{- include "@@CHART@@.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs) | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The Job of a component, named per release revision. Call like deployment. */}}
{{- define "@@CHART@@.job" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "@@CHART@@.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- /* A Job's pod template is immutable: each release revision runs its own Job. */}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "@@CHART@@.jobName" . | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "@@CHART@@.labels" . | nindent 4 }}
  {{- with include "@@CHART@@.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- include "@@CHART@@.jobSpec" $values.job | nindent 2 }}
  template:
    {{- include "@@CHART@@.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs "batch" true) | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The CronJob of a component. Call like deployment. */}}
{{- define "@@CHART@@.cronjob" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "@@CHART@@.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $job := $values.job }}
apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ include "@@CHART@@.componentFullname" . | trunc 52 | trimSuffix "-" | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "@@CHART@@.labels" . | nindent 4 }}
  {{- with include "@@CHART@@.annotations" (dict "ctx" $ctx "acceptedChecks" $values.acceptedChecks) }}
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
        {{- include "@@CHART@@.labels" . | nindent 8 }}
    spec:
      {{- include "@@CHART@@.jobSpec" $job | nindent 6 }}
      template:
        {{- include "@@CHART@@.podTemplate" (dict "ctx" $ctx "component" .component "values" $values "waitFor" .waitFor "waitForJobs" .waitForJobs "batch" true) | nindent 8 }}
{{- end }}
{{- end -}}

{{/* The run limits of a Job (backoffLimit, activeDeadlineSeconds, ttlSecondsAfterFinished). Call with <component>.job. */}}
{{- define "@@CHART@@.jobSpec" -}}
backoffLimit: {{ .backoffLimit | int }}
{{- with .activeDeadlineSeconds }}
activeDeadlineSeconds: {{ . | int }}
{{- end }}
{{- if not (kindIs "invalid" .ttlSecondsAfterFinished) }}
ttlSecondsAfterFinished: {{ .ttlSecondsAfterFinished | int }}
{{- end }}
{{- end -}}
