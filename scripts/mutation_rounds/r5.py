"""Round 5 of issue #26's independent review: 86 bugs written from the code and docs (no tests, no
mutation list read) of the registry helper, rotation, restart and state rules, docker config lookup,
redaction, the Kubernetes client loader, Google keys, IAM and Workload Identity, and the helper's chart
templates; converted mechanically from the reviewer's (name, area, path, old, new), each with the test
files that exercise its module (the reviewer's area in a comment). Fresh: 66 of 86 killed by their
targeted tests; two were then dropped as equivalent, two survivors' targeted tests name the existing
test that kills them (the whole suite's verdict). Loaded by scripts/mutate.py (names start "r5:")."""

# ruff: noqa: E501 -- some mutants' old or new code is longer than a line
from __future__ import annotations

from mutate import M

H = ("tests/helper",)
HELPER_APP = ("tests/helper/test_helper_requests.py", "tests/helper/test_helper_error_hygiene.py",
              "tests/helper/test_helper_limits.py", "tests/helper/test_helper_metrics.py", "tests/helper/test_helper_service.py")
TOKEN_CACHE = ("tests/helper/test_token_cache.py",)
METRICS = ("tests/helper/test_helper_metrics.py",)
SERVER = ("tests/helper/test_serve_process.py", "tests/helper/test_helper_limits.py")
ECR_HELPER = ("tests/helper/test_ecr_helper.py",)
ROTATION = ("tests/hook/test_rotation_policy.py", "tests/hook/test_crash_safety.py")
RESTART = ("tests/hook/test_restart_rule.py", "tests/hook/test_restart_after_install.py")
STATE = ("tests/hook/test_rotation_policy.py", "tests/hook/test_restart_rule.py", "tests/hook/test_crash_safety.py")
DOCKER_CONFIG = ("tests/hook/test_dockerconfig_lookup.py",)
REDACTION = ("tests/hook/test_progress.py", "tests/hook/test_canary.py")
KUBE_CLIENT = ("tests/hook/test_kube_client.py",)
KEYLESS = ("tests/hook/test_workload_identity_bindings.py", "tests/hook/test_google_keyless.py")
GOOGLE_KEYS = ("tests/hook/test_google_key_revocation.py", "tests/hook/test_google_iam_rest.py", "tests/hook/test_google.py")
KEYLESS_CHART = ("tests/chart/test_keyless_chart.py", "tests/chart/test_helper_network_policy.py",
                 "tests/chart/test_helper_contract.py", "tests/chart/test_chart.py")

MUTATIONS = [
    M('r5: helper accepts a request carrying two Authorization headers (uses the first) instead of 400',
      'helper', 'helper_service/app.py',
      '        if len(values) > 1:\n',
      '        if len(values) > 2:\n',
      HELPER_APP),  # helper
    M("r5: helper requires the exact scheme spelling 'Bearer'; a lowercase 'bearer' scheme gets 401",
      'helper', 'helper_service/app.py',
      'if scheme.lower() != b"bearer" or not value.strip():',
      'if scheme != b"Bearer" or not value.strip():',
      HELPER_APP),  # helper
    M('r5: helper skips the image-path check on /repo: POST /repo creates (ECR) or reports any repository outside the BinderHub path',
      'helper', 'helper_service/app.py',
      '        if not self.config.allows(name):\n',
      '        if kind != "repo" and not self.config.allows(name):\n',
      HELPER_APP),  # helper
    M('r5: concurrency limit off by one: max_concurrent_requests + 1 requests are served before 503',
      'helper', 'helper_service/app.py',
      'if self.in_flight >= self.config.max_concurrent_requests:',
      'if self.in_flight > self.config.max_concurrent_requests:',
      HELPER_APP),  # helper
    M('r5: 401 answers lose their WWW-Authenticate challenge (it is put on 403 answers instead)',
      'helper', 'helper_service/app.py',
      '        if answer.status == 401:\n',
      '        if answer.status == 403:\n',
      HELPER_APP),  # helper
    M('r5: request body of exactly MAX_BODY bytes is refused with 413',
      'helper', 'helper_service/app.py',
      '        if size > MAX_BODY:\n',
      '        if size >= MAX_BODY:\n',
      HELPER_APP),  # helper
    M('r5: 408 for a slow request body no longer closes the connection',
      'helper', 'helper_service/app.py',
      'return _error(408, f"the request body did not arrive within {self.config.body_timeout_seconds:g}s", (b"connection", b"close"))',
      'return _error(408, f"the request body did not arrive within {self.config.body_timeout_seconds:g}s")',
      HELPER_APP),  # helper
    M('r5: 405 answers lose their Allow header',
      'helper', 'helper_service/app.py',
      'return _error(405, f"{method} is not allowed here; use {\' or \'.join(allowed)}", (b"allow", ", ".join(allowed).encode()))',
      'return _error(405, f"{method} is not allowed here; use {\' or \'.join(allowed)}")',
      HELPER_APP),  # helper
    M('r5: every upstream failure becomes 502, transient ones (503/504) lose their retryable status',
      'helper', 'helper_service/app.py',
      '            return _error(exc.status, exc.message)\n',
      '            return _error(502, exc.message)\n',
      HELPER_APP),  # helper
    M("r5: an internal error's answer and log line include the exception's repr (may carry tokens or upstream bodies)",
      'helper', 'helper_service/app.py',
      'return _error(500, f"internal error ({type(exc).__name__} at {Path(where.filename).name}:{where.lineno})")',
      'return _error(500, f"internal error ({exc!r} at {Path(where.filename).name}:{where.lineno})")',
      HELPER_APP),  # helper
    M("r5: /token reports expiry as now + configured lifetime instead of the token's real expiry",
      'helper', 'helper_service/app.py',
      'expires = datetime.fromtimestamp(token.expires_at, UTC).isoformat().replace("+00:00", "Z")',
      'expires = datetime.fromtimestamp(self.clock() + self.config.token_lifetime_seconds, UTC).isoformat().replace("+00:00", "Z")',
      HELPER_APP),  # helper
    M('r5: /token always hands out user oauth2accesstoken (ECR pushes need user AWS)',
      'helper', 'helper_service/app.py',
      'credentials = {"username": self.config.token_user, "password"',
      'credentials = {"username": "oauth2accesstoken", "password"',
      (*ECR_HELPER, *HELPER_APP)),  # helper
    # dropped, equivalent: 'r5: HEAD on health/metrics sends the body too' (uvicorn sends no body to HEAD whatever the app gives)
    M('r5: image names of exactly 255 characters are refused',
      'helper', 'helper_service/references.py',
      'if len(text) > MAX_NAME_LENGTH or not NAME.fullmatch(text):',
      'if len(text) >= MAX_NAME_LENGTH or not NAME.fullmatch(text):',
      H),  # helper
    M('r5: tags of 129 characters are accepted (grammar allows 128)',
      'helper', 'helper_service/references.py',
      'TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)',
      'TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,128}", re.ASCII)',
      H),  # helper
    M('r5: names with several dashes in a row (valid per distribution) are refused',
      'helper', 'helper_service/references.py',
      '_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"',
      '_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-)[a-z0-9]+)*"',
      H),  # helper
    M('r5: names with empty path components (a//b) are accepted',
      'helper', 'helper_service/references.py',
      'NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)',
      'NAME = re.compile(rf"{_COMPONENT}(?:/+{_COMPONENT})*", re.ASCII)',
      H),  # helper
    M("r5: helper allows any image in the whole repository, not only under BinderHub's prefix",
      'helper', 'helper_service/config.py',
      '        return name.startswith(self.image_path)\n',
      '        return name.startswith(self.image_path.rsplit("/", 1)[0])\n',
      H),  # helper
    M('r5: tokenMinRemainingSeconds equal to tokenLifetimeSeconds is accepted (every token is refused as too short)',
      'helper', 'helper_service/config.py',
      '    if min_remaining >= lifetime:\n',
      '    if min_remaining > lifetime:\n',
      H),  # helper
    M('r5: maxConnections is read from maxConcurrentRequests',
      'helper', 'helper_service/config.py',
      '"max_connections": int(helper.get("maxConnections") or 1024)',
      '"max_connections": int(helper.get("maxConcurrentRequests") or 1024)',
      H),  # helper
    M('r5: cached token still served at expires_at - min_remaining exactly (should renew)',
      'helper', 'helper_service/token_cache.py',
      'if token is not None and self.clock() < self._until:',
      'if token is not None and self.clock() <= self._until:',
      TOKEN_CACHE),  # helper
    M('r5: a short-lived minted token is reused for 30s even when it has under 60s to live',
      'helper', 'helper_service/token_cache.py',
      'until = min(now + SHORT_TOKEN_REUSE_SECONDS, token.expires_at - MIN_SERVED_SECONDS)',
      'until = max(now + SHORT_TOKEN_REUSE_SECONDS, token.expires_at - MIN_SERVED_SECONDS)',
      TOKEN_CACHE),  # helper
    M('r5: single flight without shield: one waiter timing out cancels the mint for every other waiter',
      'helper', 'helper_service/token_cache.py',
      '        return cast(T, await asyncio.shield(future))\n',
      '        return cast(T, await future)\n',
      TOKEN_CACHE),  # helper
    M('r5: a pull token the registry refuses is not dropped from the cache; the retry reuses it (forgets the access token instead)',
      'helper', 'helper_service/registry_checks.py',
      '            self._pull_tokens.pop(name, None)\n',
      '            self.tokens.forget()\n',
      H),  # helper
    M('r5: token service refusing the access token does not drop the cached (revoked) access token',
      'helper', 'helper_service/registry_checks.py',
      '            self.tokens.forget()\n            raise UpstreamError("The registry\'s token service refused',
      '            raise UpstreamError("The registry\'s token service refused',
      H),  # helper
    M('r5: pull token asked with push scope (more privilege than the lookup needs)',
      'helper', 'helper_service/registry_checks.py',
      'params = {"scope": f"repository:{name}:pull", "service": challenge.service}',
      'params = {"scope": f"repository:{name}:push,pull", "service": challenge.service}',
      H),  # helper
    M('r5: Artifact Registry repository check inverted: never asked (cache window check wrong way)',
      'helper', 'helper_service/registry_checks.py',
      '        if self.clock() < self._repository_seen_until:\n',
      '        if self.clock() > self._repository_seen_until:\n',
      H),  # helper
    M('r5: registry answering 429 becomes 502 instead of retryable 503',
      'helper', 'helper_service/registry_checks.py',
      'status = 503 if response.status_code in (429, 500, 502, 503, 504) else 502',
      'status = 503 if response.status_code in (500, 502, 503, 504) else 502',
      H),  # helper
    M('r5: 429 from metadata/IAM Credentials is treated as a permanent refusal, not retried',
      'helper', 'helper_service/google_tokens.py',
      '_TRANSIENT = frozenset({429, 500, 502, 503, 504})',
      '_TRANSIENT = frozenset({500, 502, 503, 504})',
      H),  # helper
    M("r5: generateAccessToken lifetime sent without the 's' unit",
      'helper', 'helper_service/google_tokens.py',
      'body = {"scope": [CLOUD_PLATFORM], "lifetime": f"{self.config.token_lifetime_seconds}s"}',
      'body = {"scope": [CLOUD_PLATFORM], "lifetime": f"{self.config.token_lifetime_seconds}"}',
      H),  # helper
    M("r5: Google's error status is only prefix-matched: free text after an uppercase word is echoed (may carry credentials)",
      'helper', 'helper_service/google_tokens.py',
      'if isinstance(status, str) and _ENUM.fullmatch(status):',
      'if isinstance(status, str) and _ENUM.match(status):',
      H),  # helper
    M("r5: metrics endpoint label is unbounded (any path's first segment becomes a label value)",
      'helper', 'helper_service/metrics.py',
      'endpoint = endpoint if endpoint in ENDPOINTS else "other"',
      'endpoint = endpoint or "other"',
      METRICS),  # helper
    M('r5: upstream 500 answers are not counted as upstream errors',
      'helper', 'helper_service/metrics.py',
      'if response.status_code == 429 or response.status_code >= 500:',
      'if response.status_code == 429 or response.status_code > 500:',
      METRICS),  # helper
    M('r5: connection cap off by one: only max_connections - 1 connections are accepted',
      'helper', 'helper_service/server.py',
      'if len(self.connections) > self.max_connections:',
      'if len(self.connections) >= self.max_connections:',
      SERVER),  # helper
    M('r5: on SIGTERM the helper keeps reporting ready during the drain',
      'helper', 'helper_service/server.py',
      '        self.app.ready = False\n        self.drain_until = time.monotonic() + self.drain_seconds\n',
      '        self.drain_until = time.monotonic() + self.drain_seconds\n',
      SERVER),  # helper
    # dropped, equivalent: 'r5: serve exits 0 even when the server never started' (uvicorn's start-up either sets
    # started or exits 3 itself: tests/helper/test_serve_process.py::test_a_helper_that_cannot_start_exits_non_zero)
    M('r5: ECR: a repository found missing is remembered as existing for 5 minutes',
      'ecr', 'helper_service/ecr_backend.py',
      '        if exists:\n            self._remember(name)\n',
      '        self._remember(name)\n',
      ECR_HELPER),  # helper
    M('r5: ECR: unreachable AWS answers 502 and refusals 503 (swapped)',
      'ecr', 'helper_service/ecr_backend.py',
      'raise UpstreamError(exc.message, 503 if isinstance(exc, Unreachable) else 502) from None',
      'raise UpstreamError(exc.message, 502 if isinstance(exc, Unreachable) else 503) from None',
      ECR_HELPER),  # helper
    M('r5: interval rotation skips a credential exactly one interval old',
      'rotation', 'rotation.py',
      '    if age >= policy.interval:\n',
      '    if age > policy.interval:\n',
      ROTATION),  # rotation
    M('r5: a changed rotation.trigger is ignored under policy never',
      'rotation', 'rotation.py',
      'if policy.trigger and annotations.get(ROTATION_TRIGGER, "") != policy.trigger:',
      'if policy.trigger and policy.policy != "never" and annotations.get(ROTATION_TRIGGER, "") != policy.trigger:',
      ROTATION),  # rotation
    M('r5: every-upgrade without a release revision rotates on every run',
      'rotation', 'rotation.py',
      '            return False, "no release revision given (rotation happens on helm upgrade)"',
      '            return True, "no release revision given (rotation happens on helm upgrade)"',
      ROTATION),  # rotation
    M('r5: default rotation.interval is 72h instead of 720h (30 days)',
      'rotation', 'rotation.py',
      'interval=parse_duration(str(rotation.get("interval") or "720h")),',
      'interval=parse_duration(str(rotation.get("interval") or "72h")),',
      ROTATION),  # rotation
    M('r5: interval policy never rotates a credential whose creation time is unknown',
      'rotation', 'rotation.py',
      '        return True, "the credential\'s creation time is unknown"',
      '        return False, "the credential\'s creation time is unknown"',
      ROTATION),  # rotation
    M('r5: Deployment created in the same second as the last Secret change is treated as already reading it (no restart)',
      'restart', 'restart.py',
      'if created is None or current.changed_at is None or created <= current.changed_at:',
      'if created is None or current.changed_at is None or created < current.changed_at:',
      RESTART),  # rotation
    M('r5: a run changing the fingerprint does not restart a Deployment without annotation when the Secret had none',
      'restart', 'restart.py',
      '    if current.annotation(FINGERPRINT) != fingerprint:\n',
      '    if current.annotation(FINGERPRINT) and current.annotation(FINGERPRINT) != fingerprint:\n',
      RESTART),  # rotation
    M("r5: the Deployment's own note wins over the pod template's fingerprint",
      'restart', 'restart.py',
      '    running = (template_metadata.get("annotations") or {}).get(DEPLOYMENT_FINGERPRINT) or (metadata.get("annotations") or {}).get(\n        DEPLOYMENT_FINGERPRINT\n    )',
      '    running = (metadata.get("annotations") or {}).get(DEPLOYMENT_FINGERPRINT) or (template_metadata.get("annotations") or {}).get(\n        DEPLOYMENT_FINGERPRINT\n    )',
      RESTART),  # rotation
    M('r5: an object without managedFields counts for nothing instead of making the change time unknown',
      'restart', 'restart.py',
      '        if not entries:\n            return None\n',
      '        if not entries:\n            continue\n',
      RESTART),  # rotation
    M('r5: last change is the earliest managedFields time, not the latest',
      'restart', 'restart.py',
      '    return max(times, default=None)\n',
      '    return min(times, default=None)\n',
      RESTART),  # rotation
    M('r5: fingerprint ignores registry.json changes: BinderHub is not restarted when its registry settings change',
      'rotation', 'state.py',
      'unchanged = current.docker_config == docker_config and current.binderhub_config == binderhub_config',
      'unchanged = current.docker_config == docker_config',
      STATE),  # rotation
    M('r5: a Secret stored under .dockerconfigjson is read as holding no docker config',
      'rotation', 'state.py',
      'docker_config = _json_object(secret["data"].get("config.json") or secret["data"].get(".dockerconfigjson") or "null") or None',
      'docker_config = _json_object(secret["data"].get("config.json") or "null") or None',
      STATE),  # rotation
    M('r5: a reused credential gets a fresh created-at on every run, so interval rotation never fires',
      'rotation', 'state.py',
      '            CREATED_AT: credential.created_at or now_text(),\n',
      '            CREATED_AT: now_text(),\n',
      ("tests/hook/test_google.py::test_a_kept_key_keeps_its_creation_time_so_the_interval_rotates_it", *STATE)),  # rotation
    M('r5: with auth_config_url set but missing from auths, the lookup falls back to the registry URL (BinderHub would not)',
      'docker-config', 'dockerconfig.py',
      '    if auth_config_url:\n        return auth_config_url if auth_config_url in auths else None\n',
      '    if auth_config_url and auth_config_url in auths:\n        return auth_config_url\n',
      DOCKER_CONFIG),  # hook-io
    M("r5: registry host docker.io itself no longer maps to Docker Hub's index key",
      'docker-config', 'dockerconfig.py',
      'if ("." + hostname).endswith((".docker.io", ".docker.com")) and DOCKER_HUB_AUTH_KEY in auths:',
      'if hostname.endswith((".docker.io", ".docker.com")) and DOCKER_HUB_AUTH_KEY in auths:',
      DOCKER_CONFIG),  # hook-io
    M("r5: an auth without ':' is accepted as well-formed (BinderHub fails on it)",
      'docker-config', 'dockerconfig.py',
      '    if ":" not in decoded:\n        return None  # BinderHub splits on the first \':\' and fails without one\n',
      '',
      DOCKER_CONFIG),  # hook-io
    M('r5: redaction masks shortest secrets first, leaving pieces of a longer secret that contains a shorter one',
      'redaction', 'progress.py',
      'for secret in sorted(secrets, key=len, reverse=True):',
      'for secret in sorted(secrets, key=len):',
      REDACTION),  # hook-io
    M('r5: a secret ending in punctuation is left unmasked when a word follows it',
      'redaction', 'progress.py',
      'if end >= len(text) or not _word(text[end - 1]):',
      'if end >= len(text):',
      REDACTION),  # hook-io
    M('r5: lines of a multi-line secret of exactly MIN_LINE_LENGTH are not masked',
      'redaction', 'progress.py',
      '            if len(part) >= MIN_LINE_LENGTH:\n',
      '            if len(part) > MIN_LINE_LENGTH:\n',
      REDACTION),  # hook-io
    M('r5: the base64 username:password (docker auth / Basic header) is not masked; base64 of the password alone is',
      'redaction', 'progress.py',
      'self._secrets.add(base64.b64encode(f"{username}:{password}".encode()).decode())',
      'self._secrets.add(base64.b64encode(password.encode()).decode())',
      REDACTION),  # hook-io
    M('r5: form-encoded (quote_plus) password is not masked',
      'redaction', 'progress.py',
      'forms |= {quote(value, safe=""), quote_plus(value, safe="")}',
      'forms |= {quote(value, safe="")}',
      REDACTION),  # hook-io
    M('r5: JSON field names are not redacted',
      'redaction', 'progress.py',
      'return {self.redact(str(k)): self.redact_fields(v) for k, v in value.items()}',
      'return {str(k): self.redact_fields(v) for k, v in value.items()}',
      REDACTION),  # hook-io
    M('r5: JSON lines are redacted after encoding, so escaped passwords (quotes, backslashes, non-ASCII) leak',
      'redaction', 'progress.py',
      'line = json.dumps(self.redact_fields(record), sort_keys=False)',
      'line = self.redact(json.dumps(record, sort_keys=False))',
      REDACTION),  # hook-io
    M('r5: kube_client loads the kubeconfig loader in a pod and the in-cluster loader outside',
      'kube-writer', 'kube_client.py',
      'importlib.import_module("kubernetes.config.incluster_config" if in_cluster else "kubernetes.config.kube_config"),',
      'importlib.import_module("kubernetes.config.kube_config" if in_cluster else "kubernetes.config.incluster_config"),',
      KUBE_CLIENT),  # hook-io
    M('r5: kube_client re-defers auth-plugin modules already imported (replaces live google.auth modules)',
      'kube-writer', 'kube_client.py',
      'if name not in sys.modules and _installed(name):',
      'if _installed(name):',
      KUBE_CLIENT),  # hook-io
    M("r5: key creation attempted with 10 user-managed keys already (Google's limit) instead of a clear error",
      'google-keys', 'providers/google/keys.py',
      '        if len(keys) >= MAX_KEYS:\n',
      '        if len(keys) > MAX_KEYS:\n',
      GOOGLE_KEYS),  # google
    M('r5: the noted leaked key is deleted even when the Secret uses it (crash after the Secret write)',
      'google-keys', 'providers/google/keys.py',
      '            leaked = {intent.key_id} - in_use\n',
      '            leaked = {intent.key_id}\n',
      GOOGLE_KEYS),  # google
    M('r5: leaked-key window ignores clock skew: a key stamped just before the note is left behind',
      'google-keys', 'providers/google/keys.py',
      'if _created_between(k, started - CLOCK_SKEW, started + CREATION_WINDOW) and key_id(k.name) not in in_use',
      'if _created_between(k, started, started + CREATION_WINDOW) and key_id(k.name) not in in_use',
      GOOGLE_KEYS),  # google
    M("r5: a write-ahead note for another service account deletes this account's keys created in the window",
      'google-keys', 'providers/google/keys.py',
      '        if intent.key_account != self.account:\n',
      '        if not intent.key_account:\n',
      GOOGLE_KEYS),  # google
    M('r5: IAM key listing no longer filters user-managed keys (system-managed keys counted and revoked)',
      'google-keys', 'providers/google/iam.py',
      'answer = self._rest.call("GET", f"{name}/keys", params={"keyTypes": USER_MANAGED})',
      'answer = self._rest.call("GET", f"{name}/keys")',
      GOOGLE_KEYS),  # google
    M('r5: key timestamps with a UTC offset are taken as UTC without conversion',
      'google-keys', 'providers/google/iam.py',
      '    return moment.astimezone(UTC) if moment.tzinfo is not None else None\n',
      '    return moment.replace(tzinfo=UTC) if moment.tzinfo is not None else None\n',
      GOOGLE_KEYS),  # google
    M('r5: Workload Identity member is added to a conditional binding of the role',
      'workload-identity', 'providers/google/workload_identity.py',
      'binding = next((b for b in policy.bindings if b.role == role and not b.condition.expression), None)',
      'binding = next((b for b in policy.bindings if b.role == role), None)',
      KEYLESS),  # google
    M('r5: uninstall removes the helper/hook member from every role in the policy, not only the two it granted',
      'workload-identity', 'providers/google/workload_identity.py',
      '            if binding.role == role and member in binding.members:\n',
      '            if member in binding.members:\n',
      KEYLESS),  # google
    M('r5: an etag conflict on setIamPolicy is not retried',
      'workload-identity', 'providers/google/workload_identity.py',
      '    for _ in range(5):\n        policy = calls(',
      '    for _ in range(1):\n        policy = calls(',
      KEYLESS),  # google
    M('r5: Workload Identity member names NAME/NAMESPACE instead of NAMESPACE/NAME',
      'workload-identity', 'providers/google/workload_identity.py',
      'return f"serviceAccount:{project}.svc.id.goog[{namespace}/{name}]"',
      'return f"serviceAccount:{project}.svc.id.goog[{name}/{namespace}]"',
      KEYLESS),  # google
    M('r5: a user (non-service-account) hook identity is granted Token Creator as serviceAccount:EMAIL',
      'workload-identity', 'providers/google/workload_identity.py',
      'return f"serviceAccount:{email}" if email.endswith(".gserviceaccount.com") else None',
      'return f"serviceAccount:{email}" if "@" in email else None',
      KEYLESS),  # google
    M("r5: switching to keyless revokes keys the operator gave (mode validate), not only the tool's own",
      'workload-identity', 'providers/google/workload_identity.py',
      '        if old is not None and current.created_by_tool:\n',
      '        if old is not None:\n',
      KEYLESS),  # google
    M('r5: rotating the key revokes the current key too (no overlap for BinderHub pods still using it)',
      'google-keys', 'providers/google/__init__.py',
      'live = keys.revoke(live, {older} - {kid, ""}, "the key before the current one")',
      'live = keys.revoke(live, {older, kid} - {""}, "the key before the current one")',
      GOOGLE_KEYS),  # google
    M('r5: a disabled key in the Secret is reused instead of replaced',
      'google-keys', 'providers/google/__init__.py',
      '            if kid in by_id and not by_id[kid].disabled:\n',
      '            if kid in by_id:\n',
      GOOGLE_KEYS),  # google
    M('r5: registry helper pod mounts a Kubernetes API token',
      'chart', 'chart/templates/registry-helper/deployment.yaml',
      '      automountServiceAccountToken: {{ ternary "true" "false" (eq $keepsPullSecret "true") }}\n',
      '      automountServiceAccountToken: true\n',
      KEYLESS_CHART),  # chart
    M('r5: readiness probe checks liveness: the SIGTERM drain never takes the pod out of the Service',
      'chart', 'chart/templates/registry-helper/deployment.yaml',
      'httpGet: {path: /healthz/ready, port: http}',
      'httpGet: {path: /healthz/live, port: http}',
      KEYLESS_CHART),  # chart
    M('r5: terminationGracePeriodSeconds shorter than drain + graceful shutdown: the kubelet kills requests in flight',
      'chart', 'chart/templates/registry-helper/deployment.yaml',
      '      terminationGracePeriodSeconds: 40\n',
      '      terminationGracePeriodSeconds: 20\n',
      KEYLESS_CHART),  # chart
    M("r5: helper pods are not rolled when the helper's values change (checksum annotation dropped)",
      'chart', 'chart/templates/registry-helper/deployment.yaml',
      '        checksum/values: {{ include "binderhub-registry.helperValues" . | sha256sum }}\n',
      '',
      KEYLESS_CHART),  # chart
    M('r5: a fresh helper token is written un-encoded into data: (the Secret holds different bytes than intended)',
      'chart', 'chart/templates/registry-helper/token-secret.yaml',
      '{{- $token = randAlphaNum 48 | b64enc }}',
      '{{- $token = randAlphaNum 48 }}',
      KEYLESS_CHART),  # chart
    M('r5: network policy lets the helm test pod in only when tests are disabled',
      'chart', 'chart/templates/registry-helper/networkpolicy.yaml',
      '        {{- if .Values.test.enabled }}\n',
      '        {{- if not .Values.test.enabled }}\n',
      KEYLESS_CHART),  # chart
    M("r5: network policy selects every pod of the release (common labels) instead of the helper's",
      'chart', 'chart/templates/registry-helper/networkpolicy.yaml',
      '  podSelector:\n    matchLabels:\n      {{- include "binderhub-registry.helperSelector" . | nindent 6 }}',
      '  podSelector:\n    matchLabels:\n      {{- include "binderhub-registry.labels" . | nindent 6 }}',
      KEYLESS_CHART),  # chart
    M('r5: helper Service listens on port 80 while BinderHub is given :8080',
      'chart', 'chart/templates/registry-helper/service.yaml',
      '      port: {{ include "binderhub-registry.helperPort" . }}\n',
      '      port: 80\n',
      KEYLESS_CHART),  # chart
    M('r5: registryHelper.serviceAccount.annotateBuilder false is ignored: the GKE annotation is always set',
      'chart', 'chart/templates/registry-helper/serviceaccount.yaml',
      '{{- if and .Values.registryHelper.serviceAccount.annotateBuilder (ne .Values.registry.type "ecr") }}',
      '{{- if ne .Values.registry.type "ecr" }}',
      KEYLESS_CHART),  # chart
]
