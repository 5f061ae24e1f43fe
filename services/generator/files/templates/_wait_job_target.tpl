    {{- if .Values.@@TARGET_KEY@@.enabled }}
    {{- $waitJobs = append $waitJobs (include "@@CHART@@.jobName" (dict "ctx" $ "component" "@@TARGET@@")) }}
    {{- end }}
