{{/*
Named templates shared by every object of the chart.
Every value a user can set is data: it is printed with quote, toYaml or toJson only.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "autopilot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-qualified name, 63 characters at most; fullnameOverride wins. */}}
{{- define "autopilot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "autopilot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Name of a component's objects. Call with (dict "ctx" $ "component" "<name>").
At most 52 characters: a StatefulSet's controller-revision-hash label appends 11, and
the headless Service appends "-headless", and both must stay within 63.
*/}}
{{- define "autopilot.componentFullname" -}}
{{- $fullname := include "autopilot.fullname" .ctx | trunc (int (sub 51 (len .component))) | trimSuffix "-" -}}
{{- printf "%s-%s" $fullname .component -}}
{{- end -}}

{{/* Selector labels. Call with (dict "ctx" $ "component" "<name>"). */}}
{{- define "autopilot.selectorLabels" -}}
{{- $labels := dict "app.kubernetes.io/name" (include "autopilot.name" .ctx) "app.kubernetes.io/instance" .ctx.Release.Name -}}
{{- if .component -}}
{{- $_ := set $labels "app.kubernetes.io/component" .component -}}
{{- end -}}
{{- toYaml $labels -}}
{{- end -}}

{{/* Standard labels, then commonLabels. Call with (dict "ctx" $ "component" "<name>"); component may be "". */}}
{{- define "autopilot.labels" -}}
{{- $labels := fromYaml (include "autopilot.selectorLabels" .) -}}
{{- $_ := set $labels "helm.sh/chart" (include "autopilot.chart" .ctx) -}}
{{- $_ = set $labels "app.kubernetes.io/managed-by" .ctx.Release.Service -}}
{{- $_ = set $labels "app.kubernetes.io/part-of" (include "autopilot.name" .ctx) -}}
{{- with .ctx.Chart.AppVersion -}}
{{- $_ = set $labels "app.kubernetes.io/version" (. | replace "+" "_" | trunc 63 | trimSuffix "-") -}}
{{- end -}}
{{- toYaml (merge $labels (.ctx.Values.commonLabels | default dict)) -}}
{{- end -}}

{{/* Pod template labels: standard labels, then podLabels. Call with (dict "ctx" $ "component" "<name>" "podLabels" ...). */}}
{{- define "autopilot.podLabels" -}}
{{- $labels := fromYaml (include "autopilot.labels" .) -}}
{{- toYaml (merge $labels (.podLabels | default dict)) -}}
{{- end -}}

{{/* commonAnnotations merged under object annotations; empty when there are none. Call with (dict "ctx" $ "extra" <map>). */}}
{{- define "autopilot.annotations" -}}
{{- $annotations := merge (dict) (.extra | default dict) (.ctx.Values.commonAnnotations | default dict) -}}
{{- if $annotations -}}
{{- toYaml $annotations -}}
{{- end -}}
{{- end -}}

{{/* ServiceAccount name of a component. Call with (dict "ctx" $ "component" "<name>" "serviceAccount" <values>). */}}
{{- define "autopilot.serviceAccountName" -}}
{{- if .serviceAccount.create -}}
{{- default (include "autopilot.componentFullname" .) .serviceAccount.name -}}
{{- else -}}
{{- default "default" .serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the chart's secret values. */}}
{{- define "autopilot.secretName" -}}
{{- $secrets := .Values.secrets | default dict -}}
{{- default (include "autopilot.fullname" .) $secrets.existingSecret -}}
{{- end -}}

{{/* Image reference: registry/repository, then @digest or :tag. Call with (dict "image" <values> "global" .Values.global). */}}
{{- define "autopilot.image" -}}
{{- $registry := .image.registry -}}
{{- if .global.imageRegistry -}}
{{- $registry = .global.imageRegistry -}}
{{- end -}}
{{- $repository := .image.repository -}}
{{- if $registry -}}
{{- $repository = printf "%s/%s" $registry .image.repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else if .image.tag -}}
{{- printf "%s:%s" $repository (toString .image.tag) -}}
{{- else -}}
{{- $repository -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets of a pod, from global.imagePullSecrets. */}}
{{- define "autopilot.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* storageClassName of a claim: empty uses the cluster default, "-" disables dynamic provisioning. */}}
{{- define "autopilot.storageClass" -}}
{{- if eq .storageClass "-" }}
storageClassName: ""
{{- else if .storageClass }}
storageClassName: {{ .storageClass | quote }}
{{- end }}
{{- end -}}
