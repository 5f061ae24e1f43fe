    {{- if .Values.@@TARGET_KEY@@.enabled }}
    {{- with .Values.@@TARGET_KEY@@.service.ports }}
    {{- $waitServices = append $waitServices (printf "%s:%d" (include "@@CHART@@.componentFullname" (dict "ctx" $ "component" "@@TARGET@@")) ((index . 0).port | int)) }}
    {{- end }}
    {{- end }}
