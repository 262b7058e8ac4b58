{{- /*
Rules on values that JSON Schema cannot express, so that `helm install` refuses them itself, with
the sentence the CLI gives for the same values (hooks/binderhub_registry/settings.py):

- the image names BinderHub pushes, `<registry host>/<path>/<prefix><name>`, must stay within
  Docker's 255 characters (distribution/reference NameTotalLengthMax); the shortest such name is
  the push check's `<prefix>push-check`. A longer name makes the registry answer 500 to every push.
*/ -}}
{{- define "binderhub-registry.validate" -}}
{{- include "binderhub-registry.checkValueRules" . -}}
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

{{- /*
The rules of values.schema.yaml that Helm's values.schema.json leaves out (patterns, lengths, the
values a registry type needs: Helm would print a regular expression or `'allOf' failed`), from
_value_rules.tpl, refused with the sentence the CLI gives (hooks/binderhub_registry/values.py,
describe_schema_error): the first broken rule, in the CLI's order, the value quoted as Python's
repr() quotes it (backslashes, newlines, tabs and quotes escaped; user:password@ of a URL masked).
A rule's path may hold `*`, any item of a list or value of a map; a rule applies when each of its
`when` values is one of `in`.
*/ -}}
{{- define "binderhub-registry.checkValueRules" -}}
{{- $values := .Values | toJson | fromJson -}}
{{- $data := include "binderhub-registry.valueRules" . | fromJson -}}
{{- $type := .Values.registry.type | toString -}}
{{- range $rule := $data.rules -}}
{{- $applies := true -}}
{{- range $rule.when -}}
{{- $node := $values -}}
{{- range .path -}}{{- $node = ternary (index $node .) "" (and (kindIs "map" $node) (hasKey $node .)) -}}{{- end -}}
{{- if not (has $node .in) -}}{{- $applies = false -}}{{- end -}}
{{- end -}}
{{- if $applies -}}
{{- $found := list (list "" $values) -}}
{{- range $key := $rule.path -}}
{{- $next := list -}}
{{- range $found -}}
{{- $dotted := index . 0 -}}{{- $node := index . 1 -}}
{{- if and (eq $key "*") (kindIs "slice" $node) -}}
{{- range $i, $item := $node -}}{{- $next = append $next (list (printf "%s.%d" $dotted $i) $item) -}}{{- end -}}
{{- else if and (eq $key "*") (kindIs "map" $node) -}}
{{- range $name, $item := $node -}}{{- $next = append $next (list (printf "%s.%s" $dotted $name) $item) -}}{{- end -}}
{{- else if and (kindIs "map" $node) (hasKey $node $key) -}}
{{- $next = append $next (list (printf "%s.%s" $dotted $key) (index $node $key)) -}}
{{- end -}}
{{- end -}}
{{- $found = $next -}}
{{- end -}}
{{- range $found -}}
{{- $field := index . 0 | trimPrefix "." -}}{{- $value := index . 1 -}}
{{- if kindIs "string" $value -}}
{{- $length := len (splitList "" $value) -}}
{{- $text := regexReplaceAll "^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@" $value "${1}***@" -}}
{{- $quote := ternary "\"" "'" (and (contains "'" $text) (not (contains "\"" $text))) -}}
{{- $text = $text | replace "\\" "\\\\" | replace "\n" "\\n" | replace "\r" "\\r" | replace "\t" "\\t" -}}
{{- if eq $quote "'" -}}{{- $text = replace "'" "\\'" $text -}}{{- end -}}
{{- $shown := printf "%s%s%s" $quote $text $quote -}}
{{- if gt (len $shown) 60 -}}{{- $shown = printf "%s..." (substr 0 57 $shown) -}}{{- end -}}
{{- $got := ternary "" (printf " (got %s)" $shown) $rule.secret -}}
{{- range $check := $rule.checks -}}
{{- if and (hasKey $check "minLength") (lt $length (int $check.minLength)) -}}
{{- if and (eq $length 0) (hasKey $data.emptyMessages $field) -}}{{- fail (get $data.emptyMessages $field) -}}{{- end -}}
{{- if eq $length 0 -}}{{- fail (printf "%s must be set for registry.type=%s." $field $type) -}}{{- end -}}
{{- fail (printf "%s must be at least %d characters long; check it against the chart's values.yaml." $field (int $check.minLength)) -}}
{{- end -}}
{{- if and (hasKey $check "maxLength") (gt $length (int $check.maxLength)) -}}
{{- fail (printf "%s must be at most %d characters long; check it against the chart's values.yaml." $field (int $check.maxLength)) -}}
{{- end -}}
{{- if and (hasKey $check "pattern") (not (regexMatch $check.pattern $value)) -}}
{{- if $check.hint -}}{{- fail (printf "%s must be %s%s." $field $check.hint $got) -}}{{- end -}}
{{- fail (printf "%s has an invalid format%s; check it against the chart's values.yaml." $field $got) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
