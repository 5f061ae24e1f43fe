  {{- if .Values.@@KEY@@.waitFor.enabled }}
  initContainers:
    - name: wait-for-services
      image: {{ include "@@CHART@@.image" (dict "image" .Values.utility.image "global" .Values.global) | quote }}
      imagePullPolicy: {{ .Values.utility.image.pullPolicy | quote }}
      command:
        - /bin/sh
        - -c
        - |
          deadline=$(( $(date +%s) + $0 ))
          for target in "$@"; do
            until nc -z -w 2 "${target%:*}" "${target##*:}"; do
              if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out waiting for $target"; exit 1; fi
              echo "waiting for $target"; sleep 2
            done
          done
      args:
        - {{ .Values.@@KEY@@.waitFor.timeoutSeconds | int | toString | quote }}
@@WAIT_TARGETS@@
      securityContext:
        {{- toYaml .Values.utility.containerSecurityContext | nindent 8 }}
      resources:
        {{- toYaml .Values.utility.resources | nindent 8 }}
  {{- end }}
