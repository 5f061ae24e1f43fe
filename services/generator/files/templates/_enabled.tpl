{{- if .Values.@@KEY@@.enabled }}
@@BODY@@
{{- end }}
