#!/usr/bin/env python3
"""A small, repeatable mutation-testing run: realistic one-line bugs, applied one at a time to a
copy of the hook package, each followed by the tests that should catch it. Prints each mutant's
fate, the kill rate and the survivors. Not part of CI (it takes minutes); run `scripts/mutate`.

Why our own list and not mutmut: the tests run the CLI as a separate process (as the hook Job
does) and through Helm on the test cluster; mutmut 3's trampolines live in its own `mutants/` copy,
which those processes never import. Here the mutated copy is put first on PYTHONPATH (the
editable install is a plain .pth path entry, which PYTHONPATH precedes), and the subprocesses
inherit it. The first mutations cover where a silent bug hurts most: the push proof (oci.py),
docker config lookup (dockerconfig.py), redaction (progress.py), rotation decisions (rotation.py),
the Google key lifecycle (providers/google/) and the Kubernetes writer (kube.py); the "r1:" to
"r3:" ones are three rounds of an independent review (issue #26) of every module and chart template,
written from the code and README without this list. A ``chart/...`` module is a file of the
repository snapshot, restored after its run.

A mutant is judged in two stages. First its recorded killer (scripts/mutation_killers.json,
committed beside the list: the test that killed it last time) runs alone: its failure is the kill;
anything else (it passes, its id is gone, the marker deselects it) leaves the mutant to the second
stage. A recorded killer is used only if it passes on the unmutated code: the coverage map's run
says so when the map is cached, else the killers are run once, unmutated, before the mutants.

Second stage, in one ``pytest -x`` run: the tests that execute the lines it changes, from the map
(``--selection auto``, the default, when it is cached; ``coverage`` builds it): the suite run once
under coverage.py, the CLI's processes included, each test its own context
(scripts/mutation_coverage.py), kept in .mutate-cache/ until the package, tests or chart change,
its run the baseline. Where the map cannot tell (a ``chart/...`` file, a line that runs at import,
a line no test executes, reported at the end), and without a map: its own ``tests``, then its
area's test files that name the mutated module, then the rest of its area's (each file checked
once, unmutated, first). With a map, the chosen tests (files expanded into their tests) run the
cheapest first: by the seconds the map recorded, a quarter of them for the mutation's own ``tests``
and half for its area's files (GROUPS), which are likelier to kill it (scripts/mutation_order.py).
Then, as a survivor, the whole suite but SUITE_EXCLUDES and what it already passed (with a map:
each test it ran, the rest quickest first; else its files) (``--targeted-only`` stops before
that). Whichever test kills a mutant is recorded as its killer, a survivor's is forgotten: commit
the record with the list. ``--jobs`` mutants (default: the cores) are judged at once, each in its
own snapshot of the repository (package on PYTHONPATH, chart, pytest's basetemp). Every pytest run
starts without the cache and the hypothesis and anyio plugins (PYTEST_OPTIONS). The run ends with
killed/total per area, the survivors, the wall time and the load average.

Usage: scripts/mutate [--only SUBSTRING]... [--sample N [--seed S]] [--list] [--jobs N] [--timeout SECONDS]
       [--selection auto|coverage|files] [--skip-baseline] [--targeted-only] [--suite-timeout SECONDS] [--marker EXPRESSION]
The later rounds' lists are scripts/mutation_rounds/*.py ("r4:" on), loaded after this one. Every
pytest run gets ``-m "not cluster"`` unless --marker says otherwise: the test cluster is one per
machine, so with its tests (``--marker ""``, for the lead, under the machine's lock) one mutant
runs at a time. A mutation whose text no longer matches the code is reported as STALE, one naming
a test file that does not exist stops the run (update the list).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import mutation_coverage
import mutation_order
from mutation_coverage import CoverageMap

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hooks" / "binderhub_registry"
PYTHON = ROOT / ".venv" / "bin" / "python"
ROUNDS = ROOT / "scripts" / "mutation_rounds"  # more lists, one per review round (issue #26)
CACHE = ROOT / ".mutate-cache"  # the coverage maps, by fingerprint of the package, tests and chart
KILLERS = ROOT / "scripts" / "mutation_killers.json"  # the test that killed each mutant last time: run first next time

# The tests that should catch a bug in each area, fastest and most targeted first (pytest -x).
GROUPS = {
    "push-proof": ["tests/hook/test_push_permission.py", "tests/hook/test_generic.py", "tests/hook/test_dockerhub.py",
                   "tests/hook/test_hostile_registry.py"],
    "docker-config": ["tests/hook/test_dockerconfig_lookup.py", "tests/hook/test_generic.py", "tests/hook/test_check_google.py"],
    "redaction": ["tests/hook/test_progress.py", "tests/hook/test_canary.py", "tests/hook/test_generic.py"],
    "rotation": ["tests/hook/test_rotation_policy.py", "tests/hook/test_crash_safety.py",
                 "tests/lifecycle/test_cluster_google.py"],
    "google-keys": ["tests/hook/test_crash_safety.py", "tests/hook/test_google.py", "tests/hook/test_google_key_revocation.py",
                    "tests/hook/test_check_google.py",
                    "tests/lifecycle/test_cluster_google.py"],
    "restart": ["tests/hook/test_restart_rule.py", "tests/hook/test_restart_after_install.py",
                "tests/lifecycle/test_cluster_generic.py"],
    "key-checks": ["tests/hook/test_google_key_validation.py", "tests/hook/test_google.py", "tests/hook/test_google_iam_rest.py"],
    "start-up": ["tests/hook/test_process_exit.py", "tests/test_schema_check.py", "tests/hook/test_start_imports.py"],
    "harbor": ["tests/hook/test_harbor.py", "tests/hook/test_pull_credentials.py", "tests/lifecycle/test_cluster_harbor.py"],
    "pull-credentials": ["tests/hook/test_pull_credentials.py", "tests/hook/test_harbor.py", "tests/chart/test_binderhub_wiring.py",
                         "tests/chart/test_chart.py"],
    "helper": ["tests/helper/test_token_cache.py", "tests/helper/test_helper_limits.py", "tests/helper/test_helper_error_hygiene.py",
               "tests/helper/test_helper_metrics.py", "tests/helper/test_helper_requests.py"],
    "kube-writer": ["tests/hook/test_kube_writer.py", "tests/hook/test_release_state.py", "tests/hook/test_crash_safety.py",
                    "tests/hook/test_generic.py",
                    "tests/lifecycle/test_cluster_generic.py", "tests/lifecycle/test_cluster_google.py"],
    "value-rules": ["tests/test_readme.py", "tests/chart/test_value_rules.py"],
    "http": ["tests/hook/test_hostile_registry.py", "tests/hook/test_generic.py"],
    "workload-identity": ["tests/hook/test_workload_identity_bindings.py", "tests/hook/test_google_keyless.py"],
    "output": ["tests/hook/test_generic.py", "tests/hook/test_canary.py", "tests/hook/test_google.py"],
    "settings": ["tests/hook/test_binderhub_wiring_output.py", "tests/test_binder_pod_config.py", "tests/hook/test_generic.py",
                 "tests/chart/test_value_rules.py"],
    "values": ["tests/hook/test_generic.py", "tests/hook/test_values_properties.py", "tests/chart/test_value_rules.py"],
    "helper-client": ["tests/hook/test_helper_client.py", "tests/helper/test_helper_service.py", "tests/hook/test_google_keyless.py",
                      "tests/lifecycle/test_cluster_keyless.py"],
    "chart": ["tests/chart", "tests/lifecycle/test_cluster_generic.py"],
    "layers": ["tests/test_import_layers.py"],
    "ecr": ["tests/hook/test_ecr.py", "tests/helper/test_ecr_helper.py", "tests/helper/test_ecr_pull_secret.py",
            "tests/chart/test_ecr_chart.py"],
}
# A survivor of its targeted tests then meets the whole suite but these (the image is rebuilt
# only for its own inputs, the release tests lint the workflow): the verdict is the suite's.
SUITE_EXCLUDES = ["tests/image", "tests/release"]


@dataclass(frozen=True)
class Mutation:
    name: str
    group: str
    module: str  # path under hooks/binderhub_registry, or a chart file (chart/...)
    old: str  # must occur exactly once in the module
    new: str
    # The tests that should catch it first (pytest ids): run before the group's, which then run
    # only for a survivor of these; empty: the group's at once.
    tests: tuple[str, ...] = ()


M = Mutation
MUTATIONS = [
    # -- Amazon ECR (issue #24) ------------------------------------------------------------------
    M("ecr probe repository the hook created is kept", "ecr", "providers/ecr/__init__.py",
      "            if created or left == probe:", "            if left == probe:"),
    M("ecr probe repository that existed before is deleted", "ecr", "providers/ecr/__init__.py",
      "            if created or left == probe:", "            if True:"),
    M("ecr no write-ahead note before creating the probe", "ecr", "providers/ecr/__init__.py",
      "            self.record_intent(Intent(ecr_probe_repository=probe))\n", ""),
    M("ecr account from STS ignored", "ecr", "providers/ecr/__init__.py",
      'arn, account = str(identity.get("Arn") or ""), self.account or str(identity.get("Account") or "")',
      'arn, account = str(identity.get("Arn") or ""), self.account'),
    M("ecr lifecycle policy never set", "ecr", "providers/ecr/repositories.py",
      "        if self.target.lifecycle_days:", "        if False:"),
    M("ecr scan on push ignored", "ecr", "providers/ecr/repositories.py",
      'imageScanningConfiguration={"scanOnPush": self.target.scan_on_push}', 'imageScanningConfiguration={"scanOnPush": False}'),
    M("ecr a missing image is an error, not 404", "ecr", "providers/ecr/repositories.py",
      "expect=(NOT_FOUND, IMAGE_NOT_FOUND),", "expect=(NOT_FOUND,),"),
    M("ecr a Pod Identity agent refusing the pod's token is an unexpected error", "ecr", "providers/ecr/aws.py",
      "    except aws.CredentialRetrievalError as exc:\n        raise no_credentials_handed_out(exc, who) from None\n",
      "    except aws.NoCredentialsError as exc:\n        raise no_credentials_handed_out(exc, who) from None\n",
      tests=("tests/hook/test_ecr.py",)),
    M("ecr a 403 without a readable code is no refusal", "ecr", "providers/ecr/aws.py",
      "if code in ACCESS_DENIED or (status == 403 and code not in CREDENTIALS_REFUSED):", "if code in ACCESS_DENIED:"),
    M("ecr helper token kept until it expires (no early renewal)", "ecr", "providers/ecr/target.py",
      "TOKEN_RENEW_BEFORE_SECONDS = 6 * 3600", "TOKEN_RENEW_BEFORE_SECONDS = 60"),
    M("ecr pull Secret written once, never renewed", "ecr", "helper_service/pull_secret.py",
      "            if token.value != self._written:", "            if not self._written:",
      ("tests/helper/test_ecr_pull_secret.py",)),
    M("ecr pull Secret renewed on a clock of its own (11 hours)", "ecr", "helper_service/pull_secret.py",
      "        return max(MIN_WAIT_SECONDS, (renews_at if renews_at is not None else 0.0) - self.tokens.clock())",
      "        return 11 * 3600.0", ("tests/helper/test_ecr_pull_secret.py",)),
    M("ecr pullSecret helper: the chart does not pass --pull-secret to the helper", "ecr",
      "chart/templates/registry-helper/deployment.yaml", "            {{- if $keepsPullSecret }}\n            - --pull-secret",
      "            {{- if false }}\n            - --pull-secret",
      ("tests/chart/test_ecr_chart.py", "tests/lifecycle/test_cluster_ecr.py")),
    M("ecr pullSecret helper: the hook leaves the pull Secret empty", "ecr", "providers/ecr/__init__.py",
      '        return self._pull if self.config.get("pullSecret") == PULL_SECRET_HELPER else None', "        return None",
      ("tests/hook/test_ecr.py",)),
    M("ecr helper hands out Google's user name", "ecr", "helper_service/config.py",
      "        token_user=ECR_USER,\n", ""),
    M("ecr helper never creates a repository", "ecr", "helper_service/ecr_backend.py",
      "        if not self._known(name):\n            await self._call(lambda: self.repositories.create(name))",
      "        if False:\n            await self._call(lambda: self.repositories.create(name))"),
    M("ecr IRSA role not on the hook's ServiceAccount", "ecr", "chart/templates/shared/serviceaccount.yaml",
      '    {{- with include "binderhub-registry.awsAnnotations" . }}', '    {{- with "" }}'),
    M("ecr access keys in the helm test Pod too", "ecr", "chart/templates/_pod.tpl",
      '      {{- if not $checksSecret }}\n      {{- include "binderhub-registry.awsEnv" $root | nindent 6 }}',
      '      {{- if true }}\n      {{- include "binderhub-registry.awsEnv" $root | nindent 6 }}'),
    M("ecr no registry helper rendered", "ecr", "chart/templates/_keyless.tpl",
      '{{- else if eq .Values.registry.type "ecr" -}}', '{{- else if false -}}'),
    # -- Harbor robot accounts -------------------------------------------------------------------
    M("harbor robot gets push only (no pull)", "harbor", "providers/harbor/api.py",
      'PUSH_ACCESS = ({"resource": "repository", "action": "push"}, {"resource": "repository", "action": "pull"})',
      'PUSH_ACCESS = ({"resource": "repository", "action": "push"},)'),
    M("harbor rotation refreshes the current robot (BinderHub's secret dies before the Secret changes)", "harbor",
      "providers/harbor/robots.py",
      "standby, secret = self._standby(api, previous, self._slot_name(robot, other=True))",
      "standby, secret = self._standby(api, robot, self._slot_name(robot, other=True))"),
    M("harbor never rotates on upgrade", "harbor", "providers/harbor/robots.py",
      "            if not rotate:\n                self.progress.step(f\"robot account",
      "            if True:\n                self.progress.step(f\"robot account"),
    M("harbor ignores an expiring robot", "harbor", "providers/harbor/robots.py",
      "return robot.expires_at >= 0 and robot.expires_at - time.time() < self.renew_before * DAY",
      "return False"),
    M("harbor reuses a disabled robot", "harbor", "providers/harbor/robots.py",
      "return not robot.disabled and (robot.expires_at < 0", "return (robot.expires_at < 0"),
    M("harbor leaked robot of an interrupted run kept", "harbor", "providers/harbor/robots.py",
      "if noted and short_name(robot.name) == noted and robot.id not in ours:", "if False:"),
    M("harbor no write-ahead note before creating a robot", "harbor", "providers/harbor/robots.py",
      "        self.note(self.what, name)\n", ""),
    M("harbor notes of an interrupted run not read back", "harbor", "state.py",
      "harbor_robots={what: notes[key] for what, key in HARBOR_INTENTS.items() if notes.get(key)},", "harbor_robots={},",
      tests=("tests/hook/test_release_state.py", "tests/hook/test_harbor.py")),
    M("a Secret without an origin counts as created by the tool", "harbor", "state.py",
      "return self.annotation(CREDENTIAL_ORIGIN) == CREATED", "return self.annotation(CREDENTIAL_ORIGIN) != GIVEN",
      tests=("tests/hook/test_release_state.py", "tests/hook/test_harbor.py")),
    M("harbor cleanup deletes every robot of the project", "harbor", "providers/harbor/robots.py",
      "return [robot.name for robot_id in robot_ids(current) if robot_id is not None and (robot := robots.get(robot_id))",
      "return [robot.name for robot in robots.values() if robot"),
    M("harbor create retried after a lost answer", "harbor", "providers/harbor/api.py",
      "json=body, expect=(201, 409), retried=False,", "json=body, expect=(201, 409), retried=True,"),
    M("harbor web page read as an error status", "harbor", "providers/harbor/api.py",
      "        if is_html(response):\n            raise _not_harbor", "        if False:\n            raise _not_harbor"),
    # -- pull credentials (user pods) -------------------------------------------------------------
    M("harbor pull robot gets push too", "pull-credentials", "providers/harbor/api.py",
      'PULL_ACCESS = ({"resource": "repository", "action": "pull"},)',
      'PULL_ACCESS = ({"resource": "repository", "action": "pull"}, {"resource": "repository", "action": "push"})',
      tests=("tests/hook/test_pull_credentials.py",)),
    M("harbor pull robot written unproven", "pull-credentials", "providers/harbor/__init__.py",
      "        prove_pull_only_on_registry(self.url, self.settings().probe_repository, credential.username, credential.password,\n"
      "                                    self.progress, \"registry.harbor.url\", \"the pull robot account the hook created\")\n",
      "",
      tests=("tests/hook/test_pull_credentials.py",)),
    M("harbor pull robots never deleted on cleanup", "pull-credentials", "commands/cleanup.py",
      "    provider.cleanup_pull(pull)\n", "",
      tests=("tests/hook/test_pull_credentials.py",)),
    M("pull proof: a token granting push is not refused", "pull-credentials", "pull_proof.py",
      "            if \"push\" in granted:\n                raise can_push", "            if False:\n                raise can_push",
      tests=("tests/hook/test_pull_credentials.py",)),
    M("pull proof: an upload the registry lets start is not refused", "pull-credentials", "pull_proof.py",
      "    if upload.status_code == 202:\n", "    if upload.status_code == 999:\n",
      tests=("tests/hook/test_pull_credentials.py",)),
    M("pull proof: a refused tag list is not a failure to pull", "pull-credentials", "pull_proof.py",
      "    if listed.status_code in (401, 403):\n        raise cannot_pull", "    if False:\n        raise cannot_pull",
      tests=("tests/hook/test_pull_credentials.py",)),
    M("pull Secret holds the push credentials even with pull credentials", "pull-credentials", "commands/provision.py",
      "    rendered = render(settings, docker_config, name, namespace, annotations, pull)",
      "    rendered = render(settings, docker_config, name, namespace, annotations)",
      tests=("tests/hook/test_pull_credentials.py",)),
    M("pull Secret left behind on uninstall", "pull-credentials", "commands/cleanup.py",
      '("Secret", pull_secret_name(name)), ', "",
      tests=("tests/hook/test_pull_credentials.py",)),
    M("separate pull credentials refused for no type", "pull-credentials", "providers/base.py",
      "        if not self.takes_pull_credentials and (self.registry_values.get(\"pullCredentials\") or {}).get(\"existingSecret\"):\n"
      "            raise InvalidConfiguration(\n                f\"{PULL_SECRET_VALUE} is set",
      "        if False:\n            raise InvalidConfiguration(\n                f\"{PULL_SECRET_VALUE} is set",
      tests=("tests/hook/test_pull_credentials.py",)),
    M("companion binderhub-values.yaml names the push Secret for user pods", "pull-credentials", "templates/binderhub-values.yaml.j2",
      "  - {{ pull_secret_name }}", "  - {{ secret_name }}",
      tests=("tests/hook/test_binderhub_wiring_output.py",)),
    M("one release: JupyterHub's imagePullSecrets name the push Secret", "pull-credentials", "chart/values.yaml",
      "imagePullSecrets: [binderhub-registry-pull]", "imagePullSecrets: [binderhub-registry]",
      tests=("tests/chart/test_binderhub_wiring.py",)),
    M("one release: the push Secret in user pods' pull secrets is not refused", "pull-credentials", "chart/templates/_binderhub.tpl",
      "{{- if has $secret $userPodSecrets -}}", "{{- if false -}}",
      tests=("tests/chart/test_binderhub_wiring.py",)),
    M("the Role does not let the hook write the pull Secret", "pull-credentials", "chart/templates/shared/role.yaml",
      ', {{ include "binderhub-registry.pullSecretName" . | quote }}]', "]",
      tests=("tests/chart/test_chart.py::test_role_grants_only_the_named_objects",)),
    # -- push proof ----------------------------------------------------------------------------
    M("upload answered 401 is not refused as no-push", "push-proof", "oci.py",
      "        if response.status_code in (401, 403):\n            if challenge.scheme",
      "        if response.status_code == 403:\n            if challenge.scheme"),
    M("upload answered 403 is not refused as no-push", "push-proof", "oci.py",
      "        if response.status_code in (401, 403):\n            if challenge.scheme",
      "        if response.status_code == 401:\n            if challenge.scheme"),
    M("upload answered 401 counted as push access", "push-proof", "oci.py",
      "        if response.status_code in (401, 403):\n            if challenge.scheme",
      "        if response.status_code == 401:\n            return proof\n        if response.status_code == 403:\n"
      "            if challenge.scheme"),
    M("no upload session at all (token grant or login is enough)", "push-proof", "oci.py",
      '        response = self.send(\n            "POST", f"{self.url}/v2/{repository}/blobs/uploads/"',
      '        return proof\n        response = self.send(\n            "POST", f"{self.url}/v2/{repository}/blobs/uploads/"'),
    M("upload session never cancelled", "push-proof", "oci.py",
      'cancel = self.send("DELETE", upload, what="Cancelling the upload session", headers=headers, auth=auth)',
      'cancel = response'),
    M("pull-only token grant counted as push", "push-proof", "oci.py",
      'if "push" not in granted:', 'if not granted:'),
    M("JWT access entries of type repository ignored", "push-proof", "registry_auth.py",
      'if isinstance(entry, dict) and entry.get("type") == "repository" and',
      'if isinstance(entry, dict) and entry.get("type") == "registry" and'),
    M("Basic login 401 not reported as rejected credentials", "push-proof", "oci.py",
      'raise self._rejected("the registry answered 401")', 'pass'),
    M("token service 401 treated as an outage", "push-proof", "oci.py",
      'if response.status_code == 401:\n            raise self._rejected("the token service answered 401")',
      'if response.status_code == 999:\n            raise self._rejected("the token service answered 401")'),
    M("429 not retried", "push-proof", "bounded_http.py",
      "RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})", "RETRY_STATUSES = frozenset({500, 502, 503, 504})"),
    M("Basic challenge taken for an open registry", "push-proof", "registry_auth.py",
      'if scheme == "basic":\n        return Challenge("basic")', 'if scheme == "basic":\n        return Challenge("none")'),
    M("upload answered 201 without Location accepted", "push-proof", "oci.py",
      "if response.status_code != 202 or not location:", "if response.status_code >= 500:"),
    # -- docker config -------------------------------------------------------------------------
    M("auth_config_url set but absent falls back to the url", "docker-config", "dockerconfig.py",
      "        return auth_config_url if auth_config_url in auths else None",
      "        if auth_config_url in auths:\n            return auth_config_url"),
    M("bare hostname key not looked up", "docker-config", "dockerconfig.py",
      "    if hostname in auths:\n        return hostname\n", ""),
    M("docker.io itself does not fall back to Docker Hub's key", "docker-config", "dockerconfig.py",
      '("." + hostname).endswith((".docker.io", ".docker.com"))',
      'hostname.endswith((".docker.io", ".docker.com"))'),
    M("username/password fields read where BinderHub reads only auth", "docker-config", "dockerconfig.py",
      "    return _decode_auth(auth) if isinstance(auth, str) and auth else None",
      "    return entry_credentials(entry)"),
    M("auth split at the last colon", "docker-config", "dockerconfig.py",
      'username, _, password = decoded.partition(":")', 'username, _, password = decoded.rpartition(":")'),
    M("undecodable auth entries not reported", "docker-config", "dockerconfig.py",
      'if entry.get("auth") and _decode_auth(entry["auth"]) is None:', 'if False:'),
    # -- redaction -------------------------------------------------------------------------------
    M("redact() does nothing", "redaction", "progress.py",
      "        return redact_text(text, self._secrets)", "        return text"),
    M("JSON lines redacted after json.dumps escaped them", "redaction", "progress.py",
      "line = json.dumps(self.redact_fields(record), sort_keys=False)",
      "line = self.redact(json.dumps(record, default=str))"),
    M("multi-line secrets redacted only whole", "redaction", "progress.py",
      "for part in [*value.splitlines(), *_private_key(value).splitlines()]:", "for part in []:"),
    M("only the raw form of a secret redacted", "redaction", "progress.py",
      "    return {form for form in forms if form}", "    return {value}"),
    M("base64 of user:password not redacted", "redaction", "progress.py",
      '        self._secrets.add(base64.b64encode(f"{username}:{password}".encode()).decode())', "        pass"),
    M("secrets masked inside other words", "redaction", "progress.py",
      "            if start < position or _glued_left(text, start) or _glued_right(text, end):",
      "            if start < position:"),
    M("paths do not glue words (binder/binder-push-check mangled)", "redaction", "progress.py",
      'GLUE = "-./"', 'GLUE = "-."'),
    M("JSON fields not redacted", "redaction", "progress.py",
      "            return {self.redact(str(k)): self.redact_fields(v) for k, v in value.items()}",
      "            return value"),
    # -- rotation decisions ----------------------------------------------------------------------
    M("a key exactly one interval old is not rotated", "rotation", "rotation.py",
      "    if age >= policy.interval:", "    if age > policy.interval:"),
    M("trigger comparison inverted", "rotation", "rotation.py",
      'annotations.get(ROTATION_TRIGGER, "") != policy.trigger', 'annotations.get(ROTATION_TRIGGER, "") == policy.trigger'),
    M("every-upgrade rotates again on the same revision", "rotation", "rotation.py",
      "        if done == policy.revision:", "        if done == policy.revision and False:"),
    M("a credential of unknown age is kept", "rotation", "rotation.py",
      'return True, "the credential\'s creation time is unknown"', 'return False, "the credential\'s creation time is unknown"'),
    M("days parsed as hours", "rotation", "rotation.py", '"d": "days"', '"d": "hours"'),
    M("policy never beats a changed trigger", "rotation", "rotation.py",
      "    if policy.trigger and annotations.get(ROTATION_TRIGGER",
      '    if policy.policy != "never" and policy.trigger and annotations.get(ROTATION_TRIGGER'),
    # -- Google key lifecycle --------------------------------------------------------------------
    M("rotation keeps the key before the current one (3 keys)", "google-keys", "providers/google/__init__.py",
      '{older} - {kid, ""}, "the key before the current one")', 'set(), "the key before the current one")'),
    M("a disabled key in the Secret is reused", "google-keys", "providers/google/__init__.py",
      "if kid in by_id and not by_id[kid].disabled:", "if kid in by_id:"),
    M("key limit checked one key too late", "google-keys", "providers/google/keys.py",
      "if len(keys) >= MAX_KEYS:", "if len(keys) > MAX_KEYS:"),
    M("the key a crashed run noted is never deleted", "google-keys", "providers/google/keys.py",
      "            leaked = {intent.key_id} - in_use", "            leaked = set()"),
    M("keys created long after a crash count as leaked", "google-keys", "providers/google/keys.py",
      "_created_between(k, started - CLOCK_SKEW, started + CREATION_WINDOW)",
      "_created_between(k, started - CLOCK_SKEW, started + CREATION_WINDOW * 100000)"),
    M("old account's keys kept when the builder account changes", "google-keys", "providers/google/__init__.py",
      "old.account == target.account_email:", 'old.account != "":'),
    M("cleanup forgets the previous key", "google-keys", "providers/google/keys.py",
      'ours = {current.credential_id, current.previous_credential_id} - {""}',
      'ours = {current.credential_id} - {""}'),
    M("write-ahead note never cleared", "google-keys", "providers/google/__init__.py",
      "        self.record_intent(Intent())\n", ""),
    M("builder gets repoAdmin instead of writer", "google-keys", "providers/google/target.py",
      'WRITER = "roles/artifactregistry.writer"', 'WRITER = "roles/artifactregistry.repoAdmin"'),
    M("gcr.io builder gets writer instead of createOnPushWriter", "google-keys", "providers/google/target.py",
      'CREATE_ON_PUSH_WRITER = "roles/artifactregistry.createOnPushWriter"',
      'CREATE_ON_PUSH_WRITER = "roles/artifactregistry.writer"'),
    # -- Kubernetes writer -------------------------------------------------------------------------
    M("server-side apply without force", "kube-writer", "kube.py",
      'query = [("fieldManager", field_manager), ("force", True)]', 'query = [("fieldManager", field_manager)]'),
    M("a missing Secret is an error, not absent", "kube-writer", "kube.py",
      '        return decoded_secret(self._call("get", "secrets", name, missing_ok=True))',
      '        return decoded_secret(self._call("get", "secrets", name))'),
    M("Deployments rolled even when already on this credential", "restart", "restart.py",
      'return "unchanged" if running == fingerprint else "restart"', 'return "restart"'),
    M("403 from the API treated as an outage (retried)", "kube-writer", "kube.py",
      "    if status == 403:\n        return InvalidConfiguration(", "    if status == 403:\n        return Unreachable("),
    M("write-ahead notes applied under the settings' field manager", "kube-writer", "kube.py",
      "self.apply({\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": metadata}, field_manager=INTENT_FIELD_MANAGER)",
      "self.apply({\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": metadata})"),
    # -- restarting BinderHub ---------------------------------------------------------------------
    M("a Deployment created in the same second as the last change is not restarted", "restart", "restart.py",
      "created <= current.changed_at", "created < current.changed_at"),
    M("a run that changes the fingerprint leaves an unannotated Deployment running", "restart", "restart.py",
      '    if current.annotation(FINGERPRINT) != fingerprint:\n        return "restart"',
      '    if False:\n        return "restart"'),
    # -- Google key checks and IAM reads --------------------------------------------------------
    M("every key loaded without the RSA key check", "key-checks", "providers/google/signing_keys.py",
      "load_pem_private_key(pem.encode(), password=None)",
      "load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=True)"),
    M("a disabled key read over REST counts as enabled", "key-checks", "providers/google/iam.py",
      'bool(key.get("disabled", False))', "False"),
    M("a key in values (registry.google.key) not declared secret", "redaction", "credentials.py",
      'SECRET_NAMES = frozenset({"password", "key", "key.json"})', 'SECRET_NAMES = frozenset({"password", "key.json"})',
      tests=("tests/hook/test_secret_values.py",)),
    # -- layers (tests/test_import_layers.py) --------------------------------------------------
    M("the release state names a decision for its types (a cycle through TYPE_CHECKING)", "layers", "state.py",
      "if TYPE_CHECKING:\n", "if TYPE_CHECKING:\n    from binderhub_registry.rotation import RotationPolicy  # noqa: F401\n"),
    M("the cluster module reads a provider's type inside a function", "layers", "kube.py",
      '        """The credentials in the Secret named by ``value``, which must have one of ``wanted``."""\n',
      '        """The credentials in the Secret named by ``value``, which must have one of ``wanted``."""\n'
      "        from binderhub_registry.providers.base import Provider  # noqa: F401, PLC0415\n"),
    # -- start-up ---------------------------------------------------------------------------------
    M("every empty value matches every pattern", "start-up", "schema_check.py",
      'if not text and pattern.startswith("^$|"):', "if not text:"),
    # -- value rules (helm install's sentences, README's commands) ---------------------------
    M("the chart shows a URL's user:password@", "value-rules", "chart/templates/_validate.tpl",
      '$value "${1}***@"', '$value "${0}"'),
    M("the chart applies per-type rules whatever the type", "value-rules", "chart/templates/_validate.tpl",
      '{{- if not (has $node .in) -}}{{- $applies = false -}}{{- end -}}', ""),
    M("the chart skips the rules on list items and map values", "value-rules", "chart/templates/_validate.tpl",
      '{{- if and (eq $key "*") (kindIs "slice" $node) -}}', '{{- if false -}}'),
    M("the CLI shows a URL's user:password@", "value-rules", "values.py",
      'text = repr(USERINFO.sub(r"\\1***@", value))', "text = repr(value)"),
    M("NOTES.txt's companion command without --version", "value-rules", "chart/templates/NOTES.txt",
      '--version {{ index $annotations "binderhub-registry/binderhub-version" }} ', ""),
    # -- the registry helper as a service -----------------------------------------------------------
    M("listening socket made with protocol 0 (asyncio sets no TCP_NODELAY)", "helper", "helper_service/server.py",
      "socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)", "socket.socket(family, socket.SOCK_STREAM)"),
    M("no cap on open connections", "helper", "helper_service/server.py",
      "if len(self.connections) > self.max_connections:", "if False:"),
    M("no deadline for request headers", "helper", "helper_service/server.py",
      "if self._waiting_for_headers() and not self.transport.is_closing():", "if False:"),
    M("uvicorn's limit_concurrency (it counts connections) back", "helper", "helper_service/server.py",
      "limit_concurrency=None,", "limit_concurrency=limits.max_concurrent_requests + 1,"),
    M("no deadline for a request body", "helper", "helper_service/app.py",
      "asyncio.timeout(self.config.body_timeout_seconds)", "asyncio.timeout(None)"),
    M("requests in flight not limited", "helper", "helper_service/app.py",
      "if self.in_flight >= self.config.max_concurrent_requests:", "if False:"),
    M("a trailing slash accepted in names", "helper", "helper_service/references.py",
      'rf"{_COMPONENT}(?:/{_COMPONENT})*"', 'rf"{_COMPONENT}(?:/{_COMPONENT})*/?"'),
    M("tags not validated", "helper", "helper_service/references.py", "if not TAG.fullmatch(tag):", "if not tag:"),
    M("the push path applied to /token only", "helper", "helper_service/app.py",
      "if not self.config.allows(name):", 'if kind == "token" and not self.config.allows(name):'),
    M("the last of two Authorization headers wins", "helper", "helper_service/app.py", "if len(values) > 1:", "if False:"),
    M("health endpoints answer any method", "helper", "helper_service/app.py",
      "if method not in allowed:", "if method not in allowed and path not in UNAUTHENTICATED:"),
    M("a token still served at the renewal instant", "helper", "helper_service/token_cache.py",
      "if token is not None and self.clock() < self._until:", "if token is not None and self.clock() <= self._until:"),
    M("a short-lived token served to its last second", "helper", "helper_service/token_cache.py",
      "token.expires_at - MIN_SERVED_SECONDS)", "token.expires_at - 1)"),
    M("Google's error message repeated", "helper", "helper_service/google_tokens.py",
      'status = body.get("error", {}).get("status") if isinstance(body, dict) else None\n'
      "    except (ValueError, AttributeError):\n        status = None\n    if isinstance(status, str) and _ENUM.fullmatch(status):",
      'status = body.get("error", {}).get("message") if isinstance(body, dict) else None\n'
      "    except (ValueError, AttributeError):\n        status = None\n    if isinstance(status, str):"),
    M("token mints not counted in the metrics", "helper", "helper_service/app.py",
      "self.tokens.on_mint = self.metrics.token_mints.inc", "self.tokens.on_mint = lambda: None"),
    M("a repository found is asked of the registry again at every lookup", "helper", "helper_service/registry_checks.py",
      "        self._repositories_found[name] = self.clock() + REPOSITORY_CHECK_SECONDS\n", "",
      tests=("tests/helper/test_helper_service.py",)),
    M("a repository not found is remembered as found", "helper", "helper_service/registry_checks.py",
      "        if response.status_code == 404:\n            return False\n        self._expect_ok(response, f\"the tags of {name}\")",
      "        if response.status_code == 404:\n            self._repositories_found[name] = self.clock() + REPOSITORY_CHECK_SECONDS\n"
      "            return False\n        self._expect_ok(response, f\"the tags of {name}\")",
      tests=("tests/helper/test_helper_service.py",)),
    # -- an independent review (issue #26), round 1: written from the code and README only -------
    M("r1: credentials sent to an upload Location on another origin", "push-proof", "oci.py",
      "        if origin(upload) != origin(self.url):  # credentials go to the registry only\n            headers, auth = {}, None\n",
      "",
      tests=("tests/hook/test_hostile_registry.py::test_credentials_never_follow_an_upload_location_to_another_origin",)),
    M("r1: token realm with a query string gets a second '?'", "push-proof", "registry_auth.py",
      'sep = "&" if "?" in self.realm else "?"', 'sep = "?"',
      tests=("tests/hook/test_generic.py::test_a_token_realm_with_a_query_string_gets_service_appended_with_an_ampersand",)),
    M("r1: opaque tokens never cancel the upload session", "push-proof", "oci.py",
      'may_cancel = granted is None or "delete" in granted', 'may_cancel = granted is not None and "delete" in granted',
      tests=("tests/hook/test_hostile_registry.py::test_an_upload_session_proven_with_an_opaque_token_is_cancelled_with_it",)),
    M("r1: 404 to the upload taken as an outage", "push-proof", "oci.py",
      "        if response.status_code == 404:\n            raise InvalidConfiguration(",
      "        if response.status_code == 410:\n            raise InvalidConfiguration(",
      tests=("tests/hook/test_push_permission.py::test_a_repository_path_the_registry_does_not_have_is_invalid_configuration_not_an_outage",)),
    M("r1: any 401 error on the upload taken as no-push", "push-proof", "oci.py",
      '        if error == "insufficient_scope":\n            return', "        if error:\n            return",
      tests=("tests/hook/test_hostile_registry.py",)),
    M("r1: refused Basic upload never asks whether the login is wrong", "push-proof", "oci.py",
      '            if challenge.scheme == "basic":\n                self.check_login()',
      '            if challenge.scheme == "none":\n                self.check_login()',
      tests=("tests/hook/test_push_permission.py",)),
    M("r1: challenge scheme compared case-sensitively", "push-proof", "registry_auth.py",
      "    scheme = scheme.lower()\n", "",
      tests=("tests/hook/test_push_permission.py",)),
    M("r1: realm that is not http(s) accepted", "push-proof", "registry_auth.py",
      '    if not params.get("realm", "").startswith(("https://", "http://")):', '    if "realm" not in params:',
      tests=("tests/hook/test_hostile_registry.py",)),
    M("r1: any 404 from the API server is absent (write into a missing namespace succeeds)", "kube-writer", "kube.py",
      "        if response.status == 404 and missing_ok:", "        if response.status == 404:",
      tests=("tests/hook/test_kube_writer.py",)),
    M("r1: apply without force (conflicts with other managers)", "kube-writer", "kube.py",
      '("force", True)', '("force", False)',
      tests=("tests/hook/test_kube_writer.py",)),
    M("r1: --namespace ignored when the kubeconfig names one", "kube-writer", "kube.py",
      "self.namespace = namespace or default_namespace", "self.namespace = default_namespace or namespace",
      tests=("tests/hook/test_kube_writer.py",)),
    M("r1: a Deployment already running the fingerprint gets its pods rolled when noted", "restart", "commands/provision.py",
      'kube.mark_deployment(deployment, fingerprint, roll=decision == "restart")',
      'kube.mark_deployment(deployment, fingerprint, roll=True)',
      tests=("tests/hook/test_restart_rule.py", "tests/hook/test_restart_after_install.py")),
    M("r1: fingerprint ignores a change of registry.json", "kube-writer", "state.py",
      "unchanged = current.docker_config == docker_config and current.binderhub_config == binderhub_config",
      "unchanged = current.docker_config == docker_config",
      tests=("tests/hook/test_release_state.py", "tests/hook/test_kube_writer.py")),
    M("r1: a kept key's created-at re-stamped on every run", "rotation", "providers/google/__init__.py",
      "created_at=current.created_at,", 'created_at="",',
      tests=("tests/hook/test_google.py::test_a_kept_key_keeps_its_creation_time_so_the_interval_rotates_it",)),
    M("r1: revisions compared as strings ('9' >= '10')", "rotation", "rotation.py",
      "        if done == policy.revision:", "        if done >= policy.revision:",
      tests=("tests/hook/test_rotation_policy.py", "tests/hook/test_google.py::test_every_upgrade_rotates_from_revision_9_to_10")),
    M("r1: exactly one interval old does not rotate", "rotation", "rotation.py",
      "    if age >= policy.interval:", "    if age > policy.interval:",
      tests=("tests/hook/test_rotation_policy.py",)),
    M("r1: trigger ignored under policy never", "rotation", "rotation.py",
      "    if policy.trigger and annotations.get(ROTATION_TRIGGER, \"\") != policy.trigger:",
      "    if policy.policy != \"never\" and policy.trigger and annotations.get(ROTATION_TRIGGER, \"\") != policy.trigger:",
      tests=("tests/hook/test_rotation_policy.py",)),
    M("r1: unknown creation time never rotates", "rotation", "rotation.py",
      "        return True, \"the credential's creation time is unknown\"",
      "        return False, \"the credential's creation time is unknown\"",
      tests=("tests/hook/test_rotation_policy.py",)),
    M("r1: same second counts as after (no restart)", "restart", "restart.py",
      "created <= current.changed_at", "created < current.changed_at",
      tests=("tests/hook/test_restart_rule.py",)),
    M("r1: an object without managedFields counts for nothing", "restart", "restart.py",
      "        if not entries:\n            return None", "        if not entries:\n            continue",
      tests=("tests/hook/test_restart_rule.py",)),
    M("r1: host:port auths key taken for BinderHub's hostname lookup", "docker-config", "dockerconfig.py",
      'hostname = urlparse(registry_url).hostname or ""', "hostname = urlparse(registry_url).netloc",
      tests=("tests/hook/test_dockerconfig_lookup.py",)),
    M("r1: any host ending in docker.io is Docker Hub", "docker-config", "dockerconfig.py",
      '("." + hostname).endswith((".docker.io", ".docker.com"))', 'hostname.endswith(("docker.io", "docker.com"))',
      tests=("tests/hook/test_dockerconfig_lookup.py",)),
    M("r1: auth without ':' accepted", "docker-config", "dockerconfig.py",
      "    if \":\" not in decoded:\n        return None  # BinderHub splits", "    if False:\n        return None  # BinderHub splits",
      tests=("tests/hook/test_dockerconfig_lookup.py",)),
    M("r1: URL-encoded form only path style", "redaction", "progress.py",
      'forms |= {quote(value, safe=""), quote_plus(value, safe="")}', "forms |= {quote(value)}",
      tests=("tests/hook/test_progress.py",)),
    M("r1: JSON lines redacted after encoding", "redaction", "progress.py",
      "line = json.dumps(self.redact_fields(record), sort_keys=False)", "line = self.redact(json.dumps(record, sort_keys=False))",
      tests=("tests/hook/test_progress.py",)),
    M("r1: PEM lines (64 chars) not redacted one by one", "redaction", "progress.py",
      "if len(part) >= MIN_LINE_LENGTH:", "if len(part) > 64:",
      tests=("tests/hook/test_progress.py", "tests/hook/test_canary.py")),
    M("r1: every attempt gets the whole deadline (retry then trickle)", "http", "bounded_http.py",
      "response = self._once(method, url, left, what=what, **kwargs)", "response = self._once(method, url, seconds, what=what, **kwargs)",
      tests=("tests/hook/test_hostile_registry.py::test_a_retry_that_then_trickles_ends_within_the_one_deadline",)),
    M("r1: 500/502/504 not retried", "http", "bounded_http.py",
      "RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})", "RETRY_STATUSES = frozenset({429, 503})",
      tests=("tests/hook/test_dockerhub.py",)),
    M("r1: the 11th key asked of Google", "google-keys", "providers/google/keys.py",
      "if len(keys) >= MAX_KEYS:", "if len(keys) > MAX_KEYS:",
      tests=("tests/hook/test_google.py",)),
    M("r1: leaked-key clean-up deletes a key in use", "google-keys", "providers/google/keys.py",
      " and key_id(k.name) not in in_use\n", "\n",
      tests=("tests/hook/test_crash_safety.py",)),
    M("r1: creation window without clock skew", "google-keys", "providers/google/keys.py",
      "started - CLOCK_SKEW, started + CREATION_WINDOW", "started, started + CREATION_WINDOW",
      tests=("tests/hook/test_crash_safety.py",)),
    M("r1: no write-ahead note before the key creation", "google-keys", "providers/google/keys.py",
      "        self.record_intent(started)\n        while (", "        while (",
      tests=("tests/hook/test_crash_safety.py",)),
    M("r1: rotation revokes the current key before the new one is in the Secret", "google-keys", "providers/google/__init__.py",
      'live = keys.revoke(live, {older} - {kid, ""}, "the key before the current one")',
      'live = keys.revoke(live, {older, kid} - {""}, "the key before the current one")',
      tests=("tests/hook/test_crash_safety.py",)),
    M("r1: a disabled key in the Secret is reused", "google-keys", "providers/google/__init__.py",
      "if kid in by_id and not by_id[kid].disabled:", "if kid in by_id:",
      tests=("tests/hook/test_google.py", "tests/hook/test_crash_safety.py")),
    M("r1: uninstall removes other members of the role", "workload-identity", "providers/google/workload_identity.py",
      "                binding.members.remove(member)", "                del binding.members[:]",
      tests=("tests/hook/test_workload_identity_bindings.py",)),
    M("r1: member added to a conditional binding", "workload-identity", "providers/google/workload_identity.py",
      "b.role == role and not b.condition.expression", "b.role == role",
      tests=("tests/hook/test_workload_identity_bindings.py",)),
    M("r1: IAM policy etag conflict not retried", "workload-identity", "providers/google/workload_identity.py",
      "        if answer != CONFLICT:\n            return True", "        return True",
      tests=("tests/hook/test_workload_identity_bindings.py",)),
    M("r1: repository IAM policy assumed empty", "google-keys", "providers/google/resources.py",
      'bindings = policy.setdefault("bindings", [])', 'bindings = policy["bindings"] = []',
      tests=("tests/hook/test_google.py",)),
    M("r1: secret.yaml keeps a wider mode it already had", "output", "commands/provision.py",
      "    os.chmod(secret_path, 0o600)\n", "",
      tests=("tests/hook/test_generic.py::test_output_dir_writes_the_secret_readable_only_by_its_owner",)),
    M("r1: credentials revoked before the Secret is written", "kube-writer", "commands/provision.py",
      "    kube.apply(rendered.secret)\n", "    obtained.after_switch()\n    kube.apply(rendered.secret)\n",
      tests=("tests/hook/test_crash_safety.py",)),
    # dropped, unprovable here (as r6's same mutant): "r1: Docker Hub namespace keeps upper case"; only a username
    # typed with capitals reaches the lower(), and whether Docker Hub signs such a username in is not documented.
    M("r1: discovered token URL overrides registry.generic.tokenUrl", "push-proof", "providers/generic.py",
      'token_url=self.config.get("tokenUrl") or discovered.token_url', 'token_url=discovered.token_url or self.config.get("tokenUrl")',
      tests=("tests/hook/test_generic.py",)),
    # -- round 2: fresh mutants of every module and chart template ---------------------------------
    M("r2: a web page answering GET /v2/ taken for an open registry", "push-proof", "oci.py",
      "if response.status_code == 200 and is_html(response):", "if response.status_code == 200 and False:",
      tests=("tests/hook/test_hostile_registry.py", "tests/hook/test_generic.py")),
    M("r2: token service 403 taken as an outage", "push-proof", "oci.py",
      '        if response.status_code == 403:\n            raise self._rejected("the token service answered 403")\n', "",
      tests=("tests/hook/test_generic.py::test_a_token_service_answering_403_rejects_the_login",)),
    M("r2: OAuth2-style access_token answers not read", "push-proof", "oci.py",
      'value = body.get("token") or body.get("access_token")', 'value = body.get("token")',
      tests=("tests/hook/test_generic.py::test_a_token_service_answering_only_access_token_is_understood",)),
    M("r2: registry tokens not registered as secrets", "redaction", "oci.py",
      "        self.progress.add_secret(value)\n        claims = jwt_claims(value)", "        claims = jwt_claims(value)",
      tests=("tests/hook/test_hostile_registry.py::test_a_token_the_registry_echoes_back_is_never_printed",
             "tests/hook/test_hostile_registry.py", "tests/hook/test_generic.py")),
    M("r2: any error code of a body copied into the sentence", "push-proof", "registry_answers.py",
      "code if code in ERROR_CODES else response.reason_phrase", "code or response.reason_phrase",
      tests=("tests/hook/test_hostile_registry.py::test_a_misbehaving_registry_ends_in_one_sentence_within_twice_the_deadline",)),
    M("r2: 422 from the API server taken as an outage", "kube-writer", "kube.py",
      "    if status in (409, 422):", "    if status == 409:",
      tests=("tests/hook/test_crash_safety.py::test_a_secret_write_the_api_refuses_keeps_the_note_so_the_next_run_deletes_the_unused_key",)),
    M("r2: key.json of registry.existingSecret not registered as a secret", "redaction", "kube.py",
      "        for key in SECRET_NAMES:", '        for key in ("password",):',
      tests=("tests/hook/test_secret_values.py", "tests/hook/test_kube_writer.py", "tests/hook/test_messages.py")),
    M("r2: no fingerprint annotation yet gives an empty fingerprint", "kube-writer", "state.py",
      "    if unchanged and current.annotation(FINGERPRINT):", "    if unchanged:",
      tests=("tests/hook/test_release_state.py",)),
    M("r2: every-upgrade without a revision rotates every run", "rotation", "rotation.py",
      '            return False, "no release revision given (rotation happens on helm upgrade)"',
      '            return True, "no release revision given (rotation happens on helm upgrade)"',
      tests=("tests/hook/test_rotation_policy.py",)),
    M("r2: the Deployment's own note ignored", "restart", "restart.py",
      "    running = (template_metadata.get(\"annotations\") or {}).get(DEPLOYMENT_FINGERPRINT) or "
      "(metadata.get(\"annotations\") or {}).get(\n        DEPLOYMENT_FINGERPRINT\n    )",
      "    running = (template_metadata.get(\"annotations\") or {}).get(DEPLOYMENT_FINGERPRINT)",
      tests=("tests/hook/test_restart_rule.py",)),
    M("r2: the earliest change taken for the last", "restart", "restart.py",
      "    return max(times, default=None)", "    return min(times, default=None)",
      tests=("tests/hook/test_restart_rule.py",)),
    M("r2: keyless docker config gets empty credentials", "docker-config", "dockerconfig.py",
      'return {"auths": {}} if settings.helper_url else build(settings.auth_key, username, password)',
      "return build(settings.auth_key, username, password)",
      tests=("tests/hook/test_google_keyless.py", "tests/hook/test_dockerconfig_lookup.py")),
    M("r2: key JSON's private_key lines not registered one by one", "redaction", "progress.py",
      "for part in [*value.splitlines(), *_private_key(value).splitlines()]:", "for part in value.splitlines():",
      tests=("tests/hook/test_progress.py", "tests/hook/test_canary.py")),
    M("r2: JSON field names not redacted", "redaction", "progress.py",
      "return {self.redact(str(k)): self.redact_fields(v) for k, v in value.items()}",
      "return {str(k): self.redact_fields(v) for k, v in value.items()}",
      tests=("tests/hook/test_progress.py",)),
    M("r2: only line feeds escaped in messages (CR, ANSI escapes pass)", "start-up", "errors.py",
      'return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)',
      'return text.replace("\\n", "\\\\n")',
      tests=("tests/hook/test_messages.py",)),
    M("r2: an unexpected error prints the exception's text", "start-up", "cli.py",
      'f"Unexpected error ({type(exc).__name__}); re-run', 'f"Unexpected error ({exc}); re-run',
      tests=("tests/hook/test_messages.py",)),
    M("r2: image names of exactly 255 characters refused", "settings", "settings.py",
      "if len(shortest) > NAME_TOTAL_LENGTH_MAX:", "if len(shortest) >= NAME_TOTAL_LENGTH_MAX:",
      tests=("tests/chart/test_value_rules.py",)),
    M("r2: an empty token_url written over BinderHub's default", "settings", "settings.py",
      '        if self.token_url:\n            registry["token_url"] = self.token_url', '        registry["token_url"] = self.token_url',
      tests=("tests/hook/test_generic.py::test_basic_auth_registry_gets_a_secret_binderhub_and_build_pods_can_use",)),
    M("r2: eu.gcr.io in location eu", "google-keys", "providers/google/target.py",
      '"eu.gcr.io": "europe"', '"eu.gcr.io": "eu"',
      tests=("tests/hook/test_google.py::test_eu_gcr_io_is_the_gcr_io_repository_in_europe",)),
    M("r2: validate mode: a key that cannot push exits 3 (outage) not 1", "google-keys", "providers/google/proof.py",
      "                if timeout_is_outage:", "                if not timeout_is_outage:",
      tests=("tests/hook/test_google.py",)),
    M("r2: a key deleted meanwhile fails the revocation", "google-keys", "providers/google/keys.py",
      '                partial(self.iam.admin.delete_service_account_key, request={"name": key.name}),\n'
      '                expect=(NOT_FOUND,),',
      '                partial(self.iam.admin.delete_service_account_key, request={"name": key.name}),\n                expect=(),',
      tests=("tests/hook/test_google_key_revocation.py",)),
    M("r2: uninstall after a switch to validate keeps the keys create mode made", "google-keys", "providers/google/__init__.py",
      'if self.mode != "create" and not current.created_by_tool:',
      'if self.mode != "create" or not current.created_by_tool:',
      tests=("tests/hook/test_google.py::test_uninstall_after_a_switch_to_validate_mode_still_revokes_the_key_create_mode_made",)),
    M("r2: a user identity bound as serviceAccount:", "workload-identity", "providers/google/workload_identity.py",
      'return f"serviceAccount:{email}" if email.endswith(".gserviceaccount.com") else None',
      'return f"serviceAccount:{email}" if "@" in email else None',
      tests=("tests/hook/test_workload_identity_bindings.py",)),
    M("r2: any role of the builder on the repository counts as writer", "google-keys", "providers/google/resources.py",
      'if any(b.get("role") == target.role and member in (b.get("members") or []) for b in policy.get("bindings") or []):',
      'if any(member in (b.get("members") or []) for b in policy.get("bindings") or []):',
      tests=("tests/hook/test_google.py::test_a_builder_that_may_only_read_the_repository_is_granted_writer",)),
    M("r2: helper client: any 404 is a missing repository", "helper-client", "helper_client.py",
      "    if response.status_code == 404 and missing_ok:", "    if response.status_code == 404:",
      tests=("tests/hook/test_helper_client.py::test_a_404_to_creating_the_repository_or_to_the_token_request_ends_check_there",
             "tests/hook/test_helper_client.py", "tests/helper/test_helper_service.py")),
    M("r2: check: credentials for another registry accepted from the helper", "helper-client", "commands/check.py",
      'if credentials["registry"].split("://")[-1].rstrip("/") != settings.host:', "if False:",
      tests=("tests/hook/test_helper_client.py", "tests/helper/test_helper_service.py")),
    M("r2: provision --output DIR mints keys it can never revoke", "output", "commands/provision.py",
      "if not applying and provider_type.mints_credentials(values):", 'if args.output == "-" and provider_type.mints_credentials(values):',
      tests=("tests/hook/test_google.py::test_printing_instead_of_applying_is_refused_in_create_mode",)),
    M("r2: the Secret is Opaque (kubelet cannot pull with it)", "output", "templates/secret.yaml.j2",
      "type: kubernetes.io/dockerconfigjson", "type: Opaque",
      tests=("tests/hook/test_generic.py", "tests/hook/test_kube_writer.py")),
    M("r2: null in a values file does not remove the default", "values", "values.py",
      "        if value is None:\n            merged.pop(key, None)",
      "        if value is None:\n            merged[key] = merged.get(key)",
      tests=("tests/hook/test_generic.py", "tests/hook/test_values_properties.py")),
    M("r2: values files replace maps instead of merging them", "values", "values.py",
      "            merged[key] = merge(merged[key], value)", "            merged[key] = copy.deepcopy(value)",
      tests=("tests/hook/test_generic.py", "tests/hook/test_values_properties.py")),
    M("r2: invalid values (exit 2) retried by the Job", "chart", "chart/templates/_pod.tpl",
      "          values: [1, 2]", "          values: [1]",
      tests=("tests/chart/test_chart.py",)),
    M("r2: the test Pod mounts a ServiceAccount token", "chart", "chart/templates/_pod.tpl",
      "{{- if $checksSecret }}\nautomountServiceAccountToken: false", "{{- if false }}\nautomountServiceAccountToken: false",
      tests=("tests/chart/test_chart.py",)),
    M("r2: the hook may read every Secret of the namespace", "chart", "chart/templates/shared/role.yaml",
      "    resources: [secrets]\n    resourceNames: [{{ include \"binderhub-registry.secretName\" . | quote }}, "
      "{{ include \"binderhub-registry.pullSecretName\" . | quote }}]\n",
      "    resources: [secrets]\n",
      tests=("tests/chart/test_chart.py",)),
    # -- round 3: fresh mutants of every module and chart template ---------------------------------
    M("r3: Google's 500 and 502 not retried", "google-keys", "providers/google/api.py",
      "except (gexc.TooManyRequests, gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.BadGateway) as exc:",
      "except (gexc.TooManyRequests, gexc.ServiceUnavailable) as exc:",
      tests=("tests/hook/test_google.py",)),
    M("r3: refused Google credentials reported as an outage", "google-keys", "providers/google/api.py",
      "                raise CredentialsRejected(\n                    f\"Google rejected the credentials",
      "                raise Unreachable(\n                    f\"Google rejected the credentials",
      tests=("tests/hook/test_google.py",)),
    M("r3: a disabled API recognised only by SERVICE_DISABLED in the first line", "google-keys", "providers/google/api.py",
      '"SERVICE_DISABLED" in str(exc) or "has not been used in project" in message or "is disabled" in message',
      '"SERVICE_DISABLED" in message',
      tests=("tests/hook/test_google.py",)),
    M("r3: key permissions point to serviceAccountAdmin", "google-keys", "providers/google/api.py",
      '("iam.serviceAccountKeys", "roles/iam.serviceAccountKeyAdmin")', '("iam.serviceAccountKeys", "roles/iam.serviceAccountAdmin")',
      tests=("tests/hook/test_google.py",)),
    M("r3: blocked key creation recognised case-sensitively", "google-keys", "providers/google/api.py",
      '"key creation is not allowed" in message.lower()', '"key creation is not allowed" in message',
      tests=("tests/hook/test_google.py",)),
    M("r3: a zero or negative deadline taken as given", "http", "bounded_http.py",
      "return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_DEADLINE", "return seconds",
      tests=("tests/hook/test_push_permission.py::test_a_deadline_that_is_not_a_positive_number_falls_back_to_the_default",)),
    M("r3: a JWT granting nothing on the repository counts as opaque", "push-proof", "registry_auth.py",
      "return self.access.get(repository, frozenset())", "return self.access.get(repository)",
      tests=("tests/hook/test_push_permission.py", "tests/hook/test_hostile_registry.py", "tests/hook/test_generic.py")),
    M("r3: a web page without an html Content-Type taken for JSON", "push-proof", "registry_answers.py",
      '    return "html" in response.headers.get("Content-Type", "").lower() or response.content.lstrip()[:1] == b"<"',
      '    return "html" in response.headers.get("Content-Type", "").lower()',
      tests=("tests/hook/test_hostile_registry.py", "tests/hook/test_generic.py", "tests/hook/test_push_permission.py")),
    M("r3: a token the registry refuses reported as no push", "push-proof", "oci.py",
      '        if response.status_code == 401 and challenge.scheme == "bearer":\n            self._token_refused(response, token)\n', "",
      tests=("tests/hook/test_hostile_registry.py", "tests/hook/test_generic.py", "tests/hook/test_push_permission.py")),
    M("r3: a token URL without a service gets an empty service", "push-proof", "registry_auth.py",
      "        if not self.service:\n            return self.realm",
      '        if not self.service:\n            return f"{self.realm}?service="',
      tests=("tests/hook/test_push_permission.py",)),
    M("r3: the existingSecret password keeps its trailing newline", "kube-writer", "kube.py",
      ', data.get("password", "").strip()', ', data.get("password", "")',
      tests=("tests/hook/test_kube_writer.py", "tests/hook/test_restart_after_install.py", "tests/hook/test_generic.py")),
    M("r3: a noted Deployment reported as restarted", "restart", "commands/provision.py",
      '        if decision == "restart":\n            restarted.append(deployment)',
      '        if decision in ("note", "restart"):\n            restarted.append(deployment)',
      tests=("tests/hook/test_kube_writer.py", "tests/hook/test_restart_after_install.py", "tests/hook/test_generic.py")),
    M("r3: a docker config with a non-string username not reported", "docker-config", "dockerconfig.py",
      'for field in ("auth", "username", "password"):', 'for field in ("auth",):',
      tests=("tests/hook/test_dockerconfig_lookup.py",)),
    M("r3: a secret's stripped form not registered", "redaction", "progress.py",
      "values = {value, value.strip()}", "values = {value}",
      tests=("tests/hook/test_progress.py", "tests/hook/test_canary.py")),
    M("r3: SIGTERM ends the hook without a sentence", "start-up", "cli.py",
      "    signal.signal(signal.SIGTERM, _terminate)\n", "",
      tests=("tests/hook/test_process_exit.py", "tests/hook/test_crash_safety.py")),
    M("r3: build pods not told the push Secret", "settings", "settings.py",
      '            "DockerRegistry": registry,\n            "KubernetesBuildExecutor": {"push_secret": secret_name},\n',
      '            "DockerRegistry": registry,\n',
      tests=("tests/hook/test_binderhub_wiring_output.py", "tests/test_binder_pod_config.py")),
    M("r3: the push check ignores registry.generic.repository", "push-proof", "providers/generic.py",
      'probe = "/".join(p for p in (repository_path, probe_name(self.registry_values["prefix"])) if p)',
      'probe = probe_name(self.registry_values["prefix"])',
      tests=("tests/hook/test_generic.py",)),
    M("r3: two-letter Docker Hub namespaces kept whole", "push-proof", "providers/dockerhub.py",
      'BINDERHUB_WHOLE_NAMESPACE = re.compile(r"[a-z0-9]{4,40}")', 'BINDERHUB_WHOLE_NAMESPACE = re.compile(r"[a-z0-9]{2,40}")',
      tests=("tests/hook/test_dockerhub.py",)),
    M("r3: Docker Hub not marked as answering 401 for missing repositories", "push-proof", "providers/dockerhub.py",
      "            not_found_401=True,", "            not_found_401=False,",
      tests=("tests/hook/test_dockerhub.py",)),
    M("r3: Google's default token URL without its service", "google-keys", "providers/google/__init__.py",
      'token_url=discovered.token_url or f"{url}/v2/token?service={host}"', 'token_url=discovered.token_url or f"{url}/v2/token"',
      tests=("tests/hook/test_generic.py::test_render_of_google_without_a_discovered_token_url_names_the_registry_service",)),
    M("r3: the helper's token file keeps its trailing newline", "helper-client", "helper_contract.py",
      'token = Path(path).read_text(encoding="utf-8").strip()', 'token = Path(path).read_text(encoding="utf-8")',
      tests=("tests/helper/test_helper_token_file.py", "tests/hook/test_helper_client.py")),
    M("r3: uninstall keeps the settings ConfigMap", "kube-writer", "commands/cleanup.py",
      '("Secret", pull_secret_name(name)), ("ConfigMap", settings_configmap_name(name))]', '("Secret", pull_secret_name(name))]',
      tests=("tests/hook/test_kube_writer.py", "tests/lifecycle/test_cluster_generic.py")),
    M("r3: unquoted dates in values files become dates", "values", "values.py",
      'if tag != "tag:yaml.org,2002:timestamp"]', "if True]",
      tests=("tests/hook/test_values_properties.py", "tests/hook/test_generic.py")),
    M("r3: a new account unknown to key creation fails the run", "google-keys", "providers/google/keys.py",
      "                expect=(NOT_FOUND,) if new_account else (),\n            )\n        ) == NOT_FOUND:",
      "                expect=(),\n            )\n        ) == NOT_FOUND:",
      tests=("tests/hook/test_google.py",)),
    M("r3: an account unknown to the repository policy fails the run", "google-keys", "providers/google/resources.py",
      "expect=(CONFLICT, ACCOUNT_UNKNOWN),", "expect=(CONFLICT,),",
      tests=("tests/hook/test_google.py",)),
    M("r3: the hook may not create its settings ConfigMap", "chart", "chart/templates/shared/role.yaml",
      '    resources: [configmaps]\n    resourceNames: [{{ include "binderhub-registry.settingsName" . | quote }}]\n'
      '    verbs: [get, create, patch, delete]',
      '    resources: [configmaps]\n    resourceNames: [{{ include "binderhub-registry.settingsName" . | quote }}]\n'
      '    verbs: [get, patch, delete]',
      tests=("tests/hook/test_kube_writer.py::test_uninstall_deletes_everything_the_hook_wrote_and_the_test_pod_and_nothing_else",
             "tests/chart/test_chart.py", "tests/lifecycle/test_cluster_generic.py")),
    M("r3: the hook may not roll the BinderHub Deployments", "chart", "chart/templates/shared/role.yaml",
      "    verbs: [get, patch]", "    verbs: [get]",
      tests=("tests/chart/test_chart.py", "tests/lifecycle/test_cluster_generic.py")),
    M("r3: the hook Job has no deadline", "chart", "chart/templates/_pod.tpl",
      "  activeDeadlineSeconds: {{ $settings.activeDeadlineSeconds }}\n", "",
      tests=("tests/chart/test_chart.py", "tests/lifecycle/test_cluster_generic.py")),
    M("r3: hook pods restart in place", "chart", "chart/templates/_pod.tpl",
      "restartPolicy: Never", "restartPolicy: OnFailure",
      tests=("tests/chart/test_chart.py", "tests/lifecycle/test_cluster_generic.py")),
    M("r3: Basic challenge with the wrong scheme case is not Basic", "push-proof", "registry_auth.py",
      '    if scheme == "basic":\n        return Challenge("basic")', '    if scheme == "Basic":\n        return Challenge("basic")',
      tests=("tests/hook/test_hostile_registry.py", "tests/hook/test_generic.py", "tests/hook/test_push_permission.py")),
    # -- the real cluster (issue #19) ------------------------------------------------------------
    M("restart.deployments: null reaches the hook as an absent key (it rolls its default, which its Role forbids)", "chart",
      "chart/templates/_pod.tpl", "  deployments: {{ .Values.restart.deployments | default list | toJson }}",
      "  {{- toYaml .Values.restart | nindent 2 }}",
      tests=("tests/hook/test_kube_writer.py::test_the_hook_as_the_chart_runs_it_restarts_exactly_the_deployments_its_role_names",)),
    M("the cleanup leaves the helm test Pod behind", "chart", "chart/templates/_pod.tpl",
      '{{- if eq .command "cleanup" }}', "{{- if false }}",
      tests=("tests/chart/test_chart.py::test_the_cleanup_job_is_told_to_delete_the_very_pod_helm_test_creates",
             "tests/lifecycle/test_cluster_generic.py::test_companion_install_test_upgrade_uninstall")),
    M("the cleanup's Pod path missing (deleting the helm test Pod fails)", "kube-writer", "kube.py",
      '    "pods": "/api/v1/namespaces/{namespace}/pods/{name}",\n', "",
      tests=("tests/hook/test_kube_writer.py::test_uninstall_deletes_everything_the_hook_wrote_and_the_test_pod_and_nothing_else",
             "tests/lifecycle/test_cluster_generic.py::test_companion_install_test_upgrade_uninstall")),
    # -- BinderHub's own registry client (issue #20, tests/binderhub_client.py): only its lookup sees these
    M("companion values project the Secret's config.json beside the path BinderHub reads", "settings",
      "templates/binderhub-values.yaml.j2",
      "        - key: config.json\n          path: docker/config.json", "        - key: config.json\n          path: config.json",
      tests=("tests/hook/test_generic.py::test_token_registry_gets_the_token_url_binderhub_needs",)),
    M("BinderHub left to its default docker config path (its chart's own Secret)", "settings", "settings.py",
      'registry: dict[str, Any] = {"url": self.registry_url, "docker_config_path": BINDER_DOCKER_CONFIG_PATH}',
      'registry: dict[str, Any] = {"url": self.registry_url}',
      tests=("tests/hook/test_generic.py::test_token_registry_gets_the_token_url_binderhub_needs",)),
]


# pytest's exit code when every test it collected was deselected (by --marker): nothing ran, nothing failed.
NO_TESTS_COLLECTED = 5
TESTS_FAILED = 1  # pytest's exit code when a test failed (not a usage error, an interruption or a crash)
TIMED_OUT = -1
# Every pytest run's start: quiet, no cache, and without the plugins of installed packages no test
# needs to run (hypothesis's own costs about a second of CPU each start; its tests run without it).
PYTEST_OPTIONS = ["-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio"]


def load_rounds(directory: Path = ROUNDS) -> list[Mutation]:
    """The MUTATIONS of every scripts/mutation_rounds/*.py (they import ``M`` from this module)."""
    sys.modules.setdefault("mutate", sys.modules[__name__])
    found: list[Mutation] = []
    for path in sorted(directory.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"mutation_rounds.{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found += module.MUTATIONS
    return found


def missing_tests(mutation: Mutation, root: Path = ROOT) -> list[str]:
    """The mutation's test paths that do not exist (pytest would stop on them, which is no kill)."""
    paths = [*mutation.tests, *GROUPS[mutation.group]]
    return [path for path in paths if not (root / path.split("::")[0]).exists()]


def test_file(test: str) -> str:
    return test.split("::")[0]


def module_reference(mutation: Mutation) -> str:
    """What a test file that exercises the mutated module names: its dotted import path, or for a
    template or chart file its file name."""
    path = Path(mutation.module)
    if mutation.module.startswith("chart/") or path.suffix != ".py":
        return path.name
    parts = ["binderhub_registry", *path.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def targeted_tests(mutation: Mutation, root: Path = ROOT) -> list[str]:
    """One pytest -x run's arguments: the mutation's own tests, then its area's test files that
    name the mutated module, then the rest of its area's (each file once)."""
    chosen = list(mutation.tests)
    seen = {test_file(test) for test in chosen}
    area = [path for path in GROUPS[mutation.group]
            if path not in seen and not any(path.startswith(f"{earlier}/") for earlier in seen)]
    reference = module_reference(mutation)

    def names_module(path: str) -> bool:
        file = root / path
        return file.is_file() and reference in file.read_text(encoding="utf-8")

    return chosen + sorted(area, key=lambda path: not names_module(path))  # stable: the area's order otherwise


@dataclass(frozen=True)
class Selection:
    tests: list[str]  # one pytest -x run's arguments
    how: str  # "lines" (the tests that execute them), or why the area's files: "chart", "import", "uncovered"


def select_tests(mutation: Mutation, coverage: CoverageMap | None, root: Path = ROOT) -> Selection:
    """The tests that execute the mutated lines, from the coverage map (for a line that runs at
    import, a constant's or a function's definition: the lines that read what it defines), and its
    own ``tests``, in
    ``fastest_first`` order. Where the map cannot tell, today's files (``targeted_tests``): a chart
    file (coverage sees Python only), a line run at import that defines nothing, a line no test
    runs; with a map, those files' tests are put in the same order too."""
    if coverage is None:
        return Selection(targeted_tests(mutation, root), "files")
    if mutation.module.startswith("chart/") or not mutation.module.endswith(".py"):
        return Selection(fastest_first(targeted_tests(mutation, root), mutation, coverage), "chart")
    source = (root / "hooks" / "binderhub_registry" / mutation.module).read_text()
    changed = mutation_coverage.mutated_lines(source, mutation.old)
    if changed.at_import and not changed.names:
        return Selection(fastest_first(targeted_tests(mutation, root), mutation, coverage), "import")
    covering = coverage.tests_executing(mutation.module, changed.lines) if not changed.at_import else {
        test for module, lines in mutation_coverage.lines_reading(root / "hooks" / "binderhub_registry", changed.names).items()
        for test in coverage.tests_executing(module, lines)}
    if not covering:
        return Selection(fastest_first(targeted_tests(mutation, root), mutation, coverage), "uncovered")
    # and the mutation's own tests, whatever the map says: a process a test starts with an environment of
    # its own is not measured (tests/hook/test_kube_client.py's clean interpreter), so it executes nothing
    return Selection(fastest_first([*sorted(covering), *mutation.tests], mutation, coverage), "lines")


# How much likelier than another a test the mutation names, or one of its area's, is taken to kill
# it: ordering by seconds times these (a sample of 15 kills: 90 s of tests up to the killer, against
# 97 s by seconds alone and 239 s with all the own tests, then all the area's, first).
OWN_TESTS_FACTOR, AREA_TESTS_FACTOR = 0.25, 0.5


def fastest_first(tests: list[str], mutation: Mutation, coverage: CoverageMap) -> list[str]:
    """The tests, files and directories expanded into the map's tests, the cheapest first: by their
    seconds, less for the mutation's own and its area's (scripts/mutation_order.py)."""
    return mutation_order.fastest_first(tests, coverage.seconds, [(mutation.tests, OWN_TESTS_FACTOR),
                                                                  (GROUPS[mutation.group], AREA_TESTS_FACTOR)])


@dataclass(frozen=True)
class Workspace:
    """One worker's copy of the repository: its ``hooks`` directory is first on PYTHONPATH (the
    editable install is a plain .pth path entry, which PYTHONPATH precedes), its chart is what Helm
    renders, so mutants applied in two workspaces at once never meet."""

    root: Path

    @property
    def basetemp(self) -> Path:
        return self.root.parent / "pytest"

    def target_of(self, mutation: Mutation) -> Path:
        """The file a mutation changes: a module of the package, or (``chart/...``) a repository file."""
        if mutation.module.startswith("chart/"):
            return self.root / mutation.module
        return self.root / "hooks" / "binderhub_registry" / mutation.module

    def imports_its_package(self) -> bool:
        probe = subprocess.run([str(PYTHON), "-c", "import binderhub_registry; print(binderhub_registry.__file__)"],
                               env=self.environment(), capture_output=True, text=True)
        return probe.stdout.startswith(str(self.root))

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root / "hooks")}


def snapshot_repository(into: Path, source: Path = ROOT) -> Workspace:
    """A copy of the repository (tests, chart, package) for one worker, so edits made to the
    worktree meanwhile change nothing; .venv and .tools are linked, not copied."""
    shutil.copytree(source, into, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", ".tools", ".mutate-cache", "__pycache__", ".mypy_cache", ".ruff_cache",
                                                  ".pytest_cache"))
    for name in (".venv", ".tools"):
        if not (into / name).is_symlink():
            (into / name).symlink_to(ROOT / name)
    if (ROOT.parent / "shared").is_dir():  # BinderHub's packaged chart, test data beside the repository as in CI
        (into.parent / "shared").symlink_to(ROOT.parent / "shared")
    return Workspace(into)


@dataclass(frozen=True)
class Outcome:
    code: int  # pytest's exit code; TIMED_OUT
    seconds: float
    detail: str  # the first failure, or pytest's last line
    failed_tests: frozenset[str] = frozenset()  # the ids of pytest's short summary (FAILED, ERROR)

    @property
    def failed(self) -> bool:
        return self.code not in (0, NO_TESTS_COLLECTED)


def run_tests(tests: list[str], workspace: Workspace, timeout: float, marker: str = "", *, measured: Path | None = None,
              every: bool = False) -> Outcome:
    """pytest, stopping at the first failure (unless ``every``), without cache or plugins that slow it, in
    the workspace; or, ``measured`` (a directory for coverage's data), every test under coverage (the map's run)."""
    select = ["-m", marker] if marker else []
    mode, environment = ([] if every else ["-x"]), workspace.environment()
    if measured is not None:
        mode = ["-p", "scripts.mutation_coverage"]  # importable: `python -m` puts the workspace first on sys.path
        environment |= mutation_coverage.measuring_environment(mutation_coverage.write_configuration(measured),
                                                               measured / "durations.json")
    command = [str(PYTHON), "-m", "pytest", *mode, *PYTEST_OPTIONS, f"--basetemp={workspace.basetemp}", *select, *tests]
    started = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=workspace.root, env=environment, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(TIMED_OUT, time.monotonic() - started, "timed out")
    seconds = time.monotonic() - started
    if proc.returncode == NO_TESTS_COLLECTED:
        return Outcome(proc.returncode, seconds, "no tests selected")
    lines = [line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    failed = frozenset(test for line in lines if (test := mutation_order.killed_by(line)) is not None)
    return Outcome(proc.returncode, seconds, (lines or proc.stdout.strip().splitlines()[-1:] or [""])[0], failed)


@dataclass(frozen=True)
class Verdict:
    mutation: Mutation
    fate: str  # "killed", "SURVIVED", "STALE"; UNDECIDED: its recorded killer did not kill it
    seconds: float = 0.0
    detail: str = ""
    selection: Selection | None = None
    killer: str | None = None  # the test id that failed first on the mutant
    remembered: bool = False  # the killer from last time killed it, run alone before its selection


@dataclass(frozen=True)
class Settings:
    timeout: float
    suite_timeout: float
    targeted_only: bool
    marker: str
    coverage: CoverageMap | None = None  # None: today's file-based selection (--selection files)


def apply(mutation: Mutation, path: Path) -> bool:
    text = path.read_text()
    if text.count(mutation.old) != 1:
        return False
    path.write_text(text.replace(mutation.old, mutation.new))
    return True


UNDECIDED = "undecided"


def judge_by_killer(mutation: Mutation, killer: str, workspace: Workspace, settings: Settings) -> Verdict:
    """Apply the mutant in the workspace, run the test that killed it last time alone (one the
    unmutated code passes), restore the file: killed when that test fails, else UNDECIDED (it passed,
    or its id is gone: a usage error is no kill)."""
    path = workspace.target_of(mutation)
    original = path.read_text()
    if not apply(mutation, path):
        return Verdict(mutation, "STALE")
    try:
        alone = run_tests([killer], workspace, settings.timeout, settings.marker)
    finally:
        path.write_text(original)
    if alone.code == TESTS_FAILED:
        return Verdict(mutation, "killed", alone.seconds, alone.detail, killer=mutation_order.killed_by(alone.detail), remembered=True)
    return Verdict(mutation, UNDECIDED, alone.seconds)


def judge(mutation: Mutation, workspace: Workspace, settings: Settings, spent: float = 0.0) -> Verdict:
    """Apply the mutant in the workspace; run its targeted tests (one pytest -x run), then for a
    survivor the whole suite but SUITE_EXCLUDES and what it already passed; restore the file.
    ``spent``: the seconds its recorded killer already took."""
    path = workspace.target_of(mutation)
    original = path.read_text()
    if original.count(mutation.old) != 1:
        return Verdict(mutation, "STALE")
    selection = select_tests(mutation, settings.coverage, workspace.root)  # from the unmutated module
    apply(mutation, path)
    try:
        outcome = run_tests(selection.tests, workspace, settings.timeout, settings.marker)
        seconds, detail = spent + outcome.seconds, outcome.detail
        if not outcome.failed and not settings.targeted_only:
            suite = run_tests(rest_of_the_suite(selection, settings.coverage, workspace.root), workspace,
                              settings.suite_timeout, settings.marker)
            outcome, seconds, detail = suite, seconds + suite.seconds, f"{suite.detail} (whole suite)"
    finally:
        path.write_text(original)
    killer = mutation_order.killed_by(outcome.detail) if outcome.failed else None
    return Verdict(mutation, "killed" if outcome.failed else "SURVIVED", seconds, detail, selection, killer)


def rest_of_the_suite(selection: Selection, coverage: CoverageMap | None, root: Path = ROOT) -> list[str]:
    """A survivor's whole-suite run: the suite but SUITE_EXCLUDES and what its selection ran; with a
    map, test by test, the quickest first (a kill is met sooner), else file by file as pytest finds them."""
    if coverage is None:
        passed = [test for test in selection.tests if "::" not in test]
        return ["tests", *(f"--ignore={path}" for path in sorted({*SUITE_EXCLUDES, *passed}))]
    ran = set(selection.tests)
    return [test for test in mutation_order.fastest_first(suite_files(root), coverage.seconds, []) if test not in ran]


def baseline(chosen: list[Mutation], workspaces: list[Workspace], settings: Settings) -> Outcome | None:
    """Every test file the chosen mutants meet, each run once unmutated (split over the workspaces);
    the first red run, or None when all are green."""
    paths = {test_file(test) for mutation in chosen for test in targeted_tests(mutation)}
    files = sorted(path for path in paths if not any(path.startswith(f"{other}/") for other in paths))
    shares = [files[index::len(workspaces)] for index in range(len(workspaces))]
    with ThreadPoolExecutor(len(workspaces)) as pool:
        outcomes = list(pool.map(lambda share, workspace: run_tests(share, workspace, settings.timeout, settings.marker),
                                 shares, workspaces))
    return next((outcome for outcome in outcomes if outcome.failed), None)


def suite_files(root: Path = ROOT) -> list[str]:
    """The suite's test files but SUITE_EXCLUDES."""
    files = sorted(str(path.relative_to(root)) for path in (root / "tests").rglob("test_*.py"))
    return [file for file in files if not any(file.startswith(f"{excluded}/") for excluded in SUITE_EXCLUDES)]


def build_coverage_map(workspaces: list[Workspace], settings: Settings) -> tuple[CoverageMap | None, Outcome | None]:
    """The suite (but SUITE_EXCLUDES) run once under coverage, its files shared out over the
    workspaces (largest first, each to the least loaded); the map, or the first red run."""
    files = suite_files(workspaces[0].root)
    shares: list[list[str]] = [[] for _ in workspaces]
    loads = [0] * len(workspaces)
    for file in sorted(files, key=lambda file: -(workspaces[0].root / file).stat().st_size):
        least = loads.index(min(loads))
        shares[least].append(file)
        loads[least] += (workspaces[0].root / file).stat().st_size
    measured = [workspace.root.parent / "coverage" for workspace in workspaces]
    with ThreadPoolExecutor(len(workspaces)) as pool:
        outcomes = list(pool.map(lambda share, workspace, into: run_tests(share, workspace, settings.suite_timeout, settings.marker,
                                                                          measured=into), shares, workspaces, measured))
    red = next((outcome for outcome in outcomes if outcome.failed), None)
    return (None, red) if red is not None else (mutation_coverage.read_measurements(measured), None)


def coverage_map(workspaces: list[Workspace], settings: Settings, *, build: bool) -> tuple[CoverageMap | None, Outcome | None]:
    """The map for this snapshot: from the cache when the package, tests and chart are unchanged;
    else built (``build``) or None."""
    cached = CACHE / f"coverage-{mutation_coverage.fingerprint(workspaces[0].root, settings.marker)}.json"
    if cached.is_file():
        print(f"coverage map: {cached.relative_to(ROOT)} (cached)", flush=True)
        return CoverageMap.from_json(cached.read_text()), None
    if not build:
        return None, None
    started = time.monotonic()
    built, red = build_coverage_map(workspaces, settings)
    if built is not None:
        CACHE.mkdir(exist_ok=True)
        cached.write_text(built.to_json())
        print(f"coverage map: built in {time.monotonic() - started:.0f}s over {len(built.seconds)} tests "
              f"(it is also the baseline); load average {load_average()}", flush=True)
    return built, red


def usable_killers(killers: set[str], workspaces: list[Workspace], settings: Settings) -> set[str]:
    """The recorded killers that can make a kill: tests pytest still collects under the run's marker
    that pass on the unmutated code. With a map, its run was that baseline; else they are collected,
    then run once, split over the workspaces."""
    if settings.coverage is not None:
        return {test for test in killers if mutation_order.function_of(test) in settings.coverage.seconds}
    files = sorted({test_file(test) for test in killers if (workspaces[0].root / test_file(test)).is_file()})
    if not files:
        return set()
    select = ["-m", settings.marker] if settings.marker else []
    listed = subprocess.run([str(PYTHON), "-m", "pytest", "--collect-only", *PYTEST_OPTIONS, *select, *files],
                            cwd=workspaces[0].root, env=workspaces[0].environment(), capture_output=True, text=True)
    ids = listed.stdout.splitlines()
    collected = sorted(killer for killer in killers if any(of_test(killer, test) for test in ids))
    shares = [collected[index::len(workspaces)] for index in range(len(workspaces))]
    with ThreadPoolExecutor(len(workspaces)) as pool:
        outcomes = list(pool.map(lambda share, workspace: run_tests(share, workspace, settings.suite_timeout, settings.marker, every=True),
                                 [share for share in shares if share], workspaces))
    red = {test for outcome in outcomes for test in outcome.failed_tests}
    if any(outcome.failed and not outcome.failed_tests for outcome in outcomes):  # timed out, or a crash naming no test
        return set()
    return {killer for killer in collected if not any(of_test(killer, test) for test in red)}


def of_test(killer: str, test: str) -> bool:
    """Whether a pytest id is the killer's, or one of its parameters' when the killer names a function."""
    return test == killer or test.startswith(f"{killer}[")


class Progress:
    """Verdicts printed as they come, numbered over the whole run."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.lock = total, 0, threading.Lock()

    def show(self, verdict: Verdict) -> None:
        with self.lock:
            self.done += 1
            chose = f", {len(verdict.selection.tests)} {verdict.selection.how}" if verdict.selection else ""
            chose += ", last killer" if verdict.remembered else ""
            timing = f" ({verdict.seconds:.0f}s{chose})" if verdict.fate != "STALE" else ""
            print(f"[{self.done:3}/{self.total}] {verdict.fate:8} {verdict.mutation.group}: {verdict.mutation.name}{timing}"
                  + (f"\n            by {verdict.detail}" if verdict.fate == "killed" else ""), flush=True)


def judge_all(chosen: list[Mutation], workspaces: list[Workspace], judging: Callable[[Mutation, Workspace], Verdict],
              progress: Progress) -> list[Verdict]:
    """Each mutant judged in whichever workspace is free; verdicts shown as they come (not UNDECIDED)."""
    free: queue.SimpleQueue[Workspace] = queue.SimpleQueue()
    for workspace in workspaces:
        free.put(workspace)

    def judge_in_a_free_workspace(mutation: Mutation) -> Verdict:
        workspace = free.get()
        try:
            return judging(mutation, workspace)
        finally:
            free.put(workspace)

    verdicts: list[Verdict] = []
    with ThreadPoolExecutor(len(workspaces)) as pool:
        for future in as_completed([pool.submit(judge_in_a_free_workspace, mutation) for mutation in chosen]):
            verdicts.append(future.result())
            if verdicts[-1].fate != UNDECIDED:
                progress.show(verdicts[-1])
    return verdicts


def report(verdicts: list[Verdict]) -> None:
    judged = [verdict for verdict in verdicts if verdict.fate != "STALE"]
    killed = [verdict for verdict in judged if verdict.fate == "killed"]
    stale = [verdict for verdict in verdicts if verdict.fate == "STALE"]
    print("\nkilled/total per area:")
    for group in sorted({verdict.mutation.group for verdict in judged}):
        in_group = [verdict for verdict in judged if verdict.mutation.group == group]
        print(f"  {group:18} {sum(verdict.fate == 'killed' for verdict in in_group)}/{len(in_group)}")
    print(f"\n{len(killed)} of {len(judged)} mutants killed ({100 * len(killed) / max(len(judged), 1):.0f}%)"
          + (f"; {len(stale)} stale (their code changed: update the list)" if stale else ""))
    for verdict in judged:
        if verdict.fate == "SURVIVED":
            print(f"  survivor: {verdict.mutation.group}: {verdict.mutation.name} ({verdict.mutation.module})")
    for verdict in stale:
        print(f"  stale: {verdict.mutation.group}: {verdict.mutation.name} ({verdict.mutation.module})")
    if remembered := sum(verdict.remembered for verdict in judged):
        print(f"killed by the test that killed them last time, run alone first: {remembered}")
    hows = [verdict.selection.how for verdict in judged if verdict.selection is not None]
    if hows:
        print("tests chosen by: " + ", ".join(f"{how} {hows.count(how)}" for how in sorted(set(hows))))
    for verdict in judged:
        if verdict.selection is not None and verdict.selection.how == "uncovered":
            print(f"  no test executes: {verdict.mutation.group}: {verdict.mutation.name} ({verdict.mutation.module})")


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[],
                        help="run only mutations whose name or group contains this (repeatable: any of them)")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--sample", type=int, default=0, help="judge a random N of the chosen mutations (the same N for the same --seed)")
    parser.add_argument("--seed", type=int, default=26, help="the random sample's seed")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="mutants judged at once (default: the cores)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per mutant's targeted test run")
    parser.add_argument("--skip-baseline", action="store_true", help="do not first check that the unmutated tests pass")
    parser.add_argument("--suite-timeout", type=float, default=1800, help="seconds for a survivor's whole-suite run")
    parser.add_argument("--targeted-only", action="store_true", help="do not run the whole suite for survivors of their targeted tests")
    parser.add_argument("--selection", choices=("auto", "coverage", "files"), default="auto",
                        help="the tests of a mutant its recorded killer did not kill: those that execute its lines (the "
                             "coverage map: 'coverage' builds it, once per change of package, tests or chart; 'auto' uses it "
                             "when it is cached) or its area's files")
    parser.add_argument("--marker", default="not cluster",
                        help='pytest -m expression for every test run (default "not cluster"; "" adds the cluster tests, '
                             "one mutant at a time)")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS + load_rounds() if not args.only or any(only in m.name or only in m.group for only in args.only)]
    if args.sample:
        chosen = random.Random(args.seed).sample(chosen, min(args.sample, len(chosen)))
    if args.list:
        for m in chosen:
            print(f"{m.group:14} {m.module:22} {m.name}")
        return 0
    broken = [(m, missing) for m in chosen if (missing := missing_tests(m))]
    for mutation, missing in broken:
        print(f"{mutation.name}: no such test {', '.join(missing)} (fix the list)", file=sys.stderr)
    if broken:
        return 2
    # The cluster is one per machine: its tests never run in two workspaces at once.
    jobs = max(1, min(args.jobs, len(chosen))) if "not cluster" in args.marker else 1
    record = mutation_order.KillerRecord.load(KILLERS)
    settings = Settings(args.timeout, args.suite_timeout, args.targeted_only, args.marker)
    started = time.monotonic()
    print(f"{len(chosen)} mutants, {jobs} at a time; load average {load_average()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        # Snapshots taken at the start: edits to the worktree during the run do not leak in.
        first = snapshot_repository(Path(tmp) / "0" / "repository")
        workspaces = [first, *(snapshot_repository(Path(tmp) / str(n) / "repository", first.root) for n in range(1, jobs))]
        if not all(workspace.imports_its_package() for workspace in workspaces):
            print("a workspace's package is not what Python imports there; aborting", file=sys.stderr)
            return 2
        if args.selection != "files":
            settings = dataclasses.replace(settings, coverage=coverage_map(workspaces, settings, build=False)[0])
        progress = Progress(len(chosen))
        # First each mutant's recorded killer, alone: most runs end there.
        recorded = {mutation.name: killer for mutation in chosen if (killer := record.recall(mutation.name)) is not None}
        usable = usable_killers(set(recorded.values()), workspaces, settings)
        print(f"recorded killers: {len(set(recorded.values()))} tests for {len(recorded)} mutants, {len(usable)} of the tests "
              f"pass unmutated under the marker ({time.monotonic() - started:.0f}s)", flush=True)
        by_killer = judge_all([m for m in chosen if recorded.get(m.name) in usable], workspaces,
                              lambda mutation, workspace: judge_by_killer(mutation, recorded[mutation.name], workspace, settings),
                              progress)
        spent = {verdict.mutation.name: verdict.seconds for verdict in by_killer if verdict.fate == UNDECIDED}
        verdicts = [verdict for verdict in by_killer if verdict.fate != UNDECIDED]
        # Then the others, by their selection.
        decided = {verdict.mutation.name for verdict in verdicts}
        rest = [mutation for mutation in chosen if mutation.name not in decided]
        if rest:
            print(f"{len(rest)} mutants without a recorded killer that kills them ({time.monotonic() - started:.0f}s)", flush=True)
            if args.selection == "coverage" and settings.coverage is None:
                measured, red = coverage_map(workspaces, settings, build=True)
                if measured is None:
                    print(f"the unmutated suite fails under coverage ({red.detail if red else ''}); fix it first", file=sys.stderr)
                    return 2
                settings = dataclasses.replace(settings, coverage=measured)
            if settings.coverage is None and not args.skip_baseline:
                red = baseline(rest, workspaces, settings)
                print(f"baseline: {'green' if red is None else 'RED'} in {time.monotonic() - started:.0f}s", flush=True)
                if red is not None:
                    print(f"  the unmutated tests fail ({red.detail}); fix them first", file=sys.stderr)
                    return 2
            verdicts += judge_all(rest, workspaces, lambda mutation, workspace: judge(mutation, workspace, settings,
                                                                                     spent.get(mutation.name, 0.0)), progress)
        for verdict in verdicts:
            if verdict.fate != "STALE":
                record.remember(verdict.mutation.name, verdict.killer)
        record.save()

    report(verdicts)
    print(f"\n{time.monotonic() - started:.0f}s with {jobs} at a time; load average {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
