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
