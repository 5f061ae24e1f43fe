metadata:
  labels:
    {{- include "@@CHART@@.podLabels" (dict "ctx" $ "component" "@@COMPONENT@@" "podLabels" .Values.@@KEY@@.podLabels) | nindent 4 }}
  annotations:
    {{- $podAnnotations := dict "checksum/config" (include (print $.Template.BasePath "/@@COMPONENT@@/configmap.yaml") $ | sha256sum) }}
    {{- toYaml (merge $podAnnotations .Values.@@KEY@@.podAnnotations (.Values.commonAnnotations | default dict)) | nindent 4 }}
spec:
  serviceAccountName: {{ include "@@CHART@@.serviceAccountName" (dict "ctx" $ "component" "@@COMPONENT@@" "serviceAccount" .Values.@@KEY@@.serviceAccount) | quote }}
  automountServiceAccountToken: {{ .Values.@@KEY@@.automountServiceAccountToken | toJson }}
  {{- include "@@CHART@@.imagePullSecrets" . | nindent 2 }}
  {{- if .Values.@@KEY@@.hostNetwork }}
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  {{- with .Values.@@KEY@@.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  {{- with .Values.@@KEY@@.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.@@KEY@@.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.@@KEY@@.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.@@KEY@@.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.@@KEY@@.terminationGracePeriodSeconds | int }}
@@RESTART_POLICY@@
  securityContext:
    {{- toYaml .Values.@@KEY@@.podSecurityContext | nindent 4 }}
@@INIT@@
  containers:
    - name: @@COMPONENT@@
      image: {{ include "@@CHART@@.image" (dict "image" .Values.@@KEY@@.image "global" .Values.global) | quote }}
      imagePullPolicy: {{ .Values.@@KEY@@.image.pullPolicy | quote }}
      {{- with .Values.@@KEY@@.command }}
      command:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.@@KEY@@.args }}
      args:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.@@KEY@@.workingDir }}
      workingDir: {{ . | quote }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.@@KEY@@.containerSecurityContext | nindent 8 }}
      {{- if or .Values.@@KEY@@.env .Values.@@KEY@@.secretEnv .Values.@@KEY@@.refEnv .Values.@@KEY@@.extraEnv }}
      env:
        {{- range $name, $value := .Values.@@KEY@@.env }}
        - name: {{ $name | quote }}
          value: {{ $value | toString | quote }}
        {{- end }}
        {{- range $name, $key := .Values.@@KEY@@.secretEnv }}
        - name: {{ $name | quote }}
          valueFrom:
            secretKeyRef:
              name: {{ include "@@CHART@@.secretName" $ | quote }}
              key: {{ $key | quote }}
        {{- end }}
        {{- range include "@@CHART@@.refSecrets" (dict "refEnv" .Values.@@KEY@@.refEnv) | fromJsonArray }}
        - name: {{ include "@@CHART@@.refSecretVar" . | quote }}
          valueFrom:
            secretKeyRef:
              name: {{ include "@@CHART@@.secretName" $ | quote }}
              key: {{ . | quote }}
        {{- end }}
        {{- range $name, $format := .Values.@@KEY@@.refEnv }}
        - name: {{ $name | quote }}
          value: {{ include "@@CHART@@.refValue" (dict "ctx" $ "format" $format) | quote }}
        {{- end }}
        {{- with .Values.@@KEY@@.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      {{- if .Values.@@KEY@@.envConfig }}
      envFrom:
        - configMapRef:
            name: {{ printf "%s-env" $fullname | quote }}
      {{- end }}
      {{- with .Values.@@KEY@@.containerPorts }}
      ports:
        {{- range . }}
        - name: {{ .name | quote }}
          containerPort: {{ .containerPort | int }}
          protocol: {{ .protocol | default "TCP" | quote }}
        {{- end }}
      {{- end }}
@@PROBES@@
      {{- with .Values.@@KEY@@.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        {{- range $i, $path := .Values.@@KEY@@.writablePaths }}
        - name: {{ printf "writable-%d" $i | quote }}
          mountPath: {{ $path | quote }}
        {{- end }}
        {{- range $i, $tmpfs := .Values.@@KEY@@.tmpfs }}
        - name: {{ printf "tmpfs-%d" $i | quote }}
          mountPath: {{ $tmpfs.path | quote }}
        {{- end }}
        {{- range $key, $file := .Values.@@KEY@@.configFiles }}
        - name: config-files
          mountPath: {{ $file.path | quote }}
          subPath: {{ $key | quote }}
          readOnly: true
        {{- end }}
        {{- range .Values.@@KEY@@.secretFiles }}
        - name: secret-files
          mountPath: {{ .path | quote }}
          subPath: {{ .secret | quote }}
          readOnly: true
        {{- end }}
        {{- range $name, $volume := .Values.@@KEY@@.persistence }}
        - name: {{ $name | quote }}
          mountPath: {{ $volume.mountPath | quote }}
          {{- with $volume.subPath }}
          subPath: {{ . | quote }}
          {{- end }}
          {{- if $volume.readOnly }}
          readOnly: true
          {{- end }}
        {{- end }}
        {{- with .Values.@@KEY@@.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    {{- range $i, $path := .Values.@@KEY@@.writablePaths }}
    - name: {{ printf "writable-%d" $i | quote }}
      emptyDir: {}
    {{- end }}
    {{- range $i, $tmpfs := .Values.@@KEY@@.tmpfs }}
    - name: {{ printf "tmpfs-%d" $i | quote }}
      emptyDir:
        medium: Memory
        {{- with $tmpfs.sizeLimit }}
        sizeLimit: {{ . | quote }}
        {{- end }}
    {{- end }}
    {{- with .Values.@@KEY@@.configFiles }}
    - name: config-files
      configMap:
        name: {{ printf "%s-files" $fullname | quote }}
        items:
          {{- range $key, $file := . }}
          - key: {{ $key | quote }}
            path: {{ $key | quote }}
            {{- if hasKey $file "mode" }}
            mode: {{ $file.mode | int }}
            {{- end }}
          {{- end }}
    {{- end }}
    {{- if .Values.@@KEY@@.secretFiles }}
    - name: secret-files
      secret:
        secretName: {{ include "@@CHART@@.secretName" $ | quote }}
        defaultMode: 288
    {{- end }}
@@WAIT_VOLUMES@@
@@PERSISTENCE_VOLUMES@@
    {{- with .Values.@@KEY@@.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
