{{/*
The helm test Job: connects to every TCP port of the Services of the given components that are
enabled. Call with (dict "ctx" $ "components" (list "<component>" ...)).
*/}}
{{- define "@@CHART@@.testConnection" -}}
{{- $ctx := .ctx -}}
{{- if $ctx.Values.tests.enabled }}
{{- $name := printf "%s-test-connection" (include "@@CHART@@.fullname" $ctx | trunc 46 | trimSuffix "-") }}
{{- $labels := include "@@CHART@@.labels" (dict "ctx" $ctx "component" "test-connection") }}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $name | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- $labels | nindent 4 }}
  annotations:
    {{- $hook := dict "helm.sh/hook" "test" "helm.sh/hook-delete-policy" "before-hook-creation,hook-succeeded" }}
    {{- include "@@CHART@@.annotations" (dict "ctx" $ctx "extra" $hook) | nindent 4 }}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 300
  template:
    metadata:
      labels:
        {{- $labels | nindent 8 }}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      {{- with include "@@CHART@@.imagePullSecrets" $ctx | trim }}
      {{- . | nindent 6 }}
      {{- end }}
      securityContext:
        {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $ctx.Values.tests.podSecurityContext) | nindent 8 }}
      containers:
        - name: test-connection
          image: {{ include "@@CHART@@.image" (dict "image" $ctx.Values.utility.image "global" $ctx.Values.global) | quote }}
          imagePullPolicy: {{ $ctx.Values.utility.image.pullPolicy | quote }}
          command:
            - /bin/sh
            - -c
            - |
              for target in "$@"; do
                echo "checking $target"
                nc -z -w "$0" "${target%:*}" "${target##*:}" || { echo "$target does not answer"; exit 1; }
              done
          args:
            - {{ $ctx.Values.tests.timeoutSeconds | int | toString | quote }}
            {{- range $component := .components }}
            {{- $values := index $ctx.Values (include "@@CHART@@.valuesKey" $component) }}
            {{- if $values.enabled }}
            {{- range $values.service.ports }}
            {{- if eq (.protocol | default "TCP") "TCP" }}
            - {{ printf "%s:%d" (include "@@CHART@@.componentFullname" (dict "ctx" $ctx "component" $component)) (.port | int) | quote }}
            {{- end }}
            {{- end }}
            {{- end }}
            {{- end }}
          securityContext:
            {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $ctx.Values.utility.containerSecurityContext) | nindent 12 }}
          resources:
            {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $ctx.Values.utility.resources) | nindent 12 }}
{{- end }}
{{- end -}}

{{/* The test Job only connects out; nothing may connect to it. Call with the root context. */}}
{{- define "@@CHART@@.testNetworkPolicy" -}}
{{- if .Values.tests.enabled }}
{{- $selector := dict "ctx" . "component" "test-connection" }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ printf "%s-test-connection" (include "@@CHART@@.fullname" . | trunc 46 | trimSuffix "-") | quote }}
  namespace: {{ .Release.Namespace | quote }}
  labels:
    {{- include "@@CHART@@.labels" $selector | nindent 4 }}
  {{- with include "@@CHART@@.annotations" (dict "ctx" .) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  podSelector:
    matchLabels:
      {{- include "@@CHART@@.selectorLabels" $selector | nindent 6 }}
  policyTypes:
    - Ingress
{{- end }}
{{- end -}}
