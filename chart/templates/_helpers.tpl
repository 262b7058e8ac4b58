{{- /* Names: one define per resource name, all prefixed binderhub-registry. */}}

{{- /* <release>-registry, or the release name alone when it already says registry. */}}
{{- define "binderhub-registry.fullname" -}}
{{- if contains "registry" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-registry" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "binderhub-registry.secretName" -}}
{{- .Values.output.secretName | default (include "binderhub-registry.fullname" .) -}}
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
{{- end -}}

{{- /* Pod-level settings shared by the hook Job, the test Pod and the cleanup Job. */}}
{{- define "binderhub-registry.podCommon" -}}
serviceAccountName: {{ include "binderhub-registry.hookName" . }}
restartPolicy: Never
enableServiceLinks: false
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml .Values.hook.podSecurityContext | nindent 2 }}
{{- with .Values.hook.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.hook.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.hook.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- /* Container-level settings shared by all three. */}}
{{- define "binderhub-registry.containerCommon" -}}
image: {{ include "binderhub-registry.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.hook.securityContext | nindent 2 }}
resources:
  {{- toYaml .Values.hook.resources | nindent 2 }}
env:
  - name: HOME
    value: /tmp
  {{- with .Values.hook.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{- define "binderhub-registry.valuesVolume" -}}
- name: values
  secret:
    secretName: {{ include "binderhub-registry.valuesSecretName" . }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "binderhub-registry.valuesMount" -}}
- name: values
  mountPath: /etc/binderhub-registry/values
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}
