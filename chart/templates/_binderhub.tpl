{{- /*
How BinderHub reads what the hook writes. The binder pod mounts one volume: the Secret's
config.json, the settings ConfigMap's registry.json and, when it exists (keyless Google), the
registry helper's token; the extraConfig snippet `binderhub-registry` loads registry.json's
"binderhubConfig" (image_prefix, DockerRegistry.* or ExternalRegistryHelper.*, docker_config_path,
KubernetesBuildExecutor.push_secret) and the token at every start. BinderHub's values name
only these two objects, never the registry, so registry changes need no values change.

values.yaml (binderhub.*) is the one source of these entries: scripts/sync_chart_data.py
generates from it the binder pod's volume and mount (_binderhub_wiring.tpl: what a user's own
lists must still contain; the helm test Pod mounts the very same volume at the very same path)
and the companion file binderhub-values.yaml (the hook's template).
*/}}

{{- /* "true" when the list (of maps) holds an entry equal to the YAML `entry`. */}}
{{- define "binderhub-registry.listHas" -}}
{{- $wanted := .entry | fromYaml | toJson -}}
{{- range .list -}}
{{- if eq (toJson .) $wanted -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{- /*
With BinderHub in this release: fail `helm install` with one sentence when the user's values lost
or contradict the wiring. Helm replaces a list a user sets instead of merging it, so their own
binderhub.extraVolumes, extraVolumeMounts or jupyterhub.imagePullSecrets drop ours (the binder pod
would crash at start, user pods could not pull). User pods pull with the pull Secret; the push
Secret in JupyterHub's imagePullSecrets or singleuser.image.pullSecrets would hand push credentials
to untrusted code, and is refused.
*/}}
{{- define "binderhub-registry.checkBinderHubWiring" -}}
{{- if include "binderhub-registry.oneRelease" . -}}
{{- $binderhub := .Values.binderhub | default dict -}}
{{- $volume := include "binderhub-registry.binderVolume" . -}}
{{- $mount := include "binderhub-registry.binderVolumeMount" . -}}
{{- $secret := include "binderhub-registry.secretName" . -}}
{{- if not (include "binderhub-registry.listHas" (dict "list" ($binderhub.extraVolumes | default list) "entry" $volume)) -}}
{{- if ne $secret "binderhub-registry" -}}
{{- fail (printf "output.secretName %s is not the Secret binderhub.extraVolumes mounts: with BinderHub in this release leave output.secretName unset, or also set binderhub.extraVolumes to include %s and name %s-pull in binderhub.jupyterhub.imagePullSecrets." $secret ($volume | fromYaml | toJson) $secret) -}}
{{- end -}}
{{- fail (printf "binderhub.extraVolumes lacks this chart's volume (a list you set replaces the chart's, it is not merged): add %s to it, or leave binderhub.extraVolumes unset." ($volume | fromYaml | toJson)) -}}
{{- end -}}
{{- if not (include "binderhub-registry.listHas" (dict "list" ($binderhub.extraVolumeMounts | default list) "entry" $mount)) -}}
{{- fail (printf "binderhub.extraVolumeMounts lacks this chart's mount (a list you set replaces the chart's, it is not merged): add %s to it, or leave binderhub.extraVolumeMounts unset." ($mount | fromYaml | toJson)) -}}
{{- end -}}
{{- $userPodSecrets := list -}}
{{- $imagePullSecrets := dig "jupyterhub" "imagePullSecrets" list $binderhub -}}
{{- range concat $imagePullSecrets (dig "jupyterhub" "singleuser" "image" "pullSecrets" list $binderhub) -}}
{{- if kindIs "map" . -}}
{{- $userPodSecrets = append $userPodSecrets (get . "name") -}}
{{- else -}}
{{- $userPodSecrets = append $userPodSecrets . -}}
{{- end -}}
{{- end -}}
{{- $pullSecrets := slice $userPodSecrets 0 (len $imagePullSecrets) -}}
{{- $pullSecret := include "binderhub-registry.pullSecretName" . -}}
{{- if not (has $pullSecret $pullSecrets) -}}
{{- fail (printf "binderhub.jupyterhub.imagePullSecrets lacks %s, the Secret user pods pull BinderHub's images with (a list you set replaces the chart's, it is not merged): add %s to it." $pullSecret $pullSecret) -}}
{{- end -}}
{{- if has $secret $userPodSecrets -}}
{{- fail (printf "binderhub.jupyterhub names the push Secret %s among the Secrets user pods pull with; user pods run untrusted code and must not get push credentials: name %s there instead." $secret $pullSecret) -}}
{{- end -}}
{{- if not (dig "extraConfig" "binderhub-registry" "" $binderhub) -}}
{{- fail "binderhub.extraConfig.binderhub-registry is empty, so BinderHub would not read the registry settings: remove your value for it." -}}
{{- end -}}
{{- /* Not username: BinderHub's own helper writes its default ("<token>") into that map. */}}
{{- with (dig "registry" dict $binderhub) -}}
{{- if or .url .password -}}
{{- fail "binderhub.registry is BinderHub's own registry setting, which this chart replaces: set this chart's registry.* values instead and leave binderhub.registry unset." -}}
{{- end -}}
{{- end -}}
{{- if eq (toString (dig "config" "BinderHub" "use_registry" true $binderhub)) "false" -}}
{{- fail "binderhub.config.BinderHub.use_registry false turns off the registry this chart sets up: remove it, or set binderhub.enabled=false to install only the credentials." -}}
{{- end -}}
{{- end -}}
{{- end -}}
