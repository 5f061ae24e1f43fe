  {{- /* Wait targets of enabled components only: a component that is off never answers. */}}
  {{- $waitServices := list }}
  {{- $waitJobs := list }}
  {{- if .Values.@@KEY@@.waitFor.enabled }}
@@WAIT_TARGETS@@
@@WAIT_JOBS@@
  {{- end }}
  {{- if or $waitServices $waitJobs }}
  initContainers:
    {{- with $waitServices }}
    - name: wait-for-services
      image: {{ include "@@CHART@@.image" (dict "image" $.Values.utility.image "global" $.Values.global) | quote }}
      imagePullPolicy: {{ $.Values.utility.image.pullPolicy | quote }}
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
        - {{ $.Values.@@KEY@@.waitFor.timeoutSeconds | int | toString | quote }}
        {{- range . }}
        - {{ . | quote }}
        {{- end }}
      securityContext:
        {{- toYaml $.Values.utility.containerSecurityContext | nindent 8 }}
      resources:
        {{- toYaml $.Values.utility.resources | nindent 8 }}
    {{- end }}
    {{- with $waitJobs }}
    {{- /* The only container that gets an API token: it may read just these Jobs (role.yaml). */}}
    - name: wait-for-jobs
      image: {{ include "@@CHART@@.image" (dict "image" $.Values.utility.kubectl.image "global" $.Values.global) | quote }}
      imagePullPolicy: {{ $.Values.utility.kubectl.image.pullPolicy | quote }}
      command:
        - kubectl
      args:
        - wait
        - --for=condition=complete
        - {{ printf "--timeout=%ds" ($.Values.@@KEY@@.waitFor.timeoutSeconds | int) | quote }}
        - {{ printf "--namespace=%s" $.Release.Namespace | quote }}
        - --cache-dir=/tmp/kube-cache
        {{- range . }}
        - {{ printf "job/%s" . | quote }}
        {{- end }}
      securityContext:
        {{- toYaml $.Values.utility.containerSecurityContext | nindent 8 }}
      resources:
        {{- toYaml $.Values.utility.kubectl.resources | nindent 8 }}
      volumeMounts:
        - name: wait-jobs-token
          mountPath: /var/run/secrets/kubernetes.io/serviceaccount
          readOnly: true
        - name: wait-jobs-tmp
          mountPath: /tmp
    {{- end }}
  {{- end }}
