{{- if .Values.@@KEY@@.ingress.enabled }}
    URL: {{ if .Values.@@KEY@@.ingress.tls }}https{{ else }}http{{ end }}://{{ .Values.@@KEY@@.ingress.hostname | default "<ingress address>" }}{{ .Values.@@KEY@@.ingress.path }}
{{- end }}
{{- with .Values.@@KEY@@.service.ports }}
    Local access: kubectl --namespace {{ $.Release.Namespace }} port-forward service/{{ $fullname }} {{ (index . 0).port | int }}
{{- end }}
