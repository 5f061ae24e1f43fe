{{- if .Values.secrets.existingSecret }}

Secrets are read from the existing Secret {{ .Values.secrets.existingSecret }}; it must hold every key of secrets.values.
{{- else }}
{{- range $key, $value := .Values.secrets.values }}
{{- if and (not $value) (not (has $key $.Values.secrets.generate)) }}

WARNING: secret key {{ $key }} is empty. Set secrets.values.{{ $key }} (or secrets.existingSecret) and upgrade.
{{- end }}
{{- end }}
{{- end }}
