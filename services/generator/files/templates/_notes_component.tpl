{{- $fullname := include "@@CHART@@.componentFullname" (dict "ctx" $ "component" "@@COMPONENT@@") }}
  - @@COMPONENT@@ (@@KIND@@): kubectl --namespace {{ .Release.Namespace }} get @@RESOURCE@@ --selector app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=@@COMPONENT@@
{{- if hasPrefix "REPLACE-ME/" .Values.@@KEY@@.image.repository }}
    WARNING: @@COMPONENT@@ has no image yet (the source only had a build context).
    Build and push it, then set @@KEY@@.image.repository and @@KEY@@.image.tag; until then its pods cannot start.
{{- end }}
