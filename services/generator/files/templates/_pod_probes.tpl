      {{- range $probe := list "livenessProbe" "readinessProbe" "startupProbe" }}
      {{- $settings := get $.Values.@@KEY@@ $probe }}
      {{- if $settings.enabled }}
      {{ $probe }}:
        {{- toYaml (omit $settings "enabled") | nindent 8 }}
      {{- end }}
      {{- end }}
