"""Keyless Google (registry.google.credential workload-identity), the hook's part: who may act as
the builder service account, and proof that the builder can push without any key.

* The registry helper's Kubernetes ServiceAccount acts as the builder through Workload Identity:
  ``roles/iam.workloadIdentityUser`` for ``serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]`` in
  the builder account's own IAM policy.
* The hook proves push with a short-lived token minted for the builder (IAM Credentials
  ``generateAccessToken``), which needs ``roles/iam.serviceAccountTokenCreator`` for the hook's own
  identity on the builder; the hook grants it itself (it administers the account already).
* `helm uninstall` removes exactly these two bindings; everything else in the policy stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from binderhub_registry.credentials import CREATED
from binderhub_registry.errors import CredentialsRejected, InvalidConfiguration, Unreachable
from binderhub_registry.helper_contract import HELPER_PORT
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import Credential, Discovered, IntentRecorder, Obtained
from binderhub_registry.providers.google.api import CLOUD_PLATFORM, CONFLICT, GoogleCalls
from binderhub_registry.providers.google.iam import Iam
from binderhub_registry.providers.google.keys import AccountKeys
from binderhub_registry.providers.google.proof import Login, prove_login, prove_polling
from binderhub_registry.providers.google.propagation import Propagation
from binderhub_registry.providers.google.target import Target, key_in
from binderhub_registry.settings import RegistrySettings
from binderhub_registry.state import CurrentState
from binderhub_registry.values import Values

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
IAM_CREDENTIALS = "https://iamcredentials.googleapis.com"
ACCESS_TOKEN_USER = "oauth2accesstoken"

Binding = tuple[str, str]  # (role, member)


def helper_member(project: str, kubernetes_service_account: str) -> str:
    """The Workload Identity member of ``NAMESPACE/NAME``."""
    namespace, _, name = kubernetes_service_account.partition("/")
    if not namespace or not name:
        raise InvalidConfiguration(
            f"registryHelper.kubernetesServiceAccount must be NAMESPACE/NAME (got {kubernetes_service_account!r}); the chart sets it."
        )
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{name}]"


def identity_member(email: str) -> str | None:
    """The member of the hook's own identity, when it is a service account."""
    return f"serviceAccount:{email}" if email.endswith(".gserviceaccount.com") else None


def change_bindings(calls: GoogleCalls, iam: Any, account_name: str, add: Sequence[Binding] = (), remove: Sequence[Binding] = ()) -> bool:
    """Add and remove bindings in the service account's own policy (read-modify-write, retried
    on an etag conflict). Returns whether the policy changed."""
    for _ in range(5):
        policy = calls(f"read the IAM policy of {account_name}", "iam.serviceAccounts.getIamPolicy",
                       lambda: iam.get_iam_policy(request={"resource": account_name}))
        if not _apply(policy, add, remove):
            return False
        answer = _set_policy(calls, iam, account_name, policy)
        if answer != CONFLICT:
            return True
    raise Unreachable(f"The IAM policy of {account_name} kept changing under the hook; run the upgrade again.")


def _apply(policy: Any, add: Sequence[Binding], remove: Sequence[Binding]) -> bool:
    changed = False
    for role, member in add:
        binding = next((b for b in policy.bindings if b.role == role and not b.condition.expression), None)
        if binding is None:
            binding = policy.bindings.add(role=role)
        if member not in binding.members:
            binding.members.append(member)
            changed = True
    for role, member in remove:
        for binding in policy.bindings:
            if binding.role == role and member in binding.members:
                binding.members.remove(member)
                changed = True
    for binding in [b for b in policy.bindings if not b.members]:
        policy.bindings.remove(binding)
    return changed


def _set_policy(calls: GoogleCalls, iam: Any, account_name: str, policy: Any) -> Any:
    try:
        return calls(f"change the IAM policy of {account_name}", "iam.serviceAccounts.setIamPolicy",
                     lambda: iam.set_iam_policy(request={"resource": account_name, "policy": policy}), expect=(CONFLICT,))
    except InvalidConfiguration as exc:
        if "Identity Pool does not exist" not in exc.message:
            raise
        project = account_name.split("/")[1]
        raise InvalidConfiguration(
            f"Workload Identity is not enabled in project {project} (Google knows no identity pool {project}.svc.id.goog); "
            f"enable it on the GKE cluster (--workload-pool={project}.svc.id.goog), or use registry.google.credential key."
        ) from None


def mint_builder_token(source: Any, builder: str, endpoint: str = "", lifetime: int = 600) -> str:
    """A short-lived access token for ``builder``, minted with ``source``'s identity through IAM
    Credentials ``generateAccessToken``. Raises google-auth's RefreshError or TransportError."""
    from google.auth import impersonated_credentials  # noqa: PLC0415
    from google.auth.transport.requests import Request  # noqa: PLC0415

    url = f"{(endpoint or IAM_CREDENTIALS).rstrip('/')}/v1/projects/-/serviceAccounts/{builder}:generateAccessToken"
    credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
        source_credentials=source, target_principal=builder, target_scopes=[CLOUD_PLATFORM], lifetime=lifetime,
        iam_endpoint_override=url,
    )
    credentials.refresh(Request())  # type: ignore[no-untyped-call]
    return str(credentials.token)


def mint_polling(mint: Callable[[], str], progress: Progress, timeout: float, who: str, builder: str) -> str:
    """Mint, waiting while IAM propagates a new binding (a refused mint is retried until ``timeout``)."""
    from google.auth import exceptions as auth_exc  # noqa: PLC0415

    propagation = Propagation(progress, timeout)
    while True:
        try:
            token = mint()
        except auth_exc.TransportError as exc:
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise Unreachable(f"Cannot reach IAM Credentials ({detail}); check the cluster's egress to Google.") from None
        except auth_exc.RefreshError as exc:
            text = str(exc)
            if "iamcredentials.googleapis.com" in text and ("disabled" in text or "has not been used" in text):
                raise InvalidConfiguration(
                    "The IAM Service Account Credentials API is not enabled; enable it with "
                    "`gcloud services enable iamcredentials.googleapis.com`."
                ) from None
            if propagation.expired():
                waited = propagation.waited()
                raise CredentialsRejected(
                    f"{who} may still not mint tokens for {builder} after {waited:.0f}s (roles/iam.serviceAccountTokenCreator "
                    f"on the builder); IAM changes can take 7 minutes: run the upgrade again, or grant the role yourself."
                ) from None
            propagation.sleep(f"{who} may not mint tokens for {builder} yet")
        else:
            progress.add_secret(token)
            return token


def token_login(token: str, builder: str) -> Login:
    """The builder as a short-lived token authenticates: to Google's APIs, and to the registry as
    user ``oauth2accesstoken``."""
    from google.oauth2.credentials import Credentials  # noqa: PLC0415

    return Login(Credentials(token), ACCESS_TOKEN_USER, token, builder, f"a token minted for {builder}")  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class RegistryHelper:
    """The registry helper the chart runs: its Deployment, Service and ServiceAccount share ``name``."""

    name: str
    namespace: str

    @property
    def url(self) -> str:
        return f"http://{self.name}.{self.namespace}.svc:{HELPER_PORT}"


def registry_helper(values: Values) -> RegistryHelper:
    helper = values.get("registryHelper") or {}
    name, namespace = str(helper.get("name") or ""), str(helper.get("namespace") or "")
    if not name or not namespace:
        raise InvalidConfiguration(
            "registryHelper.name and registryHelper.namespace are empty; the chart sets them for registry.google.credential "
            "workload-identity: install with the chart, or set them to the registry helper's ServiceAccount."
        )
    return RegistryHelper(name, namespace)


@dataclass(frozen=True)
class Keyless:
    """Keyless push through the admin's clients: bindings on the builder account, a proof with a
    token minted for it, and their removal on uninstall."""

    calls: GoogleCalls
    iam: Iam
    target: Target
    progress: Progress
    propagation_timeout: float
    endpoints: dict[str, str]
    project_value: str

    def bindings(self, hook_identity: str, helper: RegistryHelper) -> list[Binding]:
        bindings = [(WORKLOAD_IDENTITY_USER, helper_member(self.target.project, f"{helper.namespace}/{helper.name}"))]
        own = identity_member(hook_identity)
        return bindings + [(TOKEN_CREATOR, own)] if own else bindings

    def obtain(
        self, admin: Any, helper: RegistryHelper, settings_for: Callable[[Discovered], RegistrySettings], current: CurrentState,
        record_intent: IntentRecorder,
    ) -> Obtained:
        builder = self.target.account_email
        changed = change_bindings(self.calls, self.iam.admin, self.target.account_name, add=self.bindings(admin.identity, helper))
        bound = "bound now" if changed else "already bound"
        self.progress.step(f"Workload Identity: {helper.namespace}/{helper.name} may act as {builder} ({bound})")
        mint = partial(mint_builder_token, admin.credentials, builder, self.endpoints.get("iamCredentials", ""))
        login = token_login(mint_polling(mint, self.progress, self.propagation_timeout, admin.identity, builder), builder)
        settings = settings_for(Discovered(project=self.target.project))
        endpoint = self.endpoints.get("artifactRegistry", "")
        prove = partial(prove_login, login, self.target, settings, self.progress, endpoint=endpoint, project_value=self.project_value)
        proven = prove_polling(prove, self.progress, self.propagation_timeout, timeout_is_outage=True)
        credential = Credential("", "", credential_id=f"workload-identity:{builder}", origin=CREATED)
        return Obtained(credential, settings_for(Discovered(project=self.target.project, token_url=proven.token_url)),
                        after_switch=partial(self.revoke_keys_made_before, current, record_intent))

    def revoke_keys_made_before(self, current: CurrentState, record_intent: IntentRecorder) -> None:
        """Keys this tool made while the release used registry.google.credential key go."""
        old = key_in(current.docker_config)
        if old is not None and current.created_by_tool:
            AccountKeys(self.calls, self.iam, old.account, self.progress, record_intent).revoke_created(current)

    def cleanup(self, admin: Any, helper: RegistryHelper, current: CurrentState, record_intent: IntentRecorder) -> None:
        removed = change_bindings(self.calls, self.iam.admin, self.target.account_name, remove=self.bindings(admin.identity, helper))
        self.progress.step(f"Workload Identity bindings on {self.target.account_email}: {'removed' if removed else 'already absent'}")
        self.revoke_keys_made_before(current, record_intent)
