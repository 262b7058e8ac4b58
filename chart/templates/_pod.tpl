{{- /* The hook's values and the one pod and Job definition of the three pods (hook, cleanup, test). */}}

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
{{- /* The list the Role was rendered from, [] when null removed it (the hook would bring back its default). */}}
restart:
  deployments: {{ .Values.restart.deployments | default list | toJson }}
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
