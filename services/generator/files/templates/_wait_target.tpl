        {{- with .Values.@@TARGET_KEY@@.service.ports }}
        - {{ printf "%s:%d" (include "@@CHART@@.componentFullname" (dict "ctx" $ "component" "@@TARGET@@")) ((index . 0).port | int) | quote }}
        {{- end }}
