{{- /*
Rules on values that JSON Schema cannot express, so that `helm install` refuses them itself, with
the sentence the CLI gives for the same values (hooks/binderhub_registry/settings.py):

- the image names BinderHub pushes, `<registry host>/<path>/<prefix><name>`, must stay within
  Docker's 255 characters (distribution/reference NameTotalLengthMax); the shortest such name is
  the push check's `<prefix>push-check`. A longer name makes the registry answer 500 to every push.
*/ -}}
{{- define "binderhub-registry.validate" -}}
{{- $r := .Values.registry -}}
{{- $path := "" -}}
{{- $pathValue := "" -}}
{{- if eq $r.type "generic" -}}
{{- $host := $r.generic.url | trimPrefix "https://" | trimPrefix "http://" | trimSuffix "/" -}}
{{- $path = join "/" (compact (list $host $r.generic.repository)) -}}
{{- $pathValue = "registry.generic.repository" -}}
{{- else if eq $r.type "dockerhub" -}}
{{- $namespace := lower (default $r.dockerhub.username $r.dockerhub.namespace) -}}
{{- $path = ternary $namespace (printf "docker.io/%s" $namespace) (regexMatch "^[a-z0-9]{4,40}$" $namespace) -}}
{{- $pathValue = "registry.dockerhub.namespace" -}}
{{- else if and (eq $r.type "gcr") $r.gcr.project -}}
{{- $host := default (printf "https://%s" $r.gcr.host) $r.google.registryUrl | trimPrefix "https://" | trimPrefix "http://" | trimSuffix "/" -}}
{{- $path = printf "%s/%s" $host $r.gcr.project -}}
{{- $pathValue = "registry.gcr.project" -}}
{{- else if and (eq $r.type "artifact-registry") $r.artifactRegistry.project -}}
{{- $ar := $r.artifactRegistry -}}
{{- $host := default (printf "https://%s-docker.pkg.dev" $ar.location) $r.google.registryUrl | trimPrefix "https://" | trimPrefix "http://" | trimSuffix "/" -}}
{{- $path = printf "%s/%s/%s" $host $ar.project $ar.repository -}}
{{- $pathValue = "registry.artifactRegistry.repository" -}}
{{- end -}}
{{- if $path -}}
{{- $shortest := printf "%s/%spush-check" $path $r.prefix -}}
{{- if gt (len $shortest) 255 -}}
{{- fail (printf "registry.prefix and %s make image names of %d characters or more (such as %s...), longer than Docker's 255; shorten either." $pathValue (len $shortest) (trunc 24 $shortest)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
