    {{- range $name, $volume := .Values.@@KEY@@.persistence }}
    - name: {{ $name | quote }}
      {{- if $volume.enabled }}
      persistentVolumeClaim:
        {{- if $volume.sharedClaim }}
        claimName: {{ include "@@CHART@@.sharedClaimName" (dict "ctx" $ "name" $volume.sharedClaim) | quote }}
        {{- else }}
        claimName: {{ printf "%s-%s" $fullname $name | quote }}
        {{- end }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
