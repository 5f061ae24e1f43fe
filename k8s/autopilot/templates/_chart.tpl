{{/*
Objects of the chart as a whole rather than of one component: the Secret and the claims
several components share.
*/}}

{{/*
The chart Secret, unless secrets.existingSecret names one; generated keys keep the value the
cluster already holds. Call with the root context.
*/}}
{{- define "autopilot.secret" -}}
{{- if not .Values.secrets.existingSecret }}
{{- $name := include "autopilot.fullname" . }}
{{- /* Generated values survive upgrades: reuse what the cluster already holds. */}}
{{- $current := dict }}
{{- with lookup "v1" "Secret" .Release.Namespace $name }}
{{- $current = .data | default dict }}
{{- end }}
{{- /* Keys that cannot be generated must be given: an install without them stops at once. */}}
{{- $missing := list }}
{{- range $key, $value := .Values.secrets.values }}
{{- if and (not $value) (not (has $key $.Values.secrets.generate)) }}
{{- $missing = append $missing (printf "secrets.values.%s" $key) }}
{{- end }}
{{- end }}
{{- if $missing }}
{{- required (printf "%s %s required: set %s (--set %s=...) or use secrets.existingSecret" (join ", " $missing) (ternary "is" "are" (eq (len $missing) 1)) (ternary "it" "them" (eq (len $missing) 1)) (first $missing)) "" }}
{{- end }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $name | quote }}
  namespace: {{ .Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" (dict "ctx" $) | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
type: Opaque
data:
  {{- range $key, $value := .Values.secrets.values }}
  {{- $generated := has $key $.Values.secrets.generate }}
  {{- if $value }}
  {{ $key | quote }}: {{ $value | toString | b64enc | quote }}
  {{- else if and $generated (hasKey $current $key) }}
  {{ $key | quote }}: {{ index $current $key | quote }}
  {{- else }}
  {{ $key | quote }}: {{ randAlphaNum 32 | b64enc | quote }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Claims several components mount; each exists while one of its users is enabled. Call with the root context. */}}
{{- define "autopilot.sharedClaims" -}}
{{- range $name, $volume := .Values.sharedVolumes }}
{{- $used := false }}
{{- range $volume.users }}
{{- if (index $.Values . | default dict).enabled }}
{{- $used = true }}
{{- end }}
{{- end }}
{{- if $used }}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ include "autopilot.sharedClaimName" (dict "ctx" $ "name" $name) | quote }}
  namespace: {{ $.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" (dict "ctx" $ "component" "") | nindent 4 }}
  {{- $policy := dict }}
  {{- with $volume.resourcePolicy }}
  {{- $_ := set $policy "helm.sh/resource-policy" . }}
  {{- end }}
  {{- with include "autopilot.annotations" (dict "ctx" $ "extra" $policy) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  accessModes:
    {{- range $volume.accessModes }}
    - {{ . | quote }}
    {{- end }}
  resources:
    requests:
      storage: {{ $volume.size | quote }}
  {{- with include "autopilot.storageClass" $volume | trim }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}
