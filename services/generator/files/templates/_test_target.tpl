            {{- if .Values.@@KEY@@.enabled }}
            {{- range .Values.@@KEY@@.service.ports }}
            {{- if eq (.protocol | default "TCP") "TCP" }}
            - {{ printf "%s:%d" (include "@@CHART@@.componentFullname" (dict "ctx" $ "component" "@@COMPONENT@@")) (.port | int) | quote }}
            {{- end }}
            {{- end }}
            {{- end }}
