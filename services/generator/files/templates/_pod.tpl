{{/*
The pod template of a workload: its labels and annotations, then the pod spec.
Call with (dict "ctx" $ "component" "<name>" "values" <its values>
  ["waitFor" (list "<component>" ...)] ["waitForJobs" (list "<component>" ...)]
  ["batch" true] ["statefulSet" true]).
waitFor names components with a Service to wait for, waitForJobs the Jobs to wait for; batch
(Job, CronJob) sets restartPolicy and leaves out the probes; statefulSet leaves enabled volumes
to the StatefulSet's volumeClaimTemplates.
*/}}
{{- define "@@CHART@@.podTemplate" -}}
{{- $ctx := .ctx -}}
{{- $values := .values -}}
{{- $fullname := include "@@CHART@@.componentFullname" . -}}
{{- /* Wait targets of enabled components only: a component that is off never answers. */ -}}
{{- $waitServices := list -}}
{{- $waitJobs := list -}}
{{- if or .waitFor .waitForJobs -}}
{{- if $values.waitFor.enabled -}}
{{- range $name := .waitFor -}}
{{- $target := index $ctx.Values (include "@@CHART@@.valuesKey" $name) -}}
{{- if $target.enabled -}}
{{- with $target.service.ports -}}
{{- $waitServices = append $waitServices (printf "%s:%d" (include "@@CHART@@.componentFullname" (dict "ctx" $ctx "component" $name)) ((index . 0).port | int)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $waitJobs = include "@@CHART@@.waitJobNames" (dict "ctx" $ctx "jobs" .waitForJobs) | fromJsonArray -}}
{{- end -}}
{{- end -}}
metadata:
  labels:
    {{- include "@@CHART@@.labels" (dict "ctx" $ctx "component" .component "podLabels" $values.podLabels) | nindent 4 }}
  annotations:
    {{- /* What the component's ConfigMaps are rendered from (file contents name Services by the
    release's fullname): a change to any of it rolls the pods. */}}
    {{- $config := list $values.envConfig $values.configFiles (include "@@CHART@@.fullname" $ctx) }}
    {{- $checksum := toJson $config | sha256sum }}
    {{- if or $values.podAnnotations $ctx.Values.commonAnnotations }}
    {{- toYaml (merge (dict "checksum/config" $checksum) $values.podAnnotations ($ctx.Values.commonAnnotations | default dict)) | nindent 4 }}
    {{- else }}
    checksum/config: {{ $checksum | quote }}
    {{- end }}
spec:
  serviceAccountName: {{ include "@@CHART@@.serviceAccountName" (dict "ctx" $ctx "component" .component "serviceAccount" $values.serviceAccount) | quote }}
  automountServiceAccountToken: {{ $values.automountServiceAccountToken | toJson }}
  {{- with include "@@CHART@@.imagePullSecrets" $ctx | trim }}
  {{- . | nindent 2 }}
  {{- end }}
  {{- if $values.hostNetwork }}
  hostNetwork: true
  dnsPolicy: ClusterFirstWithHostNet
  {{- end }}
  {{- with $values.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  {{- with $values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $values.tolerations }}
  tolerations:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" .) | nindent 4 }}
  {{- end }}
  {{- with $values.affinity }}
  affinity:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" .) | nindent 4 }}
  {{- end }}
  {{- with $values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" .) | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds | int }}
  {{- if .batch }}
  restartPolicy: {{ $values.job.restartPolicy | quote }}
  {{- end }}
  securityContext:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $values.podSecurityContext) | nindent 4 }}
  {{- if or $waitServices $waitJobs }}
  initContainers:
    {{- include "@@CHART@@.waitInitContainers" (dict "ctx" $ctx "values" $values "services" $waitServices "jobs" $waitJobs) | trim | nindent 4 }}
  {{- end }}
  containers:
    {{- include "@@CHART@@.container" (dict "ctx" $ctx "component" .component "values" $values "fullname" $fullname "batch" .batch) | nindent 4 }}
  volumes:
    {{- include "@@CHART@@.podVolumes" (dict "ctx" $ctx "values" $values "fullname" $fullname "waitJobs" $waitJobs "statefulSet" .statefulSet) | trim | nindent 4 }}
{{- end -}}

{{/*
Names of the Jobs a component waits for, of enabled components only, as a JSON list.
Call with (dict "ctx" $ "jobs" (list "<component>" ...)).
*/}}
{{- define "@@CHART@@.waitJobNames" -}}
{{- $names := list -}}
{{- range $name := .jobs -}}
{{- if (index $.ctx.Values (include "@@CHART@@.valuesKey" $name)).enabled -}}
{{- $names = append $names (include "@@CHART@@.jobName" (dict "ctx" $.ctx "component" $name)) -}}
{{- end -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/*
The main container of a component, as a list item.
Call with (dict "ctx" $ "component" "<name>" "values" <its values> "fullname" <componentFullname> ["batch" true]).
*/}}
{{- define "@@CHART@@.container" -}}
{{- $ctx := .ctx -}}
{{- $values := .values -}}
- name: {{ .component }}
  image: {{ include "@@CHART@@.image" (dict "image" $values.image "global" $ctx.Values.global) | quote }}
  imagePullPolicy: {{ $values.image.pullPolicy | quote }}
  {{- with $values.command }}
  command:
    {{- range . }}
    - {{ . | quote }}
    {{- end }}
  {{- end }}
  {{- with $values.args }}
  args:
    {{- range . }}
    - {{ . | quote }}
    {{- end }}
  {{- end }}
  {{- with $values.workingDir }}
  workingDir: {{ . | quote }}
  {{- end }}
  securityContext:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $values.containerSecurityContext) | nindent 4 }}
  {{- if or $values.env $values.secretEnv $values.refEnv $values.extraEnv }}
  env:
    {{- include "@@CHART@@.env" (dict "ctx" $ctx "values" $values) | trim | nindent 4 }}
  {{- end }}
  {{- if $values.envConfig }}
  envFrom:
    - configMapRef:
        name: {{ printf "%s-env" .fullname | quote }}
  {{- end }}
  {{- with $values.containerPorts }}
  ports:
    {{- range . }}
    - name: {{ .name | quote }}
      containerPort: {{ .containerPort | int }}
      protocol: {{ .protocol | default "TCP" | quote }}
    {{- end }}
  {{- end }}
  {{- if not .batch }}
  {{- with include "@@CHART@@.probes" $values }}
  {{- . | trim | nindent 2 }}
  {{- end }}
  {{- end }}
  {{- with $values.resources }}
  resources:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" .) | nindent 4 }}
  {{- end }}
  volumeMounts:
    {{- range $i, $path := $values.writablePaths }}
    - name: {{ printf "writable-%d" $i | quote }}
      mountPath: {{ $path | quote }}
    {{- end }}
    {{- range $i, $tmpfs := $values.tmpfs }}
    - name: {{ printf "tmpfs-%d" $i | quote }}
      mountPath: {{ $tmpfs.path | quote }}
    {{- end }}
    {{- range $key, $file := $values.configFiles }}
    - name: config-files
      mountPath: {{ $file.path | quote }}
      subPath: {{ $key | quote }}
      readOnly: true
    {{- end }}
    {{- range $values.secretFiles }}
    - name: secret-files
      mountPath: {{ .path | quote }}
      subPath: {{ .secret | quote }}
      readOnly: true
    {{- end }}
    {{- range $name, $volume := $values.persistence }}
    - name: {{ $name | quote }}
      mountPath: {{ $volume.mountPath | quote }}
      {{- with $volume.subPath }}
      subPath: {{ . | quote }}
      {{- end }}
      {{- if $volume.readOnly }}
      readOnly: true
      {{- end }}
    {{- end }}
    {{- with $values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/*
A container's env list: env, secretEnv, the Secret keys refEnv reads, refEnv, then extraEnv.
Call with (dict "ctx" $ "values" <component values>).
*/}}
{{- define "@@CHART@@.env" -}}
{{- $ctx := .ctx -}}
{{- $secretName := include "@@CHART@@.secretName" $ctx -}}
{{- range $name, $value := .values.env }}
- name: {{ $name | quote }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name, $key := .values.secretEnv }}
- name: {{ $name | quote }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName | quote }}
      key: {{ $key | quote }}
{{- end }}
{{- range include "@@CHART@@.refSecrets" (dict "refEnv" .values.refEnv) | fromJsonArray }}
- name: {{ include "@@CHART@@.refSecretVar" . | quote }}
  valueFrom:
    secretKeyRef:
      name: {{ $secretName | quote }}
      key: {{ . | quote }}
{{- end }}
{{- range $name, $format := .values.refEnv }}
- name: {{ $name | quote }}
  value: {{ include "@@CHART@@.refValue" (dict "ctx" $ctx "format" $format) | quote }}
{{- end }}
{{- with .values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The enabled liveness, readiness and startup probes of a container, as YAML (empty when none is).
Call with the component's values.
*/}}
{{- define "@@CHART@@.probes" -}}
{{- range $probe := list "livenessProbe" "readinessProbe" "startupProbe" }}
{{- $settings := get $ $probe }}
{{- if $settings.enabled }}
{{ $probe }}:
  {{- include "@@CHART@@.yamlMap" (omit $settings "enabled") | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
Init containers that wait for Services to answer and for Jobs to complete, as list items.
Call with (dict "ctx" $ "values" <component values> "services" (list "<host>:<port>" ...) "jobs" (list "<job>" ...)).
*/}}
{{- define "@@CHART@@.waitInitContainers" -}}
{{- $ctx := .ctx -}}
{{- $timeout := .values.waitFor.timeoutSeconds | int -}}
{{- with .services }}
- name: wait-for-services
  image: {{ include "@@CHART@@.image" (dict "image" $ctx.Values.utility.image "global" $ctx.Values.global) | quote }}
  imagePullPolicy: {{ $ctx.Values.utility.image.pullPolicy | quote }}
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
    - {{ $timeout | toString | quote }}
    {{- range . }}
    - {{ . | quote }}
    {{- end }}
  securityContext:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $ctx.Values.utility.containerSecurityContext) | nindent 4 }}
  resources:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $ctx.Values.utility.resources) | nindent 4 }}
{{- end }}
{{- with .jobs }}
{{- /* The only container that gets an API token: it may read just these Jobs (role.yaml). */}}
- name: wait-for-jobs
  image: {{ include "@@CHART@@.image" (dict "image" $ctx.Values.utility.kubectl.image "global" $ctx.Values.global) | quote }}
  imagePullPolicy: {{ $ctx.Values.utility.kubectl.image.pullPolicy | quote }}
  command:
    - kubectl
  args:
    - wait
    - --for=condition=complete
    - {{ printf "--timeout=%ds" $timeout | quote }}
    - {{ printf "--namespace=%s" $ctx.Release.Namespace | quote }}
    - --cache-dir=/tmp/kube-cache
    {{- range . }}
    - {{ printf "job/%s" . | quote }}
    {{- end }}
  securityContext:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $ctx.Values.utility.containerSecurityContext) | nindent 4 }}
  resources:
    {{- include "@@CHART@@.toYaml" (dict "ctx" $ctx "value" $ctx.Values.utility.kubectl.resources) | nindent 4 }}
  volumeMounts:
    - name: wait-jobs-token
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
    - name: wait-jobs-tmp
      mountPath: /tmp
{{- end }}
{{- end -}}

{{/*
The volumes of a pod, as list items: writable paths, tmpfs, config and secret files, the
wait-for-jobs token, persistence, then extraVolumes.
Call with (dict "ctx" $ "values" <component values> "fullname" <componentFullname>
  "waitJobs" <list> ["statefulSet" true]).
*/}}
{{- define "@@CHART@@.podVolumes" -}}
{{- $ctx := .ctx -}}
{{- $fullname := .fullname -}}
{{- range $i, $path := .values.writablePaths }}
- name: {{ printf "writable-%d" $i | quote }}
  emptyDir: {}
{{- end }}
{{- range $i, $tmpfs := .values.tmpfs }}
- name: {{ printf "tmpfs-%d" $i | quote }}
  emptyDir:
    medium: Memory
    {{- with $tmpfs.sizeLimit }}
    sizeLimit: {{ . | quote }}
    {{- end }}
{{- end }}
{{- with .values.configFiles }}
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
{{- if .values.secretFiles }}
- name: secret-files
  secret:
    secretName: {{ include "@@CHART@@.secretName" $ctx | quote }}
    defaultMode: 288
{{- end }}
{{- if .waitJobs }}
{{- /* Projected like the kubelet's own token volume, but mounted by wait-for-jobs only. */}}
- name: wait-jobs-token
  projected:
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3600
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
- name: wait-jobs-tmp
  emptyDir:
    sizeLimit: 16Mi
{{- end }}
{{- range $name, $volume := .values.persistence }}
{{- if $.statefulSet }}
{{- if not $volume.enabled }}
- name: {{ $name | quote }}
  emptyDir: {}
{{- end }}
{{- else }}
- name: {{ $name | quote }}
  {{- if $volume.enabled }}
  persistentVolumeClaim:
    {{- if $volume.sharedClaim }}
    claimName: {{ include "@@CHART@@.sharedClaimName" (dict "ctx" $ctx "name" $volume.sharedClaim) | quote }}
    {{- else }}
    claimName: {{ printf "%s-%s" $fullname $name | quote }}
    {{- end }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- end }}
{{- end }}
{{- with .values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}
