{{/*
How a component is reached: its Service, headless Service, Ingress and NetworkPolicy. Each
renders nothing while <component>.enabled is false.
Call with (dict "ctx" $ "component" "<name>").
*/}}

{{/* The Service of a component. Call with (dict "ctx" $ "component" "<name>"). */}}
{{- define "autopilot.service" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
{{- $service := $values.service }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "autopilot.componentFullname" . | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "extra" $service.annotations) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $service.type | quote }}
  ports:
    {{- range $service.ports }}
    - name: {{ .name | quote }}
      port: {{ .port | int }}
      targetPort: {{ .targetPort | toJson }}
      protocol: {{ .protocol | default "TCP" | quote }}
      {{- if and .nodePort (ne $service.type "ClusterIP") }}
      nodePort: {{ .nodePort | int }}
      {{- end }}
    {{- end }}
  selector:
    {{- include "autopilot.selectorLabels" . | nindent 4 }}
{{- range $alias := $service.aliases | default list }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $alias | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" $ | nindent 4 }}
spec:
  type: ClusterIP
  ports:
    {{- range $service.ports }}
    - name: {{ .name | quote }}
      port: {{ .port | int }}
      targetPort: {{ .targetPort | toJson }}
      protocol: {{ .protocol | default "TCP" | quote }}
    {{- end }}
  selector:
    {{- include "autopilot.selectorLabels" $ | nindent 4 }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
The headless Service of a component: gives each pod a stable DNS name (<pod>.<service>);
StatefulSets require it. Call with (dict "ctx" $ "component" "<name>").
*/}}
{{- define "autopilot.serviceHeadless" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if $values.enabled }}
apiVersion: v1
kind: Service
metadata:
  name: {{ printf "%s-headless" (include "autopilot.componentFullname" .) | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  type: ClusterIP
  clusterIP: None
  publishNotReadyAddresses: true
  {{- with $values.containerPorts }}
  ports:
    {{- range . }}
    - name: {{ .name | quote }}
      port: {{ .containerPort | int }}
      targetPort: {{ .name | quote }}
      protocol: {{ .protocol | default "TCP" | quote }}
    {{- end }}
  {{- end }}
  selector:
    {{- include "autopilot.selectorLabels" . | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The Ingress in front of a component's Service, while ingress.enabled. Call with (dict "ctx" $ "component" "<name>"). */}}
{{- define "autopilot.ingress" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if and $values.enabled $values.ingress.enabled }}
{{- $fullname := include "autopilot.componentFullname" . }}
{{- $ingress := $values.ingress }}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ $fullname | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx "extra" $ingress.annotations) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  {{- with $ingress.className }}
  ingressClassName: {{ . | quote }}
  {{- end }}
  {{- if $ingress.tls }}
  tls:
    - secretName: {{ $ingress.tlsSecretName | default (printf "%s-tls" $fullname) | quote }}
      {{- with $ingress.hostname }}
      hosts:
        - {{ . | quote }}
      {{- end }}
  {{- end }}
  rules:
    - http:
        paths:
          - path: {{ $ingress.path | quote }}
            pathType: {{ $ingress.pathType | quote }}
            backend:
              service:
                name: {{ $fullname | quote }}
                port:
                  {{- if kindIs "string" $ingress.servicePort }}
                  name: {{ $ingress.servicePort | quote }}
                  {{- else }}
                  number: {{ $ingress.servicePort | int }}
                  {{- end }}
      {{- with $ingress.hostname }}
      host: {{ . | quote }}
      {{- end }}
{{- end }}
{{- end -}}

{{/* The NetworkPolicy admitting a component's callers, tests and ingress controller. Call with (dict "ctx" $ "component" "<name>"). */}}
{{- define "autopilot.networkPolicy" -}}
{{- $ctx := .ctx -}}
{{- $values := index .ctx.Values (include "autopilot.valuesKey" .component) -}}
{{- if and $values.enabled $values.networkPolicy.enabled }}
{{- $policy := $values.networkPolicy }}
{{- $ports := $values.containerPorts }}
{{- $tests := $ctx.Values.tests.enabled }}
{{- /* The ingress controller may connect whenever this component's Ingress is on. */}}
{{- $fromIngress := or $policy.allowIngressController (($values.ingress | default dict).enabled) }}
{{- $peers := or $policy.allowExternal $policy.allowFrom $tests $fromIngress }}
{{- $portRule := and $ports $peers }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "autopilot.componentFullname" . | quote }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels:
    {{- include "autopilot.labels" . | nindent 4 }}
  {{- with include "autopilot.annotations" (dict "ctx" $ctx) }}
  annotations:
    {{- . | nindent 4 }}
  {{- end }}
spec:
  podSelector:
    matchLabels:
      {{- include "autopilot.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
  {{- /* No rule at all means: deny all ingress. */}}
  {{- if or $portRule $policy.extraIngress }}
  ingress:
    {{- if and $ports $policy.allowExternal }}
    - ports:
        {{- include "autopilot.networkPolicyPorts" (dict "ports" $ports) | nindent 8 }}
    {{- else if $ports }}
    {{- /* Each caller on the ports it calls (no ports listed: every port). */}}
    {{- range $policy.allowFrom }}
    - from:
        - podSelector:
            matchLabels:
              {{- include "autopilot.selectorLabels" (dict "ctx" $ctx "component" .component) | nindent 14 }}
      ports:
        {{- include "autopilot.networkPolicyPorts" (dict "ports" $ports "only" .ports) | nindent 8 }}
    {{- end }}
    {{- if or $tests $fromIngress }}
    - from:
        {{- if $tests }}
        - podSelector:
            matchLabels:
              {{- include "autopilot.selectorLabels" (dict "ctx" $ctx "component" "test-connection") | nindent 14 }}
        {{- end }}
        {{- if $fromIngress }}
        - namespaceSelector:
            {{- toYaml $policy.ingressControllerNamespaceSelector | nindent 12 }}
          podSelector:
            {{- toYaml $policy.ingressControllerPodSelector | nindent 12 }}
        {{- end }}
      ports:
        {{- include "autopilot.networkPolicyPorts" (dict "ports" $ports) | nindent 8 }}
    {{- end }}
    {{- end }}
    {{- with $policy.extraIngress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
{{- end }}
{{- end -}}
