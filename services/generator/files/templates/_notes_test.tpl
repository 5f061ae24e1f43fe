{{- if .Values.tests.enabled }}

Check that every Service answers:

  helm test {{ .Release.Name }} --namespace {{ .Release.Namespace }}
{{- end }}
