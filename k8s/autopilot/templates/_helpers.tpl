{{/*
Named templates shared by every object of the chart.
Every value a user can set is data: it is printed with quote, toYaml or toJson only.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "autopilot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-qualified name, 63 characters at most; fullnameOverride wins. */}}
{{- define "autopilot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "autopilot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The values key of a component: its name in camelCase ("my-db" becomes "myDb"). Call with the name.
*/}}
{{- define "autopilot.valuesKey" -}}
{{- $parts := splitList "-" . -}}
{{- first $parts -}}
{{- range rest $parts -}}
{{- title . -}}
{{- end -}}
{{- end -}}

{{/*
Name of a component's objects. Call with (dict "ctx" $ "component" "<name>").
At most 52 characters: a StatefulSet's controller-revision-hash label appends 11, and
the headless Service appends "-headless", and both must stay within 63.
Every object of a component and every reference to it asks for this name, so each is built once
per render and kept in the root context, which lives for one render, under this template's name.
*/}}
{{- define "autopilot.componentFullname" -}}
{{- $names := get .ctx "autopilot.componentFullname" -}}
{{- if not $names -}}
{{- $names = dict -}}
{{- $_ := set .ctx "autopilot.componentFullname" $names -}}
{{- end -}}
{{- if not (hasKey $names .component) -}}
{{- $fullname := include "autopilot.fullname" .ctx | trunc (int (sub 51 (len .component))) | trimSuffix "-" -}}
{{- $_ := set $names .component (printf "%s-%s" $fullname .component) -}}
{{- end -}}
{{- get $names .component -}}
{{- end -}}

{{/*
Secret keys that a component's refEnv formats read, as a JSON list.
Call with (dict "refEnv" <map of name: format>).
*/}}
{{- define "autopilot.refSecrets" -}}
{{- $keys := list -}}
{{- range $name, $format := .refEnv -}}
{{- /* Sprig compiles the pattern on every call: only where it can match. */ -}}
{{- if contains "{secret:" (toString $format) -}}
{{- range regexFindAll "\\{secret:[a-z0-9]([-a-z0-9]*[a-z0-9])?\\}" (toString $format) -1 -}}
{{- $keys = append $keys (. | trimPrefix "{secret:" | trimSuffix "}") -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $keys | uniq | sortAlpha | toJson -}}
{{- end -}}

{{/* The env variable that carries a chart Secret key into refEnv values. Call with the key. */}}
{{- define "autopilot.refSecretVar" -}}
{{- printf "AUTOPILOT_SECRET_%s" (. | upper | replace "-" "_") -}}
{{- end -}}

{{/*
A refEnv value: {host:<component>} becomes that component's Service name, {secret:<key>}
becomes $(AUTOPILOT_SECRET_<KEY>), which Kubernetes expands from the env defined before it.
Every other character is literal: "$" is doubled so Kubernetes prints it as written.
With "file" true (a ConfigMap file) only {host:...} is replaced and "$" stays single: a
secret never lands in a ConfigMap.
Call with (dict "ctx" $ "format" <string> ["file" true]).
*/}}
{{- define "autopilot.refValue" -}}
{{- $pattern := "\\{(host|secret):[a-z0-9]([-a-z0-9]*[a-z0-9])?\\}" -}}
{{- $file := .file | default false -}}
{{- if $file -}}
{{- $pattern = "\\{host:[a-z0-9]([-a-z0-9]*[a-z0-9])?\\}" -}}
{{- end -}}
{{- /* The text before each reference is what precedes its first occurrence in the rest. */ -}}
{{- $rest := toString .format -}}
{{- $out := "" -}}
{{- range $ref := regexFindAll $pattern $rest -1 -}}
{{- $split := splitn $ref 2 $rest -}}
{{- $out = print $out (ternary $split._0 ($split._0 | replace "$" "$$") $file) -}}
{{- $rest = $split._1 -}}
{{- $parts := splitList ":" ($ref | trimPrefix "{" | trimSuffix "}") -}}
{{- if eq (first $parts) "host" -}}
{{- $out = print $out (include "autopilot.componentFullname" (dict "ctx" $.ctx "component" (last $parts))) -}}
{{- else -}}
{{- $out = print $out (printf "$(%s)" (include "autopilot.refSecretVar" (last $parts))) -}}
{{- end -}}
{{- end -}}
{{- $out = print $out (ternary $rest ($rest | replace "$" "$$") $file) -}}
{{- $out -}}
{{- end -}}

{{/*
NetworkPolicy ports, as list items: the numbers in .only (protocol from the matching container
port), or every container port when .only is empty. Never an empty list, which would admit every
port. Call with (dict "ports" <containerPorts> "only" <list of numbers or nil>).
*/}}
{{- define "autopilot.networkPolicyPorts" -}}
{{- $sep := "" -}}
{{- if .only -}}
{{- range $n := .only -}}
{{- $protocol := "TCP" -}}
{{- range $.ports -}}
{{- if eq (int .containerPort) (int $n) -}}
{{- $protocol = .protocol | default "TCP" -}}
{{- end -}}
{{- end -}}
{{ $sep }}- port: {{ int $n }}
  protocol: {{ $protocol | quote }}
{{- $sep = "\n" -}}
{{- end -}}
{{- else -}}
{{- range .ports -}}
{{ $sep }}- port: {{ int .containerPort }}
  protocol: {{ .protocol | default "TCP" | quote }}
{{- $sep = "\n" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Selector labels, sorted by key; written out, not with toYaml (a YAML round trip per call).
Call with (dict "ctx" $ "component" "<name>"); component may be "".
*/}}
{{- define "autopilot.selectorLabels" -}}
{{- with .component }}app.kubernetes.io/component: {{ . | quote }}
{{ end -}}
app.kubernetes.io/instance: {{ .ctx.Release.Name | quote }}
app.kubernetes.io/name: {{ include "autopilot.name" .ctx | quote }}
{{- end -}}

{{/*
A value as YAML, converted once per render for each distinct value and then reused: the
components of a chart mostly share their security contexts, resources and strategies. A map is
written by yamlMap (so not for label maps), anything else by toYaml (a JSON encoding and a YAML round trip). Both print
what toJson encodes, so the JSON is the key; the results are kept in the root context, which
lives for one render, under this template's name. Call with (dict "ctx" $ "value" <any>).
*/}}
{{- define "autopilot.toYaml" -}}
{{- $converted := get .ctx "autopilot.toYaml" -}}
{{- if not $converted -}}
{{- $converted = dict -}}
{{- $_ := set .ctx "autopilot.toYaml" $converted -}}
{{- end -}}
{{- $key := toJson .value -}}
{{- if not (hasKey $converted $key) -}}
{{- if kindIs "map" .value -}}
{{- $_ := set $converted $key (include "autopilot.yamlMap" .value) -}}
{{- else -}}
{{- $_ := set $converted $key (toYaml .value) -}}
{{- end -}}
{{- end -}}
{{- get $converted $key -}}
{{- end -}}

{{/*
A map as YAML lines, without toYaml's YAML round trip (its cost grows with every line): keys
sorted, as toYaml sorts them; a nested non-empty map as indented lines; every other value as
JSON, which YAML reads as the same value (deeper maps and lists print in JSON's flow style); an
empty map as {}. Keys in its first two levels are printed as they are, so it is for Kubernetes
fields and resource names: label maps (nodeSelector, label selectors) keep toYaml, which quotes
a key such as "on" that YAML would read as a boolean. Call with the map.
*/}}
{{- define "autopilot.yamlMap" -}}
{{- if not . -}}
{}
{{- end -}}
{{- $first := true -}}
{{- range $key, $value := . -}}
{{- if not $first }}
{{ end -}}
{{- $first = false -}}
{{- if and (kindIs "map" $value) $value -}}
{{ $key }}:
{{- range $field, $setting := $value }}
  {{ $field }}: {{ toJson $setting }}
{{- end -}}
{{- else -}}
{{ $key }}: {{ toJson $value }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Standard labels, then commonLabels, then podLabels (on a pod template; earlier sources win, as
with merge, which also lets a later source fill an empty value). Every object calls this, so it
avoids merge and toYaml (reflection and a YAML round trip): sorted lines, values quoted, and
keys too but the standard ones.
Every object of a component asks for the same labels, so each is built once per render (by
labelLines) and kept in the root context, which lives for one render, under this template's name.
Call with (dict "ctx" $ "component" "<name>" ["podLabels" <map>]); component may be "".
*/}}
{{- define "autopilot.labels" -}}
{{- $built := get .ctx "autopilot.labels" -}}
{{- if not $built -}}
{{- $built = dict -}}
{{- $_ := set .ctx "autopilot.labels" $built -}}
{{- end -}}
{{- $key := printf "%s/" (.component | default "") -}}
{{- with .podLabels -}}
{{- $key = print $key (toJson .) -}}
{{- end -}}
{{- if not (hasKey $built $key) -}}
{{- $_ := set $built $key (include "autopilot.labelLines" .) -}}
{{- end -}}
{{- get $built $key -}}
{{- end -}}

{{/* The lines of labels, built anew. Call like labels. */}}
{{- define "autopilot.labelLines" -}}
{{- $name := include "autopilot.name" .ctx -}}
{{- $labels := dict "app.kubernetes.io/name" $name "app.kubernetes.io/instance" .ctx.Release.Name "helm.sh/chart" (include "autopilot.chart" .ctx) "app.kubernetes.io/managed-by" .ctx.Release.Service "app.kubernetes.io/part-of" $name -}}
{{- if .component -}}
{{- $_ := set $labels "app.kubernetes.io/component" .component -}}
{{- end -}}
{{- with .ctx.Chart.AppVersion -}}
{{- $_ := set $labels "app.kubernetes.io/version" (. | replace "+" "_" | trunc 63 | trimSuffix "-") -}}
{{- end -}}
{{- $user := dict -}}
{{- range $source := list .ctx.Values.commonLabels .podLabels -}}
{{- range $key, $value := $source -}}
{{- if not (get $labels $key) -}}
{{- $_ := set $labels $key $value -}}
{{- $_ := set $user $key true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $first := true -}}
{{- range $key, $value := $labels -}}
{{- if not $first }}
{{ end -}}
{{- $first = false -}}
{{- if hasKey $user $key -}}{{ $key | quote }}{{- else -}}{{ $key }}{{- end -}}: {{ $value | toString | quote }}
{{- end -}}
{{- end -}}

{{/* Pod template labels: labels with podLabels. Call with (dict "ctx" $ "component" "<name>" "podLabels" <map>). */}}
{{- define "autopilot.podLabels" -}}
{{- include "autopilot.labels" . -}}
{{- end -}}

{{/*
Object annotations: the checkov.io/skip annotations of acceptedChecks (as checkovSkips writes
them), then extra, then commonAnnotations (earlier sources win, as with merge); empty when there
are none, which most objects have (so then nothing is merged or converted).
Call with (dict "ctx" $ ["extra" <map>] ["acceptedChecks" <map of check: reason>]).
*/}}
{{- define "autopilot.annotations" -}}
{{- $common := .ctx.Values.commonAnnotations -}}
{{- if or .extra .acceptedChecks $common -}}
{{- $annotations := dict -}}
{{- $checks := .acceptedChecks | default dict -}}
{{- range $i, $check := keys $checks | sortAlpha -}}
{{- $_ := set $annotations (printf "checkov.io/skip%d" (add1 $i)) (printf "%s=%s" $check (index $checks $check | toString | replace "=" ":")) -}}
{{- end -}}
{{- toYaml (merge $annotations (.extra | default dict) ($common | default dict)) -}}
{{- end -}}
{{- end -}}

{{/* ServiceAccount name of a component. Call with (dict "ctx" $ "component" "<name>" "serviceAccount" <values>). */}}
{{- define "autopilot.serviceAccountName" -}}
{{- if .serviceAccount.create -}}
{{- default (include "autopilot.componentFullname" .) .serviceAccount.name -}}
{{- else -}}
{{- default "default" .serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding the chart's secret values. */}}
{{- define "autopilot.secretName" -}}
{{- $secrets := .Values.secrets | default dict -}}
{{- default (include "autopilot.fullname" .) $secrets.existingSecret -}}
{{- end -}}

{{/* Image reference: registry/repository, then @digest or :tag. Call with (dict "image" <values> "global" .Values.global). */}}
{{- define "autopilot.image" -}}
{{- $registry := .image.registry -}}
{{- if .global.imageRegistry -}}
{{- $registry = .global.imageRegistry -}}
{{- end -}}
{{- $repository := .image.repository -}}
{{- if $registry -}}
{{- $repository = printf "%s/%s" $registry .image.repository -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repository .image.digest -}}
{{- else if .image.tag -}}
{{- printf "%s:%s" $repository (toString .image.tag) -}}
{{- else -}}
{{- $repository -}}
{{- end -}}
{{- end -}}

{{/* imagePullSecrets of a pod, from global.imagePullSecrets. */}}
{{- define "autopilot.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* storageClassName of a claim: empty uses the cluster default, "-" disables dynamic provisioning. */}}
{{- define "autopilot.storageClass" -}}
{{- if eq .storageClass "-" }}
storageClassName: ""
{{- else if .storageClass }}
storageClassName: {{ .storageClass | quote }}
{{- end }}
{{- end -}}

{{/*
Name of a one-shot Job: the component's name and the release revision, so every install and
upgrade runs it anew (a Job's pod template is immutable). Call with (dict "ctx" $ "component" "<name>").
*/}}
{{- define "autopilot.jobName" -}}
{{- $fullname := include "autopilot.componentFullname" (dict "ctx" .ctx "component" .component) -}}
{{- printf "%s-%d" ($fullname | trunc 55 | trimSuffix "-") (.ctx.Release.Revision | int) -}}
{{- end -}}

{{/* Name of a claim several components share (sharedVolumes). Call with (dict "ctx" $ "name" "<claim>"). */}}
{{- define "autopilot.sharedClaimName" -}}
{{- $fullname := include "autopilot.fullname" .ctx | trunc (int (sub 62 (len .name))) | trimSuffix "-" -}}
{{- printf "%s-%s" $fullname .name -}}
{{- end -}}

{{/*
checkov.io/skip annotations for the checks a component does not pass on purpose, with the reason
of its security exception (checkov reads `<check>=<reason>`, so "=" in a reason becomes ":").
The workloads pass acceptedChecks to annotations instead (no YAML round trip).
Call with the component's acceptedChecks map; returns YAML for fromYaml.
*/}}
{{- define "autopilot.checkovSkips" -}}
{{- $out := dict -}}
{{- range $i, $check := keys (. | default dict) | sortAlpha -}}
{{- $_ := set $out (printf "checkov.io/skip%d" (add1 $i)) (printf "%s=%s" $check (index $ $check | toString | replace "=" ":")) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
