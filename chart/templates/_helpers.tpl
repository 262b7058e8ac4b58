{{- /* Names: one define per resource name, all prefixed binderhub-registry. */}}

{{- /* <release>-registry, or the release name alone when it already says registry. */}}
{{- define "binderhub-registry.fullname" -}}
{{- if contains "registry" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-registry" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- /* The `helm test` Pod; the cleanup Job deletes it on uninstall. */}}
{{- define "binderhub-registry.testPodName" -}}
{{- include "binderhub-registry.fullname" . }}-check-push
{{- end -}}

{{- /* "true" when this release installs BinderHub (binderhub.enabled unset or true), else "". */}}
{{- define "binderhub-registry.oneRelease" -}}
{{- if ne (toString (dig "enabled" true (.Values.binderhub | default dict))) "false" -}}true{{- end -}}
{{- end -}}

{{- /*
The Secret the hook writes. With BinderHub in this release its values (values.yaml, which cannot
be templated) name the Secret and ConfigMap, so the default is fixed: binderhub-registry, whatever
the release is called (BinderHub's chart names its own objects fixed too: one per namespace).
In companion mode: <release>-registry, or the release name when it says registry.
*/}}
{{- define "binderhub-registry.secretName" -}}
{{- if .Values.output.secretName -}}
{{- .Values.output.secretName -}}
{{- else if include "binderhub-registry.oneRelease" . -}}
binderhub-registry
{{- else -}}
{{- include "binderhub-registry.fullname" . -}}
{{- end -}}
{{- end -}}

{{- /* The pull Secret user pods pull with (JupyterHub's imagePullSecrets name it). */}}
{{- define "binderhub-registry.pullSecretName" -}}
{{- printf "%s-pull" (include "binderhub-registry.secretName" .) -}}
{{- end -}}

{{- define "binderhub-registry.settingsName" -}}
{{- printf "%s-settings" (include "binderhub-registry.secretName" .) -}}
{{- end -}}

{{- define "binderhub-registry.hookName" -}}
{{- printf "%s-hook" (include "binderhub-registry.fullname" .) -}}
{{- end -}}

{{- define "binderhub-registry.valuesSecretName" -}}
{{- printf "%s-hook-values" (include "binderhub-registry.fullname" .) -}}
{{- end -}}

{{- define "binderhub-registry.labels" -}}
app.kubernetes.io/name: binderhub-registry
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{- define "binderhub-registry.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- /* The values the hook reads: what the user gave, with the Secret name resolved. */}}
{{- define "binderhub-registry.hookValues" -}}
registry:
  {{- toYaml .Values.registry | nindent 2 }}
output:
  secretName: {{ include "binderhub-registry.secretName" . | quote }}
{{- /* rotation.revision is internal: the release revision, unless a test harness playing Helm
       (helm template always renders revision 1) passes the revision Helm would assign. */}}
{{- $rotation := deepCopy .Values.rotation }}
{{- $_ := set $rotation "revision" (toString (.Values.rotation.revision | default .Release.Revision)) }}
rotation:
  {{- toYaml $rotation | nindent 2 }}
restart:
  {{- toYaml .Values.restart | nindent 2 }}
{{- if include "binderhub-registry.keyless" . }}
registryHelper:
  name: {{ include "binderhub-registry.helperName" . | quote }}
  namespace: {{ .Release.Namespace | quote }}
{{- end }}
{{- end -}}


{{- /*
The three pods (hook Job, cleanup Job, test Pod) run the same image with the same values file,
each with one subcommand. Everything they have in common is written here once.

Each pod's settings are its own values (hook.*, cleanup.*, test.*); a setting the cleanup or the
test leaves out is taken from hook.* explicitly, key by key (hasKey, so an explicit {} or 0 is
kept, unlike sprig's merge).
*/}}
{{- /* Call with (dict "root" $ "component" "hook|cleanup|test"); returns YAML (use fromYaml). */}}
{{- define "binderhub-registry.podSettings" -}}
{{- $hook := .root.Values.hook -}}
{{- $own := index .root.Values .component -}}
{{- $settings := dict -}}
{{- range $key := list "backoffLimit" "activeDeadlineSeconds" "logFormat" "resources" "nodeSelector" "tolerations" "affinity" "podAnnotations" "podSecurityContext" "securityContext" "extraEnv" "extraVolumes" "extraVolumeMounts" -}}
{{- $_ := set $settings $key (ternary (index $own $key) (index $hook $key) (hasKey $own $key)) -}}
{{- end -}}
{{- toYaml $settings -}}
{{- end -}}

{{- /*
The pod of a subcommand: (dict "root" $ "component" "hook|cleanup|test" "command" "provision|cleanup|check").
`check` (the test) proves the Secret BinderHub mounts and needs no Kubernetes API access; the
others talk to the API in the release namespace with the shared ServiceAccount.
*/}}
{{- define "binderhub-registry.podSpec" -}}
{{- $root := .root -}}
{{- $settings := include "binderhub-registry.podSettings" . | fromYaml -}}
{{- $checksSecret := eq .command "check" -}}
{{- /* keyless Google: the test asks the registry helper for credentials, as BinderHub does */}}
{{- $viaHelper := and $checksSecret (include "binderhub-registry.keyless" $root) -}}
serviceAccountName: {{ include "binderhub-registry.hookName" $root }}
{{- if $checksSecret }}
automountServiceAccountToken: false
{{- end }}
restartPolicy: Never
enableServiceLinks: false
{{- with $root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml $settings.podSecurityContext | nindent 2 }}
{{- with $settings.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $settings.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $settings.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: {{ .command }}
    image: {{ include "binderhub-registry.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    securityContext:
      {{- toYaml $settings.securityContext | nindent 6 }}
    resources:
      {{- toYaml $settings.resources | nindent 6 }}
    env:
      - name: HOME
        value: /tmp
      {{- if not $checksSecret }}
      {{- include "binderhub-registry.awsEnv" $root | nindent 6 }}
      {{- end }}
      {{- with $settings.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    command: [binderhub-registry]
    args:
      - {{ .command }}
      - --values
      - /etc/binderhub-registry/values/values.yaml
      {{- if $viaHelper }}
      - --registry-helper
      - {{ include "binderhub-registry.helperUrl" $root | quote }}
      - --registry-helper-token-file
      - {{ include "binderhub-registry.binderMountPath" $root }}/helper/token
      {{- else if $checksSecret }}
      - --docker-config
      - {{ include "binderhub-registry.binderMountPath" $root }}/docker/config.json
      {{- else }}
      - --namespace
      - {{ $root.Release.Namespace | quote }}
      {{- end }}
      {{- if eq .command "cleanup" }}
      - --test-pod
      - {{ include "binderhub-registry.testPodName" $root | quote }}
      {{- end }}
      - --log-format
      - {{ $settings.logFormat | quote }}
    volumeMounts:
      - name: values
        mountPath: /etc/binderhub-registry/values
        readOnly: true
      - name: tmp
        mountPath: /tmp
      {{- if $checksSecret }}
      {{- /* The binder pod's own mount of the Secret (and of registry.json, and the helper's token). */}}
      {{- list (include "binderhub-registry.binderVolumeMount" $root | fromYaml) | toYaml | nindent 6 }}
      {{- end }}
      {{- with $settings.extraVolumeMounts }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
volumes:
  - name: values
    secret:
      secretName: {{ include "binderhub-registry.valuesSecretName" $root }}
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
  {{- if $checksSecret }}
  {{- list (include "binderhub-registry.binderVolume" $root | fromYaml) | toYaml | nindent 2 }}
  {{- end }}
  {{- with $settings.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- /*
A Job running one subcommand: (dict "root" $ "component" "hook|cleanup" "name" NAME "command" CMD).
Its Helm annotations are <component>.annotations. Exit codes 1 (credentials) and 2
(configuration) fail the Job at once instead of burning retries; network calls are retried
inside the process.
*/}}
{{- define "binderhub-registry.job" -}}
{{- $root := .root -}}
{{- $own := index $root.Values .component -}}
{{- $settings := include "binderhub-registry.podSettings" . | fromYaml -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .name }}
  labels:
    {{- include "binderhub-registry.labels" $root | nindent 4 }}
  {{- with $own.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  backoffLimit: {{ $settings.backoffLimit }}
  activeDeadlineSeconds: {{ $settings.activeDeadlineSeconds }}
  podFailurePolicy:
    rules:
      # onPodConditions is a required (empty) list in Kubernetes 1.28's API.
      - action: FailJob
        onPodConditions: []
        onExitCodes:
          containerName: {{ .command }}
          operator: In
          values: [1, 2]
  template:
    metadata:
      labels:
        {{- include "binderhub-registry.labels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
      {{- with $settings.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      {{- include "binderhub-registry.podSpec" . | nindent 6 }}
{{- end -}}

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
