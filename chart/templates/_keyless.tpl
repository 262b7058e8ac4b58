{{- /* Keyless registries (Google Workload Identity, ECR): the registry helper's names, address,
values and the AWS settings of the pods. */}}

{{- /*
Keyless Google (registry.google.credential workload-identity) and ECR (registry.type ecr): BinderHub
asks the registry helper for short-lived tokens instead of mounting a key. "true" or "".
*/}}
{{- define "binderhub-registry.keyless" -}}
{{- if and (has .Values.registry.type (list "gcr" "artifact-registry")) (eq (.Values.registry.google.credential | default "key") "workload-identity") -}}
true
{{- else if eq .Values.registry.type "ecr" -}}
true
{{- end -}}
{{- end -}}

{{- /*
registry.type ecr: the annotations of the hook's and the helper's ServiceAccounts (IRSA's role ARN)
and the environment of their pods (the access keys of registry.ecr.accessKeySecret, or else of
registry.existingSecret: the fallback);
boto3's default chain finds either, and EKS Pod Identity's own variables.
*/}}
{{- define "binderhub-registry.awsAnnotations" -}}
{{- if and (eq .Values.registry.type "ecr") .Values.registry.ecr.roleArn -}}
eks.amazonaws.com/role-arn: {{ .Values.registry.ecr.roleArn | quote }}
{{- end -}}
{{- end -}}
{{- define "binderhub-registry.awsEnv" -}}
{{- $keys := or .Values.registry.ecr.accessKeySecret .Values.registry.existingSecret -}}
{{- if and (eq .Values.registry.type "ecr") $keys -}}
{{- range list "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef: {name: {{ $keys | quote }}, key: {{ . }}}
{{- end }}
{{- end -}}
{{- end -}}

{{- define "binderhub-registry.helperName" -}}
{{- printf "%s-helper" (include "binderhub-registry.fullname" .) -}}
{{- end -}}

{{- /* The registry helper's port, token mount and token Secret name: _helper_contract.tpl. */}}

{{- /* The helper's address inside the cluster, BinderHub's ExternalRegistryHelper.service_url. */}}
{{- define "binderhub-registry.helperUrl" -}}
{{- printf "http://%s.%s.svc:%s" (include "binderhub-registry.helperName" .) .Release.Namespace (include "binderhub-registry.helperPort" .) -}}
{{- end -}}

{{- /* The builder service account the hook creates; the helper's ServiceAccount acts as it. */}}
{{- define "binderhub-registry.builderEmail" -}}
{{- $section := ternary .Values.registry.gcr .Values.registry.artifactRegistry (eq .Values.registry.type "gcr") -}}
{{- printf "%s@%s.iam.gserviceaccount.com" $section.serviceAccount $section.project -}}
{{- end -}}

{{- define "binderhub-registry.helperSelector" -}}
app.kubernetes.io/name: binderhub-registry
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: registry-helper
{{- end -}}

{{- /* The labels of the helm test Pod that select it alone. */}}
{{- define "binderhub-registry.testSelector" -}}
app.kubernetes.io/name: binderhub-registry
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: test
{{- end -}}

{{- define "binderhub-registry.helperValues" -}}
registry:
  {{- toYaml (omit .Values.registry "dockerhub" "generic" "existingSecret") | nindent 2 }}
registryHelper:
  {{- toYaml (pick .Values.registryHelper "tokenLifetimeSeconds" "tokenMinRemainingSeconds" "maxConcurrentRequests") | nindent 2 }}
  name: {{ include "binderhub-registry.helperName" . | quote }}
  namespace: {{ .Release.Namespace | quote }}
{{- end -}}
