    {{- range $name, $volume := .Values.@@KEY@@.persistence }}
    {{- if not $volume.enabled }}
    - name: {{ $name | quote }}
      emptyDir: {}
    {{- end }}
    {{- end }}
