{{- if .Values.secrets.existingSecret }}

Secrets are read from the existing Secret {{ .Values.secrets.existingSecret }}; it must hold every key of secrets.values.
{{- end }}
