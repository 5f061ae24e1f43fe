  restartPolicy: {{ .Values.@@KEY@@.job.restartPolicy | quote }}
