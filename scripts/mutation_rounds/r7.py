"""Round 7 of issue #26's independent review: bugs written from the code, chart templates and docs
(no tests, no mutation list read) of the whole package and chart; converted mechanically from the
reviewer's (name, area, path, old, new), the group chosen by the mutated file (the reviewer's area in a
comment). Written after round 6's tests by another reviewer who saw neither list. Fresh: 33 of 36 killed
(92%) by the tests the coverage map chose; one of the 33 repeats a round-6 survivor that round 6's tests
now kill (the leaked-robot sweep), 32 of 35 (91%) without it. The three survivors got tests: a bearer
token never follows an upload Location to another origin (the hostile registry's token-upload-elsewhere),
a Harbor admin Secret without its username or password, a generic registry URL with a trailing slash.
Loaded by scripts/mutate.py (names start "r7:")."""

# ruff: noqa: E501 -- some mutants' old or new code is longer than a line
from __future__ import annotations

from mutate import M

MUTATIONS = [
    M('r7: ECR provision no longer deletes a probe repository that an interrupted earlier run created and noted, leaving it behind in the account.',
      'ecr', 'providers/ecr/__init__.py',
      '            if created or left == probe:\n',
      '            if created:\n'),  # ecr
    M('r7: the registry helper renews ECR tokens only one minute before they expire instead of 6 hours before, so builds and the pull Secret get tokens about to expire.',
      'ecr', 'providers/ecr/target.py',
      'TOKEN_RENEW_BEFORE_SECONDS = 6 * 3600\n',
      'TOKEN_RENEW_BEFORE_SECONDS = 60\n'),  # ecr
    M('r7: the ECR helper answers 502 when AWS is unreachable and 503 when AWS refuses, swapping the two statuses.',
      'ecr', 'helper_service/ecr_backend.py',
      'raise UpstreamError(exc.message, 503 if isinstance(exc, Unreachable) else 502)',
      'raise UpstreamError(exc.message, 502 if isinstance(exc, Unreachable) else 503)'),  # ecr
    M('r7: the pull-Secret keeper records a token as written before the Secret apply succeeds, so after a failed write it never retries writing that token.',
      'ecr', 'helper_service/pull_secret.py',
      '                await asyncio.to_thread(self._apply, self._document(token.value))\n                self._written, self.written_expiry = token.value, token.expires_at\n',
      '                self._written, self.written_expiry = token.value, token.expires_at\n                await asyncio.to_thread(self._apply, self._document(token.value))\n'),  # ecr
    M("r7: looking up a missing image tag in an existing ECR repository raises an AWS error instead of answering 'not found'.",
      'ecr', 'providers/ecr/repositories.py',
      '            expect=(NOT_FOUND, IMAGE_NOT_FOUND),\n',
      '            expect=(NOT_FOUND,),\n'),  # ecr
    M('r7: Harbor robots are treated as expiring soon only within renewBeforeDays hours instead of days, so robots close to expiry are not rotated.',
      'harbor', 'providers/harbor/robots.py',
      'robot.expires_at - time.time() < self.renew_before * DAY',
      'robot.expires_at - time.time() < self.renew_before * 3600'),  # harbor
    M('r7: the leaked-robot sweep deletes the noted robot even when the Secret records it as current or previous, destroying the credential in use.',
      'harbor', 'providers/harbor/robots.py',
      '            if noted and short_name(robot.name) == noted and robot.id not in ours:\n',
      '            if noted and short_name(robot.name) == noted:\n'),  # harbor
    M('r7: a Harbor admin Secret with only a username or only a password is accepted instead of refused with exit 2.',
      'harbor', 'providers/harbor/__init__.py',
      '        if not data.get("username") or not data.get("password"):\n',
      '        if not data.get("username") and not data.get("password"):\n'),  # harbor
    M('r7: robots listed by Harbor are read with the wrong key for their disabled flag, so a robot disabled by hand is reused instead of re-created.',
      'harbor', 'providers/harbor/api.py',
      'bool(item.get("disable"))',
      'bool(item.get("disabled"))'),  # harbor
    M('r7: key creation is attempted when the service account already has the 10 keys Google allows, instead of failing with a clear exit-2 sentence.',
      'google-keys', 'providers/google/keys.py',
      '        if len(keys) >= MAX_KEYS:\n',
      '        if len(keys) > MAX_KEYS:\n'),  # google
    M('r7: the leaked-key sweep revokes the noted key even when the Secret already records it as current or previous (crash after the Secret was written).',
      'google-keys', 'providers/google/keys.py',
      '            leaked = {intent.key_id} - in_use\n',
      '            leaked = {intent.key_id}\n'),  # google
    M('r7: rotating a Google key revokes the current key (still used by running builds) along with the older one, before the new key is in the Secret.',
      'google-keys', 'providers/google/__init__.py',
      'live = keys.revoke(live, {older} - {kid, ""}, "the key before the current one")',
      'live = keys.revoke(live, {older, kid} - {""}, "the key before the current one")'),  # google
    M('r7: the gcr.io builder account is granted only artifactregistry.writer instead of createOnPushWriter, so pushes of new images to gcr.io repositories fail.',
      'google-keys', 'providers/google/target.py',
      '        path=project,\n        role=CREATE_ON_PUSH_WRITER,\n',
      '        path=project,\n        role=WRITER,\n'),  # google
    M('r7: when IAM propagation times out, a rejected key given in validate mode exits 3 (outage) and a new key in create mode exits 1, swapping the exit codes.',
      'google-keys', 'providers/google/proof.py',
      '                if timeout_is_outage:\n',
      '                if not timeout_is_outage:\n'),  # google
    M('r7: Docker Hub namespaces of 2-3 characters no longer get the explicit docker.io/ image prefix, so BinderHub looks up the wrong repository for them.',
      'push-proof', 'providers/dockerhub.py',
      'BINDERHUB_WHOLE_NAMESPACE = re.compile(r"[a-z0-9]{4,40}")',
      'BINDERHUB_WHOLE_NAMESPACE = re.compile(r"[a-z0-9]{2,40}")'),  # dockerhub/generic/base
    M('r7: a registry.generic.url with a trailing slash is no longer normalised, giving double slashes in the image prefix and a different auths key.',
      'push-proof', 'providers/generic.py',
      '        return str(self.config["url"]).rstrip("/")\n',
      '        return str(self.config["url"])\n'),  # dockerhub/generic/base
    M("r7: the username in values wins over the username in registry.existingSecret, so a Secret's username is ignored when values also set one.",
      'push-proof', 'providers/base.py',
      '        username = (given.username if given and given.username else "") or self.config.get("username", "")\n',
      '        username = self.config.get("username", "") or (given.username if given and given.username else "")\n'),  # dockerhub/generic/base
    M("r7: error messages quote any error code a registry body carries, not only the distribution spec's codes, so echoed body text can reach the logs.",
      'push-proof', 'registry_answers.py',
      '{code if code in ERROR_CODES else response.reason_phrase}',
      '{code or response.reason_phrase}'),  # oci/http
    M("r7: the pull-only proof fails with 'unreachable' on a repository without images yet, because a 404 to the tag list is no longer accepted.",
      'pull-credentials', 'pull_proof.py',
      '    if listed.status_code not in (200, 404):\n',
      '    if listed.status_code not in (200,):\n'),  # oci/http
    M("r7: a token realm that already has a query string gets service appended with a second '?', producing a wrong token URL for BinderHub.",
      'push-proof', 'registry_auth.py',
      '        sep = "&" if "?" in self.realm else "?"\n',
      '        sep = "?"\n'),  # oci/http
    M('r7: cancelling an upload session at a Location on another origin still sends the Bearer token there, leaking the credential to a foreign host.',
      'push-proof', 'oci.py',
      '            headers, auth = {}, None\n',
      '            auth = None\n'),  # oci/http
    M('r7: 429 Too Many Requests is no longer retried with backoff and Retry-After, so a rate-limited registry fails the run at once.',
      'http', 'bounded_http.py',
      'RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})',
      'RETRY_STATUSES = frozenset({500, 502, 503, 504})'),  # oci/http
    M("r7: an image prefix whose shortest image name is exactly 255 characters (Docker's limit) is refused although Docker accepts it.",
      'settings', 'settings.py',
      '        if len(shortest) > NAME_TOTAL_LENGTH_MAX:\n',
      '        if len(shortest) >= NAME_TOTAL_LENGTH_MAX:\n'),  # values/render
    M("r7: credentials stored under Docker Hub's index key are not found for registry URL hosts exactly docker.io/docker.com (only their subdomains).",
      'docker-config', 'dockerconfig.py',
      '    if ("." + hostname).endswith((".docker.io", ".docker.com")) and DOCKER_HUB_AUTH_KEY in auths:\n',
      '    if hostname.endswith((".docker.io", ".docker.com")) and DOCKER_HUB_AUTH_KEY in auths:\n'),  # values/render
    M('r7: schema errors check the top-level key instead of the field name against secret names, so an invalid password or key value is quoted in the error.',
      'values', 'values.py',
      '    last = str(error.absolute_path[-1]) if error.absolute_path else ""\n',
      '    last = str(error.absolute_path[0]) if error.absolute_path else ""\n'),  # values/render
    M("r7: the rendered Secret lacks the config.json key, so BinderHub's build pods (push_secret) and the binder volume find no docker config.",
      'output', 'templates/secret.yaml.j2',
      '  .dockerconfigjson: {{ docker_config_b64 | tojson }}\n  config.json: {{ docker_config_b64 | tojson }}\n',
      '  .dockerconfigjson: {{ docker_config_b64 | tojson }}\n'),  # values/render
    M('r7: interval rotation no longer rotates a credential exactly one interval old, so a tool syncing every interval rotates only every other sync.',
      'rotation', 'rotation.py',
      '    if age >= policy.interval:\n',
      '    if age > policy.interval:\n'),  # commands/state
    M("r7: a BinderHub Deployment created in the same second as the Secret's last change is treated as having read it and is not restarted.",
      'restart', 'restart.py',
      'created <= current.changed_at',
      'created < current.changed_at'),  # commands/state
    M('r7: every run stamps created-at with the current time even when reusing the credential, so interval rotation never fires.',
      'rotation', 'state.py',
      '            CREATED_AT: credential.created_at or now_text(),\n',
      '            CREATED_AT: now_text(),\n'),  # commands/state
    M('r7: the fingerprint stays the same when only the registry settings (registry.json) change, so BinderHub is not restarted to read new settings.',
      'rotation', 'state.py',
      '    unchanged = current.docker_config == docker_config and current.binderhub_config == binderhub_config\n',
      '    unchanged = current.docker_config == docker_config\n'),  # commands/state
    M('r7: provision --output writes the Secret files world-readable (0644) instead of owner-only (0600).',
      'output', 'commands/provision.py',
      '        os.chmod(secret_path, 0o600)\n',
      '        os.chmod(secret_path, 0o644)\n'),  # commands/state
    M('r7: the registry helper admits one request more than max_concurrent_requests before answering 503.',
      'helper', 'helper_service/app.py',
      '        if self.in_flight >= self.config.max_concurrent_requests:\n',
      '        if self.in_flight > self.config.max_concurrent_requests:\n'),  # helper_service
    M('r7: a wrong bearer token to the registry helper gets 401 (with a WWW-Authenticate challenge) instead of 403.',
      'helper', 'helper_service/app.py',
      '            return _error(403, "not authorised")\n',
      '            return _error(401, "not authorised")\n'),  # helper_service
    M('r7: the token cache serves a cached token until it expires, ignoring min_remaining, so builds can get tokens with seconds to live.',
      'helper', 'helper_service/token_cache.py',
      '        if token is not None and self.clock() < self._until:\n',
      '        if token is not None and self.clock() < token.expires_at:\n'),  # helper_service
    M("r7: the registry helper's NetworkPolicy admits the helm test pod only when tests are disabled, so `helm test` cannot reach the helper when enabled.",
      'chart', 'chart/templates/registry-helper/networkpolicy.yaml',
      '        {{- if .Values.test.enabled }}\n',
      '        {{- if not .Values.test.enabled }}\n'),  # chart templates
    M("r7: the registry helper's Role also grants create on Secrets, beyond the get/patch of the one pull Secret the design allows.",
      'chart', 'chart/templates/registry-helper/role.yaml',
      '    verbs: [get, patch, update]\n',
      '    verbs: [get, patch, update, create]\n'),  # chart templates
]
