"""Google: gcr.io (served by Artifact Registry) and Artifact Registry.

Mode ``create`` (default) automates the manual console procedure BinderHub's docs describe, with
the hook's own Google identity (``admin``): ensure the Artifact Registry repository, the builder
service account, its writer role *on the repository* (``resources``), and a key (``keys``); then
prove the key can push (``proof``), polling while IAM propagates the new binding (typically 2, up
to 7 minutes). Mode ``validate`` takes a ready key and only proves it.

A run with nothing to change reuses the key already in the Secret and makes no writes to Google.
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

from binderhub_registry.credentials import CREATED
from binderhub_registry.errors import CredentialsRejected, InvalidConfiguration
from binderhub_registry.faults import checkpoint
from binderhub_registry.providers.base import (
    NOTHING_DISCOVERED,
    Credential,
    Discovered,
    InputCredentials,
    Obtained,
    Provider,
)
from binderhub_registry.providers.google.admin import Admin, admin_identity
from binderhub_registry.providers.google.api import NOT_FOUND, GoogleCalls, artifact_registry_client
from binderhub_registry.providers.google.iam import Iam
from binderhub_registry.providers.google.keys import AccountKeys
from binderhub_registry.providers.google.proof import Proven, prove_key, prove_polling
from binderhub_registry.providers.google.propagation import Propagation
from binderhub_registry.providers.google.resources import Resources
from binderhub_registry.providers.google.target import (
    JSON_KEY_USER,
    Target,
    account_name,
    artifact_registry_target,
    gcr_target,
    key_id,
    key_in,
    parse_key,
    registry_url,
)
from binderhub_registry.providers.google.workload_identity import Keyless, registry_helper
from binderhub_registry.rotation import should_rotate
from binderhub_registry.settings import RegistrySettings, probe_name
from binderhub_registry.state import CurrentState, Intent
from binderhub_registry.values import Values


class GoogleProvider(Provider):
    section: ClassVar[str]
    secret_keys = ("key.json",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: dict[str, Any] = self.registry_values[self.section]
        self.google: dict[str, Any] = self.registry_values.get("google") or {}
        self.endpoints: dict[str, str] = self.google.get("endpoints") or {}
        self.project = str(self.config.get("project") or "")
        self.mode = str(self.google.get("mode") or "create")
        self.propagation_timeout = float(self.google.get("propagationTimeoutSeconds", 420))
        # registry.google.credential workload-identity: no key; BinderHub asks the registry helper
        self.keyless = self.mode == "create" and self.google.get("credential") == "workload-identity"

    # -- values ----------------------------------------------------------------------------

    @classmethod
    def mints_credentials(cls, values: Values) -> bool:
        google = values["registry"].get("google") or {}
        return str(google.get("mode") or "create") == "create" and google.get("credential") != "workload-identity"

    @classmethod
    def needs_cluster(cls, values: Values) -> bool:
        return super().needs_cluster(values) or bool((values["registry"].get("google") or {}).get("adminKeySecret"))

    def value(self, key: str) -> str:
        return f"registry.{self.section}.{key}"

    def target(self, project: str) -> Target:
        raise NotImplementedError

    def discovered_in(self, docker_config: dict[str, Any]) -> Discovered:
        """`check` (helm test) has no Google API to ask: the project comes from the key in the
        docker config when values name none, as provision takes it from the credentials."""
        key = key_in(docker_config)
        project = key.info.get("project_id") if key is not None else None
        return Discovered(project=project if isinstance(project, str) else "")

    def settings(self, discovered: Discovered = NOTHING_DISCOVERED) -> RegistrySettings:
        project = self.project or discovered.project
        if not project:
            raise InvalidConfiguration(
                f"{self.value('project')} is empty; set the GCP project id (provision can take it from the credentials)."
            )
        target = self.target(project)
        url = registry_url(self.google, target)
        host = url.split("://", 1)[1]
        prefix = self.registry_values["prefix"]
        helper = registry_helper(self.values) if self.keyless else None
        return RegistrySettings(
            type=self.type,
            registry_url=url,
            auth_key=url,
            image_prefix=f"{host}/{target.path}/{prefix}",
            token_url=discovered.token_url or f"{url}/v2/token?service={host}",
            probe_repository=f"{target.path}/{probe_name(prefix)}",
            helper_url=helper.url if helper else "",
        )

    # -- obtain ----------------------------------------------------------------------------

    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Obtained:
        return self._validate(given) if self.mode == "validate" else self._create(current)

    def _validate(self, given: InputCredentials | None) -> Obtained:
        key_text = (given.key_json if given else "") or str(self.google.get("key") or "")
        if not key_text:
            raise InvalidConfiguration(
                "registry.google.mode=validate needs a service account key: a Secret with a key.json key in "
                "registry.existingSecret, or registry.google.key (e.g. --set-file registry.google.key=key.json)."
            )
        self.progress.add_secret(key_text)
        info = parse_key(key_text)
        self.progress.step(f"validating the key {info.get('private_key_id', '?')[:12]}... of {info.get('client_email')}")
        timeout = float(self.google.get("validateTimeoutSeconds", 60))
        settings = self._prove_polling(key_text, timeout=timeout, timeout_is_outage=False)
        return Obtained(Credential(JSON_KEY_USER, key_text, credential_id=str(info.get("private_key_id", ""))), settings)

    def _admin(self) -> Admin:
        return admin_identity(str(self.google.get("adminKeySecret") or ""), self.read_secret, self.progress)

    def _admin_calls(self, admin: Admin, project: str) -> GoogleCalls:
        return GoogleCalls(self.progress, project, admin.identity, project_value=self.value("project"))

    def _create(self, current: CurrentState) -> Obtained:
        admin = self._admin()
        project = self.project or admin.project
        if not project:
            raise InvalidConfiguration(f"{self.value('project')} is empty and the hook's credentials name no project; set it.")
        target = self.target(project)
        calls = self._admin_calls(admin, project)
        self.progress.step(f"Google identity {calls.identity}, project {project}")
        registry = artifact_registry_client(admin.credentials, self.endpoints.get("artifactRegistry", ""))
        iam = Iam(admin.credentials, self.endpoints.get("iam", ""))
        new_account = Resources(calls, registry, iam, self.progress, self.propagation_timeout).ensure(target)
        if self.keyless:
            keyless = Keyless(calls, iam, target, self.progress, self.propagation_timeout, self.endpoints, self.value("project"))
            return keyless.obtain(admin, registry_helper(self.values), self.settings, current, self.record_intent)
        keys = AccountKeys(calls, iam, target.account_email, self.progress, self.record_intent)
        credential, settings = self._current_or_new_key(keys, current, new_account, project)
        return Obtained(credential, settings, after_switch=partial(self._after_switch, calls, iam, target, current))

    def _current_or_new_key(
        self, keys: AccountKeys, current: CurrentState, new_account: bool, project: str
    ) -> tuple[Credential, RegistrySettings]:
        """Reuse the key in the Secret while it is live and not due for rotation; else make one."""
        propagation = Propagation(self.progress, self.propagation_timeout)
        live = keys.delete_leaked(current, keys.list_when_known(propagation, new_account))
        previous = ""
        in_secret = key_in(current.docker_config)
        if in_secret is not None:
            self.progress.add_secret(in_secret.text)
        if in_secret is not None and in_secret.account == keys.account:
            kid, older = in_secret.key_id, current.previous_credential_id
            by_id = {key_id(k.name): k for k in live}
            if kid in by_id and not by_id[kid].disabled:
                rotate, why = should_rotate(self.rotation, current.annotations)
                if not rotate:
                    self.progress.step(f"key {kid[:12]}... in the Secret is current ({why}): reusing it")
                    settings = self._prove_polling(in_secret.text, self.propagation_timeout, timeout_is_outage=True, project=project)
                    reused = Credential(
                        JSON_KEY_USER,
                        in_secret.text,
                        credential_id=kid,
                        created_at=current.created_at,
                        previous_credential_id=older,
                        origin=CREATED,
                    )
                    return reused, settings
                self.progress.step(f"rotating the key: {why}")
                live = keys.revoke(live, {older} - {kid, ""}, "the key before the current one")
                checkpoint("after-revoking-previous")
                previous = kid
            else:
                self.progress.step(f"key {kid[:12]}... in the Secret no longer exists or is disabled: creating a new one")
                live = keys.revoke(live, {kid, older} - {""}, "the Secret's unusable keys")
        key_text, kid = keys.create(live, propagation, new_account)
        settings = self._prove_polling(key_text, timeout=self.propagation_timeout, timeout_is_outage=True, project=project)
        return Credential(JSON_KEY_USER, key_text, credential_id=kid, previous_credential_id=previous, origin=CREATED), settings

    # -- proof -----------------------------------------------------------------------------

    def _prove_polling(self, key_text: str, timeout: float, timeout_is_outage: bool, project: str = "") -> RegistrySettings:
        """Prove the key can push (polling while IAM propagates); the settings it implies. The
        project is the one given, else the values', else the key's."""
        info = parse_key(key_text)
        project = project or self.project or str(info.get("project_id", ""))
        proven = prove_polling(partial(self._prove_key, key_text, info, project), self.progress, timeout, timeout_is_outage)
        return self.settings(Discovered(project=project, token_url=proven.token_url))

    def _prove_key(self, key_text: str, info: dict[str, Any], project: str) -> Proven:
        settings = self.settings(Discovered(project=project))
        return prove_key(key_text, info, self.target(project), settings, self.progress,
                         endpoint=self.endpoints.get("artifactRegistry", ""), project_value=self.value("project"))

    def prove(self, username: str, password: str) -> dict[str, Any]:
        if username != JSON_KEY_USER:
            raise CredentialsRejected(f"The docker config holds user {username!r}, not a Google {JSON_KEY_USER} key; re-run provision.")
        self.progress.add_secret(password)
        info = parse_key(password)
        return self._prove_key(password, info, self.project or str(info.get("project_id", ""))).summary

    # -- rotation and clean-up ----------------------------------------------------------------

    def _after_switch(self, calls: GoogleCalls, iam: Iam, target: Target, current: CurrentState) -> None:
        """Once the Secret holds the new key: clear the write-ahead note, and when the builder
        account changed (registry.*.serviceAccount), revoke the keys this tool had created for
        the old one."""
        self.record_intent(Intent())
        old = key_in(current.docker_config)
        if old is None or not current.created_by_tool or old.account == target.account_email:
            return
        AccountKeys(calls, iam, old.account, self.progress, self.record_intent).revoke_created(current)

    def cleanup(self, current: CurrentState) -> None:
        """Revoke the keys this tool created (the Secret's current and previous ones, and any an
        interrupted run left); the service account and the repository (with its images) stay."""
        in_secret = key_in(current.docker_config)
        if in_secret is not None:
            self.progress.add_secret(in_secret.text)
        if self.mode != "create" and not current.created_by_tool:
            self.progress.step("the key was given (mode validate): nothing to revoke")
            return
        admin = self._admin()
        iam = Iam(admin.credentials, self.endpoints.get("iam", ""))
        if self.keyless:
            project = self.project or admin.project
            keyless = Keyless(self._admin_calls(admin, project), iam, self.target(project), self.progress, self.propagation_timeout,
                              self.endpoints, self.value("project"))
            keyless.cleanup(admin, registry_helper(self.values), current, self.record_intent)
            return
        project = self.project or admin.project or (str(in_secret.info.get("project_id", "")) if in_secret else "")
        account = in_secret.account if in_secret else self.target(project).account_email
        calls = self._admin_calls(admin, project)
        found = calls("read service account " + account, "iam.serviceAccounts.get",
                      lambda: iam.get_service_account(account_name(account)), expect=(NOT_FOUND,))
        if found == NOT_FOUND:
            self.progress.step(f"service account {account} does not exist: no key to revoke")
            return
        AccountKeys(calls, iam, account, self.progress, self.record_intent).revoke_created(current)


class GcrProvider(GoogleProvider):
    type = "gcr"
    section = "gcr"

    def target(self, project: str) -> Target:
        return gcr_target(self.config, project)


class ArtifactRegistryProvider(GoogleProvider):
    type = "artifact-registry"
    section = "artifactRegistry"

    def target(self, project: str) -> Target:
        return artifact_registry_target(self.config, project)
