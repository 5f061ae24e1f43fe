    {{- range $name, $volume := .Values.@@KEY@@.persistence }}
    - name: {{ $name | quote }}
      {{- if $volume.enabled }}
      persistentVolumeClaim:
        claimName: {{ printf "%s-%s" $fullname $name | quote }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
