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

import time
from collections.abc import Callable, Sequence
from typing import Any

from binderhub_registry.errors import CredentialsRejected, InvalidConfiguration, Unreachable
from binderhub_registry.google_api import CONFLICT, GoogleCalls
from binderhub_registry.progress import Progress

WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
IAM_CREDENTIALS = "https://iamcredentials.googleapis.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
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


def mint_polling(mint: Callable[[], str], progress: Progress, timeout: float, retry_seconds: float, who: str, builder: str) -> str:
    """Mint, waiting while IAM propagates a new binding (a refused mint is retried until ``timeout``)."""
    from google.auth import exceptions as auth_exc  # noqa: PLC0415

    started, attempt = time.monotonic(), 0
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
            waited = time.monotonic() - started
            if waited >= timeout:
                raise CredentialsRejected(
                    f"{who} may still not mint tokens for {builder} after {waited:.0f}s (roles/iam.serviceAccountTokenCreator "
                    f"on the builder); IAM changes can take 7 minutes: run the upgrade again, or grant the role yourself."
                ) from None
            attempt += 1
            delay = min(retry_seconds * 2 ** (attempt - 1), 15 * retry_seconds, max(timeout - waited, 0.01))
            progress.step(f"waiting for IAM to let {who} mint tokens for {builder} ({waited:.0f}s of at most {timeout:g}s)")
            time.sleep(delay)
        else:
            progress.add_secret(token)
            return token
