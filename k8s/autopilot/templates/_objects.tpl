{{/*
The other objects of a component: ConfigMaps, ServiceAccount, Role, PersistentVolumeClaims,
HorizontalPodAutoscaler and PodDisruptionBudget. Each renders nothing while
<component>.enabled is false.
*/}}

{{/* The env and file ConfigMaps of a component. Call with (dict "ctx" $ "component" "<name>"). */}}
{{- define "autopilot.configmap" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $fullname := include "autopilot.componentFullname" . }}
{{- $labels := include "autopilot.labels" . }}
{{- $annotations := include "autopilot.annotations" (dict "ctx" $ctx) }}
{{- with $values.envConfig }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-env" $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- $labels | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
data:
  {{- range $name, $value := . }}
  {{ $name | quote }}: {{ $value | toString | quote }}
  {{- end }}
{{- end }}
{{- with $values.configFiles }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ printf "%s-files" $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- $labels | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
data:
  {{- range $key, $file := . }}
  {{- if $file.serviceRefs }}
  {{ $key | quote }}: {{ include "autopilot.refValue" (dict "ctx" $ctx "format" $file.content "file" true) | quote }}
  {{- else }}
  {{ $key | quote }}: {{ $file.content | toString | quote }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The ServiceAccount of a component, when it creates one. Call with (dict "ctx" $ "component" "<name>"). */}}
{{- define "autopilot.serviceAccount" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if and $values.enabled $values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "autopilot.serviceAccountName" (dict "ctx" $ctx "component" .component "serviceAccount" $values.serviceAccount) | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "extra" $values.serviceAccount.annotations) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ $values.serviceAccount.automountServiceAccountToken | toJson }}
{{- end }}
{{- end -}}

{{/*
Role and RoleBinding that let a component's wait-for-jobs init container read the Jobs it waits
for, nothing else. Call with (dict "ctx" $ "component" "<name>" "waitForJobs" (list "<component>" ...)).
*/}}
{{- define "autopilot.role" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if and $values.enabled $values.waitFor.enabled }}
{{- with include "autopilot.waitJobNames" (dict "ctx" $ctx "jobs" .waitForJobs) | fromJsonArray }}
{{- $fullname := include "autopilot.componentFullname" $ }}
{{- $labels := include "autopilot.labels" $ }}
{{- $annotations := include "autopilot.annotations" (dict "ctx" $ctx) }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ printf "%s-wait" $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- $labels | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
rules:
  - apiGroups:
      - batch
    resources:
      - jobs
    resourceNames:
      {{- toYaml . | nindent 6 }}
    verbs:
      - get
      - list
      - watch
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ printf "%s-wait" $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- $labels | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
subjects:
  - kind: ServiceAccount
    name: {{ include "autopilot.serviceAccountName" (dict "ctx" $ctx "component" $.component "serviceAccount" $values.serviceAccount) | quote }}
    namespace: {{ $ctx.Release.Namespace | quote }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ printf "%s-wait" $fullname | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The claims of a component's enabled, unshared volumes. Call with (dict "ctx" $ "component" "<name>"). */}}
{{- define "autopilot.pvc" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $fullname := include "autopilot.componentFullname" . }}
{{- $labels := include "autopilot.labels" . }}
{{- range $name, $volume := $values.persistence }}
{{- if and $volume.enabled (not $volume.sharedClaim) }}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ printf "%s-%s" $fullname $name | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- $labels | nindent 4 }}
  {{- $policy := dict }}
  {{- with $volume.resourcePolicy }}
  {{- $_ := set $policy "helm.sh/resource-policy" . }}
  {{- end }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "extra" $policy) }}
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
{{- end }}
{{- end -}}

{{/*
The HorizontalPodAutoscaler of a component, while autoscaling is on.
Call with (dict "ctx" $ "component" "<name>" "kind" "Deployment|StatefulSet").
*/}}
{{- define "autopilot.hpa" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if and $values.enabled $values.autoscaling.enabled }}
{{- $fullname := include "autopilot.componentFullname" . }}
{{- $autoscaling := $values.autoscaling }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: {{ .kind }}
    name: {{ $fullname | quote }}
  minReplicas: {{ $autoscaling.minReplicas | int }}
  maxReplicas: {{ $autoscaling.maxReplicas | int }}
  {{- if or $autoscaling.targetCPUUtilizationPercentage $autoscaling.targetMemoryUtilizationPercentage }}
  metrics:
    {{- with $autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . | int }}
    {{- end }}
    {{- with $autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . | int }}
    {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* The PodDisruptionBudget of a component, when it has one. Call with (dict "ctx" $ "component" "<name>"). */}}
{{- define "autopilot.pdb" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if and $values.enabled $values.pdb.create }}
{{- $pdb := $values.pdb }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "autopilot.componentFullname" . | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- if $pdb.minAvailable }}
  minAvailable: {{ $pdb.minAvailable | toJson }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable | default 1 | toJson }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "autopilot.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
