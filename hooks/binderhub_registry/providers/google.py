"""Google: gcr.io (served by Artifact Registry) and Artifact Registry.

Mode ``create`` (default) automates the manual console procedure BinderHub's docs describe, with
the hook's own Google identity: ensure the Artifact Registry repository, the builder service
account, its writer role *on the repository* (not project-wide Storage Admin), and a key; then
prove the key can push, polling while IAM propagates the new binding (typically 2, up to 7
minutes). Mode ``validate`` takes a ready key and only proves it.

A run with nothing to change reuses the key already in the Secret and makes no writes to Google.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from binderhub_registry.errors import (
    CredentialsRejected,
    InvalidConfiguration,
    Unreachable,
)
from binderhub_registry.faults import checkpoint
from binderhub_registry.google_api import (
    ACCOUNT_UNKNOWN,
    CONFLICT,
    NOT_FOUND,
    GoogleCalls,
    artifact_registry_client,
    credentials_from_key,
    default_credentials,
    iam_client,
    identity_of,
)
from binderhub_registry.oci import Hints, RegistryClient
from binderhub_registry.providers.base import (
    Credential,
    CurrentState,
    InputCredentials,
    Provider,
)
from binderhub_registry.rotation import now_text, parse_time, should_rotate
from binderhub_registry.settings import RegistrySettings, probe_name

GCR_LOCATIONS = {"gcr.io": "us", "us.gcr.io": "us", "eu.gcr.io": "europe", "asia.gcr.io": "asia"}
WRITER = "roles/artifactregistry.writer"
CREATE_ON_PUSH_WRITER = "roles/artifactregistry.createOnPushWriter"
UPLOAD_PERMISSION = "artifactregistry.repositories.uploadArtifacts"
JSON_KEY_USER = "_json_key"
MAX_KEYS = 10
INTENT_STARTED = "binderhub-registry.jupyter.org/intent-key-creation-started"
INTENT_ACCOUNT = "binderhub-registry.jupyter.org/intent-key-account"
INTENT_KEY = "binderhub-registry.jupyter.org/intent-key-id"
CLOCK_SKEW = timedelta(seconds=60)
# The key creation call follows the note at once (with retries, well within this).
CREATION_WINDOW = timedelta(minutes=5)
CREATED = "created"


@dataclass(frozen=True)
class Target:
    """Where images go and who pushes them."""

    project: str
    location: str
    repository_id: str
    host: str  # registry host BinderHub and docker use
    path: str  # repository path under the host, before the image name
    role: str  # role the builder needs on the repository
    account_id: str

    @property
    def repository_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/repositories/{self.repository_id}"

    @property
    def account_email(self) -> str:
        return f"{self.account_id}@{self.project}.iam.gserviceaccount.com"

    @property
    def account_name(self) -> str:
        return f"projects/{self.project}/serviceAccounts/{self.account_email}"


def key_id(key_name: str) -> str:
    return key_name.rsplit("/", 1)[-1]


class GoogleProvider(Provider):
    section: str
    secret_keys = ("key.json",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: dict[str, Any] = self.registry_values[self.section]
        self.google: dict[str, Any] = self.registry_values.get("google") or {}
        self.endpoints: dict[str, str] = self.google.get("endpoints") or {}
        self.project = str(self.config.get("project") or "")
        self.discovered_token_url = ""
        self.retry_seconds = float(os.environ.get("BINDERHUB_REGISTRY_RETRY_SECONDS", "1"))
        # The admin's clients of this run, for revocations after the Secret switched.
        self._admin_calls: GoogleCalls | None = None
        self._admin_iam: Any = None

    # -- values ----------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return str(self.google.get("mode") or "create")

    def mints_credentials(self) -> bool:
        return self.mode == "create"

    def needs_cluster(self) -> bool:
        return super().needs_cluster() or bool(self.google.get("adminKeySecret"))

    def value(self, key: str) -> str:
        return f"registry.{self.section}.{key}"

    def target(self) -> Target:
        raise NotImplementedError

    def registry_url(self, target: Target) -> str:
        override = str(self.google.get("registryUrl") or "").rstrip("/")
        return override or f"https://{target.host}"

    def adopt_docker_config(self, config: dict[str, Any]) -> None:
        """`check` (helm test) has no Google API to ask: take the project from the key in the
        docker config when values name none, as provision takes it from the credentials."""
        from binderhub_registry import dockerconfig  # noqa: PLC0415

        if self.project:
            return
        for _key, username, password in dockerconfig.all_credentials(config):
            if username != JSON_KEY_USER:
                continue
            try:
                info = json.loads(password)
            except ValueError:
                return
            if isinstance(info, dict) and isinstance(info.get("project_id"), str):
                self.project = info["project_id"]
            return

    def settings(self) -> RegistrySettings:
        if not self.project:
            raise InvalidConfiguration(
                f"{self.value('project')} is empty; set the GCP project id (provision can take it from the credentials)."
            )
        target = self.target()
        url = self.registry_url(target)
        host = url.split("://", 1)[1]
        prefix = self.registry_values["prefix"]
        return RegistrySettings(
            type=self.type,
            registry_url=url,
            auth_key=url,
            image_prefix=f"{host}/{target.path}/{prefix}",
            token_url=self.discovered_token_url or f"{url}/v2/token?service={host}",
            probe_repository=f"{target.path}/{probe_name(prefix)}",
        )

    # -- obtain ----------------------------------------------------------------------------

    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Credential:
        if self.mode == "validate":
            return self._validate(given)
        return self._create(current)

    def _given_key(self, given: InputCredentials | None) -> str:
        key_text = (given.key_json if given else "") or str(self.google.get("key") or "")
        if not key_text:
            raise InvalidConfiguration(
                "registry.google.mode=validate needs a service account key: a Secret with a key.json key in "
                "registry.existingSecret, or registry.google.key (e.g. --set-file registry.google.key=key.json)."
            )
        self.progress.add_secret(key_text)
        return key_text

    def _validate(self, given: InputCredentials | None) -> Credential:
        key_text = self._given_key(given)
        info = _parse_key(key_text)
        self.project = self.project or str(info.get("project_id", ""))
        self.progress.step(f"validating the key {info.get('private_key_id', '?')[:12]}... of {info.get('client_email')}")
        self._prove_polling(key_text, timeout=float(self.google.get("validateTimeoutSeconds", 60)), timeout_is_outage=False)
        return Credential(JSON_KEY_USER, key_text, credential_id=str(info.get("private_key_id", "")))

    def _admin(self) -> tuple[Any, str]:
        secret_name = self.google.get("adminKeySecret")
        if secret_name:
            data = self.read_secret(secret_name) if self.read_secret else None
            if data is None:
                raise InvalidConfiguration(
                    f"Secret {secret_name!r} named by registry.google.adminKeySecret does not exist; create it or fix the name."
                )
            if "key.json" not in data:
                raise InvalidConfiguration(
                    f"Secret {secret_name!r} named by registry.google.adminKeySecret has no key.json key"
                    f"; add the admin key file under that key."
                )
            self.progress.add_secret(data["key.json"])
            info = _parse_key(data["key.json"])
            return credentials_from_key(info), str(info.get("project_id", ""))
        return default_credentials()

    def _create(self, current: CurrentState) -> Credential:
        admin, admin_project = self._admin()
        self.project = self.project or admin_project
        if not self.project:
            raise InvalidConfiguration(f"{self.value('project')} is empty and the hook's credentials name no project; set it.")
        target = self.target()
        calls = GoogleCalls(
            self.progress, self.project, identity_of(admin), retry_seconds=self.retry_seconds, project_value=self.value("project")
        )
        self.progress.step(f"Google identity {calls.identity}, project {self.project}")
        registry = artifact_registry_client(admin, self.endpoints.get("artifactRegistry", ""))
        iam = iam_client(admin, self.endpoints.get("iam", ""))

        self._ensure_repository(calls, registry, target)
        new_account = self._ensure_service_account(calls, iam, target)
        self._ensure_role(calls, registry, target)

        self._admin_calls, self._admin_iam = calls, iam
        account = target.account_email
        started_waiting, attempt = time.monotonic(), 0
        while (keys := self._user_keys(calls, iam, account, missing_ok=new_account)) is None:
            attempt += 1
            self._wait_for_iam(started_waiting, attempt, f"IAM does not list the keys of the new {account} yet")
        keys = self._delete_keys_leaked_by_a_crash(calls, iam, account, current, keys)
        previous = ""
        in_secret = self._secret_key(current)
        if in_secret is not None and in_secret[1].get("client_email") == account:
            key_text, info = in_secret
            kid = str(info.get("private_key_id", ""))
            older = current.annotation("previous-credential-id")
            live = {key_id(k.name): k for k in keys}
            if kid in live and not live[kid].disabled:
                rotate, why = should_rotate(self.rotation, current.annotations)
                if not rotate:
                    self.progress.step(f"key {kid[:12]}... in the Secret is current ({why}): reusing it")
                    self._prove_polling(key_text, timeout=self._propagation_timeout(), timeout_is_outage=True)
                    return Credential(
                        JSON_KEY_USER,
                        key_text,
                        credential_id=kid,
                        created_at=current.annotation("created-at"),
                        previous_credential_id=older,
                        origin=CREATED,
                    )
                self.progress.step(f"rotating the key: {why}")
                keys = self._revoke(calls, iam, account, keys, {older} - {kid, ""}, "the key before the current one")
                checkpoint("after-revoking-previous")
                previous = kid
            else:
                self.progress.step(f"key {kid[:12]}... in the Secret no longer exists or is disabled: creating a new one")
                keys = self._revoke(calls, iam, account, keys, {kid, older} - {""}, "the Secret's unusable keys")

        if len(keys) >= MAX_KEYS:
            raise InvalidConfiguration(
                f"Service account {account} already has {len(keys)} user-managed keys, the most Google allows, and none "
                f"is one this tool created and no longer uses; delete keys nobody uses (gcloud iam service-accounts keys list "
                f"--iam-account {account})."
            )
        started = now_text()
        self.record_intent({INTENT_STARTED: started, INTENT_ACCOUNT: account})
        while (
            key := calls(
                "create a key for " + account,
                "iam.serviceAccountKeys.create",
                lambda: iam.create_service_account_key(request={"name": target.account_name}),
                expect=(NOT_FOUND,) if new_account else (),
            )
        ) == NOT_FOUND:
            attempt += 1
            self._wait_for_iam(started_waiting, attempt, f"IAM does not let a key be made for the new {account} yet")
        key_text = _key_text(key.private_key_data)
        self.progress.add_secret(key_text)
        kid = key_id(key.name)
        checkpoint("after-key-creation")
        self.record_intent({INTENT_STARTED: started, INTENT_ACCOUNT: account, INTENT_KEY: kid})
        checkpoint("after-key-noted")
        self.progress.step(f"created key {kid[:12]}... for {account}")
        self._prove_polling(key_text, timeout=self._propagation_timeout(), timeout_is_outage=True)
        return Credential(JSON_KEY_USER, key_text, credential_id=kid, previous_credential_id=previous, origin=CREATED)

    def _propagation_timeout(self) -> float:
        return float(self.google.get("propagationTimeoutSeconds", 420))

    def _ensure(self, calls: GoogleCalls, noun: str, get: tuple[str, Callable[[], Any]], create: tuple[str, Callable[[], Any]]) -> Any:
        """Read an object and create it when absent; None when it existed (or another run created
        it meanwhile), else what the create call returned."""
        if calls("read " + noun, get[0], get[1], expect=(NOT_FOUND,)) != NOT_FOUND:
            self.progress.step(f"{noun}: exists")
            return None
        created = calls("create " + noun, create[0], create[1], expect=(CONFLICT,))
        if created == CONFLICT:
            self.progress.step(f"{noun}: exists")
            return None
        return created

    def _ensure_repository(self, calls: GoogleCalls, registry: Any, target: Target) -> None:
        from google.cloud import artifactregistry_v1  # noqa: PLC0415

        repository = artifactregistry_v1.Repository(
            format_=artifactregistry_v1.Repository.Format.DOCKER, description="Images built by BinderHub (binderhub-registry)"
        )
        parent = f"projects/{target.project}/locations/{target.location}"
        noun = "Artifact Registry repository " + target.repository_name
        operation = self._ensure(
            calls,
            noun,
            get=("artifactregistry.repositories.get", lambda: registry.get_repository(request={"name": target.repository_name})),
            create=(
                "artifactregistry.repositories.create",
                lambda: registry.create_repository(
                    request={"parent": parent, "repository_id": target.repository_id, "repository": repository}
                ),
            ),
        )
        if operation is not None:
            calls("wait for the repository to be created", "artifactregistry.repositories.create", lambda: operation.result(timeout=120))
            self.progress.step(f"{noun}: created")

    def _ensure_service_account(self, calls: GoogleCalls, iam: Any, target: Target) -> bool:
        """Whether the account was created just now (IAM then takes a while to know it)."""
        account = {"display_name": "BinderHub image builder", "description": "Pushes BinderHub's images; managed by binderhub-registry"}
        noun = "service account " + target.account_email
        created = self._ensure(
            calls,
            noun,
            get=("iam.serviceAccounts.get", lambda: iam.get_service_account(request={"name": target.account_name})),
            create=(
                "iam.serviceAccounts.create",
                lambda: iam.create_service_account(
                    request={"name": f"projects/{target.project}", "account_id": target.account_id, "service_account": account}
                ),
            ),
        )
        if created is not None:
            self.progress.step(f"{noun}: created")
        return created is not None

    def _ensure_role(self, calls: GoogleCalls, registry: Any, target: Target) -> None:
        member = f"serviceAccount:{target.account_email}"
        started = time.monotonic()
        conflicts = unknown = 0
        while True:
            policy: Any = calls(
                "read the IAM policy of " + target.repository_name,
                "artifactregistry.repositories.getIamPolicy",
                lambda: registry.get_iam_policy(request={"resource": target.repository_name}),
            )
            if any(b.role == target.role and member in b.members for b in policy.bindings):
                self.progress.step(f"{target.role} on the repository: already granted to {target.account_email}")
                return
            binding = next((b for b in policy.bindings if b.role == target.role), None)
            if binding is None:
                binding = policy.bindings.add()
                binding.role = target.role
            binding.members.append(member)
            result = calls(
                "grant " + target.role + " on " + target.repository_name,
                "artifactregistry.repositories.setIamPolicy",
                partial(registry.set_iam_policy, request={"resource": target.repository_name, "policy": policy}),
                expect=(CONFLICT, ACCOUNT_UNKNOWN),
            )
            if result == ACCOUNT_UNKNOWN:
                unknown += 1
                self._wait_for_iam(started, unknown, f"IAM does not know {target.account_email} yet")
                continue
            if result != CONFLICT:
                self.progress.step(f"{target.role} on the repository: granted to {target.account_email}")
                return
            conflicts += 1
            if conflicts == 5:
                break
            self.progress.warn(f"the repository's IAM policy changed meanwhile; reading it again (attempt {conflicts + 1} of 5)")
        raise Unreachable(f"The IAM policy of {target.repository_name} kept changing under the hook; try again.")

    def _wait_for_iam(self, started: float, attempt: int, why: str) -> None:
        """Sleep before try ``attempt + 1`` of a step IAM's eventual consistency holds up; give up
        with exit 3 after registry.google.propagationTimeoutSeconds."""
        waited = time.monotonic() - started
        timeout = self._propagation_timeout()
        if waited >= timeout:
            raise Unreachable(
                f"{why} after {timeout:g}s; IAM changes can take 7 minutes or more: run the install or upgrade again, "
                f"or raise registry.google.propagationTimeoutSeconds."
            )
        delay = min(self.retry_seconds * 2 ** (attempt - 1), 15 * self.retry_seconds, max(timeout - waited, 0.01))
        self.progress.step(f"waiting for IAM to propagate: {why} ({waited:.0f}s of at most {timeout:g}s; next check in {delay:.1f}s)")
        time.sleep(delay)

    def _secret_key(self, current: CurrentState) -> tuple[str, dict[str, Any]] | None:
        """The service account key in the Secret (whatever its auths key: the registry URL may
        have changed since), with its parsed JSON."""
        for entry in (current.docker_config or {}).get("auths", {}).values():
            try:
                username, _, password = base64.b64decode(entry.get("auth", "")).decode().partition(":")
                info = json.loads(password) if username == JSON_KEY_USER else None
            except (ValueError, AttributeError):
                continue
            if isinstance(info, dict) and info.get("client_email"):
                self.progress.add_secret(password)
                return password, info
        return None

    def _user_keys(self, calls: GoogleCalls, iam: Any, account: str, missing_ok: bool = False) -> list[Any] | None:
        """The account's user-managed keys; None when it is not found and ``missing_ok``."""
        from google.cloud import iam_admin_v1  # noqa: PLC0415

        response = calls(
            "list the keys of " + account,
            "iam.serviceAccountKeys.list",
            lambda: iam.list_service_account_keys(
                request={"name": account_name(account), "key_types": [iam_admin_v1.ListServiceAccountKeysRequest.KeyType.USER_MANAGED]}
            ),
            expect=(NOT_FOUND,) if missing_ok else (),
        )
        return None if response == NOT_FOUND else list(response.keys)

    def _revoke(self, calls: GoogleCalls, iam: Any, account: str, keys: list[Any], ids: set[str], why: str) -> list[Any]:
        """Delete the keys with these ids among ``keys`` (all of ``account``); return the keys left."""
        left = []
        for key in keys:
            if key_id(key.name) not in ids:
                left.append(key)
                continue
            calls(
                f"delete key {key_id(key.name)} of {account}",
                "iam.serviceAccountKeys.delete",
                partial(iam.delete_service_account_key, request={"name": key.name}),
                expect=(NOT_FOUND,),
            )
            self.progress.step(f"deleted {why}: {key_id(key.name)[:12]}...")
        return left

    def _delete_keys_leaked_by_a_crash(
        self, calls: GoogleCalls, iam: Any, account: str, current: CurrentState, keys: list[Any]
    ) -> list[Any]:
        """A hook killed between creating a key and writing the Secret leaves a key nobody uses.
        The write-ahead note names that key once its creation returned; before that, it can only
        be a key of the account created within moments of the note (CREATION_WINDOW), so keys
        others create later are never touched."""
        if current.intents.get(INTENT_ACCOUNT) != account:
            return keys
        in_use = {current.annotation("credential-id"), current.annotation("previous-credential-id")}
        noted = current.intents.get(INTENT_KEY, "")
        if noted:
            leaked = {noted} - in_use
        else:
            started = parse_time(current.intents.get(INTENT_STARTED, ""))
            if started is None:
                return keys
            leaked = {
                key_id(k.name)
                for k in keys
                if _created_between(k, started - CLOCK_SKEW, started + CREATION_WINDOW) and key_id(k.name) not in in_use
            }
        return self._revoke(calls, iam, account, keys, leaked, "a key an interrupted run created and never used")

    # -- proof -----------------------------------------------------------------------------

    def _prove_polling(self, key_text: str, timeout: float, timeout_is_outage: bool) -> dict[str, Any]:
        """Prove push, polling while IAM propagates (new keys and bindings take minutes)."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return self._prove_key(key_text)
            except CredentialsRejected as exc:
                waited = time.monotonic() - started
                if waited >= timeout:
                    if timeout_is_outage:
                        raise Unreachable(
                            f"IAM did not let the new key push within {timeout:g}s ({exc.message.rstrip('.')}); "
                            f"IAM changes can take 7 minutes or more: run the upgrade again, "
                            f"or raise registry.google.propagationTimeoutSeconds."
                        ) from None
                    raise
                attempt += 1
                delay = min(self.retry_seconds * 2 ** (attempt - 1), 15 * self.retry_seconds, max(timeout - waited, 0.01))
                self.progress.step(
                    f"waiting for IAM to propagate: no push yet ({waited:.0f}s of at most {timeout:g}s; next check in {delay:.1f}s)"
                )
                time.sleep(delay)

    def _prove_key(self, key_text: str) -> dict[str, Any]:
        info = _parse_key(key_text)
        self.project = self.project or str(info.get("project_id", ""))
        target = self.target()
        identity = str(info.get("client_email", "the key's service account"))
        builder = credentials_from_key(info)
        calls = GoogleCalls(self.progress, self.project, identity, retry_seconds=self.retry_seconds, project_value=self.value("project"))
        registry = artifact_registry_client(builder, self.endpoints.get("artifactRegistry", ""))
        granted = calls(
            "test its permissions on " + target.repository_name,
            "artifactregistry.repositories.uploadArtifacts",
            lambda: registry.test_iam_permissions(request={"resource": target.repository_name, "permissions": [UPLOAD_PERMISSION]}),
        )
        if UPLOAD_PERMISSION not in list(granted.permissions):
            raise CredentialsRejected(
                f"{identity} may not push to {target.repository_name} ({UPLOAD_PERMISSION} not granted)"
                f"; grant it {target.role} on the repository."
            )
        settings = self.settings()
        hints = Hints(url="registry.google.registryUrl", credentials=f"the key of {identity}")
        with RegistryClient(settings.registry_url, JSON_KEY_USER, key_text, progress=self.progress, hints=hints) as client:
            challenge = client.challenge()
            proof = client.prove_push(settings.probe_repository)
        self.discovered_token_url = challenge.token_url
        self.progress.step(f"push access proven on {target.repository_name} (testIamPermissions + {' + '.join(proof.methods)})")
        return {"repository": target.repository_name, "methods": ["testIamPermissions", *proof.methods], "serviceAccount": identity}

    def prove(self, username: str, password: str) -> dict[str, Any]:
        if username != JSON_KEY_USER:
            raise CredentialsRejected(f"The docker config holds user {username!r}, not a Google {JSON_KEY_USER} key; re-run provision.")
        self.progress.add_secret(password)
        return self._prove_key(password)

    # -- rotation and clean-up ----------------------------------------------------------------

    def after_switch(self, credential: Credential, current: CurrentState) -> None:
        """Once the Secret holds the new key: clear the write-ahead note, and when the builder
        account changed (registry.*.serviceAccount), revoke the keys this tool had created for
        the old one."""
        if self.mode != "create":
            return
        self.record_intent({})
        old = self._secret_key(current)
        if old is None or current.annotation("credential-origin") != CREATED or old[1]["client_email"] == self.target().account_email:
            return
        assert self._admin_calls is not None, "after_switch follows _create"
        self._revoke_created_keys(self._admin_calls, self._admin_iam, str(old[1]["client_email"]), current)

    def _revoke_created_keys(self, calls: GoogleCalls, iam: Any, account: str, current: CurrentState) -> None:
        keys = self._user_keys(calls, iam, account) or []
        keys = self._delete_keys_leaked_by_a_crash(calls, iam, account, current, keys)
        ours = {current.annotation("credential-id"), current.annotation("previous-credential-id")} - {""}
        left = self._revoke(calls, iam, account, keys, ours, f"key of {account} created by binderhub-registry")
        self.progress.step(f"{len(keys) - len(left)} key(s) of {account} revoked; the service account stays")

    def cleanup(self, current: CurrentState) -> None:
        """Revoke the keys this tool created (the Secret's current and previous ones, and any an
        interrupted run left); the service account and the repository (with its images) stay."""
        in_secret = self._secret_key(current)
        if self.mode != "create" and current.annotation("credential-origin") != CREATED:
            self.progress.step("the key was given (mode validate): nothing to revoke")
            return
        admin, admin_project = self._admin()
        self.project = self.project or admin_project or (str(in_secret[1].get("project_id", "")) if in_secret else "")
        account = str(in_secret[1]["client_email"]) if in_secret else self.target().account_email
        calls = GoogleCalls(
            self.progress, self.project, identity_of(admin), retry_seconds=self.retry_seconds, project_value=self.value("project")
        )
        iam = iam_client(admin, self.endpoints.get("iam", ""))
        found = calls(
            "read service account " + account,
            "iam.serviceAccounts.get",
            lambda: iam.get_service_account(request={"name": account_name(account)}),
            expect=(NOT_FOUND,),
        )
        if found == NOT_FOUND:
            self.progress.step(f"service account {account} does not exist: no key to revoke")
            return
        self._revoke_created_keys(calls, iam, account, current)


class GcrProvider(GoogleProvider):
    type = "gcr"
    section = "gcr"

    def target(self) -> Target:
        host = str(self.config.get("host") or "gcr.io")
        return Target(
            project=self.project,
            location=GCR_LOCATIONS[host],
            repository_id=host,
            host=host,
            path=self.project,
            role=CREATE_ON_PUSH_WRITER,
            account_id=str(self.config["serviceAccount"]),
        )


class ArtifactRegistryProvider(GoogleProvider):
    type = "artifact-registry"
    section = "artifactRegistry"

    def target(self) -> Target:
        location = str(self.config["location"])
        repository = str(self.config["repository"])
        return Target(
            project=self.project,
            location=location,
            repository_id=repository,
            host=f"{location}-docker.pkg.dev",
            path=f"{self.project}/{repository}",
            role=WRITER,
            account_id=str(self.config["serviceAccount"]),
        )


def _parse_key(key_text: str) -> dict[str, Any]:
    try:
        info = json.loads(key_text)
    except ValueError:
        raise InvalidConfiguration("The service account key is not JSON; use the key file Google issued (type service_account).") from None
    if not isinstance(info, dict) or info.get("type") != "service_account" or "private_key" not in info:
        raise InvalidConfiguration("The service account key is not a service account key file (type service_account with a private_key).")
    return info


def _key_text(private_key_data: bytes) -> str:
    """The key file JSON: raw bytes over gRPC, base64 over REST."""
    text = private_key_data.decode() if isinstance(private_key_data, bytes) else str(private_key_data)
    if not text.lstrip().startswith("{"):
        text = base64.b64decode(text).decode()
    return text


def account_name(email: str) -> str:
    """projects/P/serviceAccounts/EMAIL, P from the email (ACCOUNT@P.iam.gserviceaccount.com)."""
    project = email.partition("@")[2].removesuffix(".iam.gserviceaccount.com")
    return f"projects/{project}/serviceAccounts/{email}"


def _created_between(key: Any, start: datetime, end: datetime) -> bool:
    """Whether a key was created within [start, end] (its valid_after_time is its creation)."""
    created: datetime | None = getattr(key, "valid_after_time", None)
    if not created:
        return False
    created = created.replace(tzinfo=UTC) if created.tzinfo is None else created
    return start <= created <= end
