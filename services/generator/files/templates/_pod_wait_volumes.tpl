    {{- if $waitJobs }}
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
