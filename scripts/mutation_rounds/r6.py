"""Round 6 of issue #26's independent review: bugs written from the code, chart templates and docs
(no tests, no mutation list read) of the whole package and chart; converted mechanically from the
reviewer's (name, area, path, old, new), the group chosen by the mutated file (the reviewer's area in a
comment). Fresh: 39 of 45 killed (87%) by the tests the coverage map chose (log: the lead's note). Five
survivors got tests (ECR's cleanup of a noted probe of another name, a Harbor robot the Secret records
after a crash, Harbor's adminSecret over registry.existingSecret, a secret never quoted whatever the
rule, the pull Secret copy without the release state). Dropped, unprovable here: "a Docker Hub namespace
or username with capitals is used as written": registry.dockerhub.namespace is refused unless lowercase
and Docker IDs are lowercase only, so only a username typed with capitals reaches the lower(), and
whether Docker Hub signs such a username in is not documented. Loaded by scripts/mutate.py (names
start "r6:")."""

# ruff: noqa: E501 -- some mutants' old or new code is longer than a line
from __future__ import annotations

from mutate import M

MUTATIONS = [
    M('r6: a probe repository an interrupted run left under the same name is no longer deleted after the push proof, so it stays in ECR and its write-ahead note is cleared',
      'ecr', 'providers/ecr/__init__.py',
      '            if created or left == probe:\n',
      '            if created:\n'),  # ecr
    M('r6: a 403 from AWS without a readable error code is no longer a refusal (exit 1) but an invalid-configuration error (exit 2)',
      'ecr', 'providers/ecr/aws.py',
      '        if code in ACCESS_DENIED or (status == 403 and code not in CREDENTIALS_REFUSED):\n',
      '        if code in ACCESS_DENIED:\n'),  # ecr
    M('r6: repositories are created with image scanning on push whatever registry.ecr.scanOnPush says',
      'ecr', 'providers/ecr/repositories.py',
      '                imageScanningConfiguration={"scanOnPush": self.target.scan_on_push},\n',
      '                imageScanningConfiguration={"scanOnPush": True},\n'),  # ecr
    M('r6: the registry helper answers 502 when AWS is unreachable and 503 when AWS refuses (the two statuses swapped)',
      'ecr', 'helper_service/ecr_backend.py',
      '                raise UpstreamError(exc.message, 503 if isinstance(exc, Unreachable) else 502) from None\n',
      '                raise UpstreamError(exc.message, 502 if isinstance(exc, Unreachable) else 503) from None\n'),  # ecr
    M('r6: the pull Secret keeper records a token as written before the write succeeds, so after a failed write (403, API down) it never writes that token again and the Secret keeps the old, expiring one',
      'ecr', 'helper_service/pull_secret.py',
      '                await asyncio.to_thread(self._apply, self._document(token.value))\n                self._written, self.written_expiry = token.value, token.expires_at\n',
      '                self._written, self.written_expiry = token.value, token.expires_at\n                await asyncio.to_thread(self._apply, self._document(token.value))\n'),  # ecr
    M("r6: the registry helper writes the pull Secret as type Opaque instead of kubernetes.io/dockerconfigjson, which the API server refuses on the hook's Secret (type is immutable) and the kubelet cannot use",
      'ecr', 'helper_service/pull_secret.py',
      '            "type": "kubernetes.io/dockerconfigjson",\n',
      '            "type": "Opaque",\n'),  # ecr
    M('r6: cleanup (helm uninstall) deletes only the helm-test probe repository, not the one an interrupted run noted, which leaks in ECR',
      'ecr', 'providers/ecr/__init__.py',
      '(self.helper_probe(), current.intent.ecr_probe_repository)',
      '(self.helper_probe(),)'),  # ecr
    M('r6: after an interrupted refresh, the robot the write-ahead note names is deleted even though the Secret still records it, breaking the credentials BinderHub runs with',
      'harbor', 'providers/harbor/robots.py',
      '            if noted and short_name(robot.name) == noted and robot.id not in ours:\n',
      '            if noted and short_name(robot.name) == noted:\n'),  # harbor
    M('r6: a robot counts as expiring soon only within renewBeforeDays seconds instead of days, so robots close to expiry are not rotated in time',
      'harbor', 'providers/harbor/robots.py',
      '        return robot.expires_at >= 0 and robot.expires_at - time.time() < self.renew_before * DAY\n',
      '        return robot.expires_at >= 0 and robot.expires_at - time.time() < self.renew_before\n'),  # harbor
    M('r6: the pull robot user pods pull with is created with push permission too',
      'harbor', 'providers/harbor/api.py',
      'PULL_ACCESS = ({"resource": "repository", "action": "pull"},)\n',
      'PULL_ACCESS = ({"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"})\n'),  # harbor
    M('r6: when both registry.harbor.adminSecret and registry.existingSecret are set, registry.existingSecret wins instead of adminSecret',
      'harbor', 'providers/harbor/__init__.py',
      '        if not name and self.registry_values.get("existingSecret"):\n',
      '        if self.registry_values.get("existingSecret"):\n'),  # harbor
    M('r6: a rotation no longer records the robot it replaced as previous-credential-id, so the next rotation creates a new robot instead of refreshing the standby and uninstall leaks the old one',
      'harbor', 'providers/harbor/robots.py',
      '            return Credential(standby.name, secret, str(standby.id), previous_credential_id=str(robot.id), origin=CREATED)\n',
      '            return Credential(standby.name, secret, str(standby.id), origin=CREATED)\n'),  # harbor
    M('r6: rotating a Google key also revokes the current key, which BinderHub still runs with until it restarts',
      'google-keys', 'providers/google/__init__.py',
      '                live = keys.revoke(live, {older} - {kid, ""}, "the key before the current one")\n',
      '                live = keys.revoke(live, {older, kid} - {""}, "the key before the current one")\n'),  # google
    M('r6: gcr.io builders get roles/artifactregistry.writer instead of createOnPushWriter, so pushes of new images to gcr.io repositories fail',
      'google-keys', 'providers/google/target.py',
      '        role=CREATE_ON_PUSH_WRITER,\n',
      '        role=WRITER,\n'),  # google
    M('r6: the writer role counts as granted when any member holds it on the repository, so the builder account is never bound',
      'google-keys', 'providers/google/resources.py',
      '            if any(b.get("role") == target.role and member in (b.get("members") or []) for b in policy.get("bindings") or []):\n',
      '            if any(b.get("role") == target.role for b in policy.get("bindings") or []):\n'),  # google
    M("r6: with 10 user-managed keys the hook still asks Google for an 11th instead of refusing with its sentence, ending in Google's refusal",
      'google-keys', 'providers/google/keys.py',
      '        if len(keys) >= MAX_KEYS:\n',
      '        if len(keys) > MAX_KEYS:\n'),  # google
    M("r6: with a key file in GOOGLE_APPLICATION_CREDENTIALS the key's project wins over GOOGLE_CLOUD_PROJECT/GCLOUD_PROJECT, unlike google.auth.default()",
      'google-keys', 'providers/google/admin.py',
      '    project = os.environ.get("GOOGLE_CLOUD_PROJECT", os.environ.get("GCLOUD_PROJECT")) or info.get("project_id")\n',
      '    project = info.get("project_id") or os.environ.get("GOOGLE_CLOUD_PROJECT", os.environ.get("GCLOUD_PROJECT"))\n'),  # google
    M('r6: Docker Hub namespaces of 2 or 3 characters no longer get the docker.io/ image prefix, so BinderHub looks their images up in the wrong repository',
      'push-proof', 'providers/dockerhub.py',
      'BINDERHUB_WHOLE_NAMESPACE = re.compile(r"[a-z0-9]{4,40}")\n',
      'BINDERHUB_WHOLE_NAMESPACE = re.compile(r"[a-z0-9]{2,40}")\n'),  # dockerhub/generic/base
    M('r6: registry.generic.tokenUrl no longer overrides the token service the registry names in its challenge',
      'push-proof', 'providers/generic.py',
      '            token_url=self.config.get("tokenUrl") or discovered.token_url,\n',
      '            token_url=discovered.token_url or self.config.get("tokenUrl"),\n'),  # dockerhub/generic/base
    M('r6: the username in values wins over the username in registry.existingSecret',
      'push-proof', 'providers/base.py',
      '        username = (given.username if given and given.username else "") or self.config.get("username", "")\n',
      '        username = self.config.get("username", "") or (given.username if given and given.username else "")\n'),  # dockerhub/generic/base
    M('r6: the upload session is cancelled with the registry credentials even when its Location points to another origin',
      'push-proof', 'oci.py',
      '        if origin(upload) != origin(self.url):  # credentials go to the registry only\n            headers, auth = {}, None\n',
      ''),  # oci/auth/answers/pull/http
    M("r6: a token realm that already has a query gets a second '?' before service=, so BinderHub's token_url is malformed",
      'push-proof', 'registry_auth.py',
      '        sep = "&" if "?" in self.realm else "?"\n',
      '        sep = "?"\n'),  # oci/auth/answers/pull/http
    M('r6: a Bearer challenge whose realm is not an http(s) URL is accepted, so the hook fails later with exit 3 instead of exit 2 naming the WWW-Authenticate header',
      'push-proof', 'registry_auth.py',
      '    if not params.get("realm", "").startswith(("https://", "http://")):\n',
      '    if not params.get("realm", ""):\n'),  # oci/auth/answers/pull/http
    M("r6: any error code from a registry's error body is copied into the message, not only the distribution spec's codes, so a body's text (possibly echoing the request) reaches the logs",
      'push-proof', 'registry_answers.py',
      '    return f"{response.status_code} {code if code in ERROR_CODES else response.reason_phrase}".strip()\n',
      '    return f"{response.status_code} {code or response.reason_phrase}".strip()\n'),  # oci/auth/answers/pull/http
    M('r6: pull credentials are refused when the repository has no images yet (tag list 404) instead of accepted',
      'pull-credentials', 'pull_proof.py',
      '    if listed.status_code not in (200, 404):\n',
      '    if listed.status_code not in (200,):\n'),  # oci/auth/answers/pull/http
    M('r6: a token service answering 403 to the credentials ends in exit 3 (unreachable) instead of exit 1 (credentials rejected)',
      'push-proof', 'oci.py',
      '        if response.status_code == 403:\n            raise self._rejected("the token service answered 403")\n',
      ''),  # oci/auth/answers/pull/http
    M('r6: 429 (rate limited) is no longer retried, so a registry rate limit fails the hook at once without the rate-limit sentence',
      'http', 'bounded_http.py',
      'RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})\n',
      'RETRY_STATUSES = frozenset({500, 502, 503, 504})\n'),  # oci/auth/answers/pull/http
    M('r6: a value named like a secret (password, key) that breaks a pattern rule is quoted in the error sentence',
      'values', 'values.py',
      '    if last in SECRET_NAMES:  # never quoted, whatever the rule\n        return ""\n',
      ''),  # values/settings/render
    M('r6: an empty string passes every pattern in the fast check, so empty values whose pattern does not allow them are accepted without jsonschema',
      'start-up', 'schema_check.py',
      '    if not text and pattern.startswith("^$|"):\n',
      '    if not text:\n'),  # values/settings/render
    M('r6: image names of exactly 255 characters are refused, although Docker allows them (off by one)',
      'settings', 'settings.py',
      '        if len(shortest) > NAME_TOTAL_LENGTH_MAX:\n',
      '        if len(shortest) >= NAME_TOTAL_LENGTH_MAX:\n'),  # values/settings/render
    M("r6: credentials under Docker Hub's index URL are not found for the registry host docker.io itself (only for its subdomains)",
      'docker-config', 'dockerconfig.py',
      '    if ("." + hostname).endswith((".docker.io", ".docker.com")) and DOCKER_HUB_AUTH_KEY in auths:\n',
      '    if hostname.endswith((".docker.io", ".docker.com")) and DOCKER_HUB_AUTH_KEY in auths:\n'),  # values/settings/render
    M("r6: without separate pull credentials the pull Secret carries the push Secret's annotations (credential ids, origin, fingerprint) instead of none",
      'output', 'render.py',
      '    pull_config, pull_annotations = pull if pull is not None else (docker_config, {})\n',
      '    pull_config, pull_annotations = pull if pull is not None else (docker_config, annotations)\n'),  # values/settings/render
    M('r6: with rotation.policy interval a credential exactly one interval old is not rotated (off by one)',
      'rotation', 'rotation.py',
      '    if age >= policy.interval:\n',
      '    if age > policy.interval:\n'),  # commands/kube/state/cli
    M('r6: a BinderHub Deployment created in the same second the Secret last changed is not restarted',
      'restart', 'restart.py',
      '    if created is None or current.changed_at is None or created <= current.changed_at:\n',
      '    if created is None or current.changed_at is None or created < current.changed_at:\n'),  # commands/kube/state/cli
    M('r6: an unexpected error exits 2 (not retried by the Job) instead of the documented 3',
      'output', 'cli.py',
      '        )\n        return int(ExitCode.UNREACHABLE)\n',
      '        )\n        return int(ExitCode.INVALID_CONFIGURATION)\n'),  # commands/kube/state/cli
    M('r6: a change of the BinderHub settings alone (image prefix, registry URL) keeps the old fingerprint, so BinderHub is not restarted to read it',
      'rotation', 'state.py',
      '    unchanged = current.docker_config == docker_config and current.binderhub_config == binderhub_config\n',
      '    unchanged = current.docker_config == docker_config\n'),  # commands/kube/state/cli
    M("r6: ':' and '@' glue a secret to neighbouring words, so a password in user:password@host is no longer redacted",
      'redaction', 'progress.py',
      'GLUE = "-./"\n',
      'GLUE = "-./:@"\n'),  # commands/kube/state/cli
    M("r6: the provider's after-switch (clearing write-ahead notes, revoking replaced keys) runs before the Secret is written, so a crash or refused write leaks what the notes named",
      'output', 'commands/provision.py',
      '    checkpoint("before-secret-written")\n    kube.apply(rendered.pull_secret)\n',
      '    checkpoint("before-secret-written")\n    obtained.after_switch()\n    kube.apply(rendered.pull_secret)\n'),  # commands/kube/state/cli
    M('r6: the registry helper serves one request more than registryHelper.maxConcurrentRequests before answering 503',
      'helper', 'helper_service/app.py',
      '        if self.in_flight >= self.config.max_concurrent_requests:\n',
      '        if self.in_flight > self.config.max_concurrent_requests:\n'),  # helper_service
    M('r6: the cached token is still handed out at the exact moment it has only min_remaining seconds left, instead of being renewed',
      'helper', 'helper_service/token_cache.py',
      '        if token is not None and self.clock() < self._until:\n',
      '        if token is not None and self.clock() <= self._until:\n'),  # helper_service
    M("r6: when the registry's token service refuses the builder's access token, the helper keeps the cached access token and fails every lookup until it expires",
      'helper', 'helper_service/registry_checks.py',
      '            self.tokens.forget()\n            raise UpstreamError("The registry\'s token service refused',
      '            raise UpstreamError("The registry\'s token service refused'),  # helper_service
    M("r6: helm install refuses image names of exactly 255 characters (off by one against Docker's limit and the CLI)",
      'chart', 'chart/templates/_validate.tpl',
      '{{- if gt (len $shortest) 255 -}}',
      '{{- if ge (len $shortest) 255 -}}'),  # chart
    M("r6: the registry helper's Role lets it get, patch and update every Secret of the namespace, not only the pull Secret",
      'chart', 'chart/templates/registry-helper/role.yaml',
      '    resourceNames: [{{ include "binderhub-registry.pullSecretName" . | quote }}]\n',
      ''),  # chart
    M("r6: the registry helper's pod always mounts a Kubernetes API token, also when it keeps no pull Secret",
      'chart', 'chart/templates/registry-helper/deployment.yaml',
      '      automountServiceAccountToken: {{ ternary "true" "false" (eq $keepsPullSecret "true") }}\n',
      '      automountServiceAccountToken: true\n'),  # chart
]
