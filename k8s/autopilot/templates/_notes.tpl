{{/*
Pieces of NOTES.txt, which calls notes.header, one notes.component per component, then
notes.secrets and notes.test when the chart has a Secret or a helm test.
*/}}

{{/* What was installed where. Call with the root context. */}}
{{- define "autopilot.notes.header" -}}
{{ .Chart.Name }} {{ .Chart.Version }} is installed as release {{ .Release.Name }} in namespace {{ .Release.Namespace }}.

Components:
{{- end -}}

{{/*
How to find a component's pods, its URL and port-forward when it has a Service, and a warning
while its image is missing. Call with (dict "ctx" $ "component" "<name>" "kind" "<workload kind>").
*/}}
{{- define "autopilot.notes.component" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
  - {{ .component }} ({{ .kind }}): kubectl --namespace {{ $ctx.Release.Namespace }} get {{ lower .kind }}s --selector app.kubernetes.io/instance={{ $ctx.Release.Name }},app.kubernetes.io/component={{ .component }}
{{- if hasPrefix "REPLACE-ME/" $values.image.repository }}
    WARNING: {{ .component }} has no image yet (the source only had a build context).
    Build and push it, then set {{ include "autopilot.valuesKey" .component }}.image.repository and {{ include "autopilot.valuesKey" .component }}.image.tag; until then its pods cannot start.
{{- end }}
{{- with $values.ingress }}
{{- if .enabled }}
    URL: {{ if .tls }}https{{ else }}http{{ end }}://{{ .hostname | default "<ingress address>" }}{{ .path }}
{{- end }}
{{- end }}
{{- with ($values.service | default dict).ports }}
    Local access: kubectl --namespace {{ $ctx.Release.Namespace }} port-forward service/{{ include "autopilot.componentFullname" $ }} {{ (index . 0).port | int }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Where secrets come from when they are not the chart's own. Call with the root context. */}}
{{- define "autopilot.notes.secrets" -}}
{{- if .Values.secrets.existingSecret }}

Secrets are read from the existing Secret {{ .Values.secrets.existingSecret }}; it must hold every key of secrets.values.
{{- end }}
{{- end -}}

{{/* How to run the helm test. Call with the root context. */}}
{{- define "autopilot.notes.test" -}}
{{- if .Values.tests.enabled }}

Check that every Service answers:

  helm test {{ .Release.Name }} --namespace {{ .Release.Namespace }}
{{- end }}
{{- end -}}
