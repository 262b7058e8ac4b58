"""Google clients for the hook, built from values, and the translation of Google's errors into
one actionable sentence each. Imported only for registry.type gcr and artifact-registry.

Endpoints default to Google's. ``registry.google.endpoints`` can point them elsewhere (private
endpoints, or local test servers): ``https://host[:port]`` uses TLS; ``http://host:port`` is for
servers on loopback only (gRPC local credentials, plain HTTP for REST).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from binderhub_registry.errors import (
    CredentialsRejected,
    InvalidConfiguration,
    RegistrySetupError,
    Unreachable,
)
from binderhub_registry.progress import Progress
from binderhub_registry.retry import backoff

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"

# What each call needs (by permission prefix), for "grant the hook's identity ROLE" sentences.
ROLE_FOR = (
    ("iam.serviceAccounts", "roles/iam.serviceAccountAdmin"),
    ("iam.serviceAccountKeys", "roles/iam.serviceAccountKeyAdmin"),
    ("artifactregistry", "roles/artifactregistry.admin"),
)
API_FOR = {"iam": "iam.googleapis.com", "artifactregistry": "artifactregistry.googleapis.com"}


def iam_client(credentials: Any, endpoint: str = "") -> Any:
    from google.cloud import iam_admin_v1  # noqa: PLC0415

    if endpoint.startswith("http://"):
        import grpc  # noqa: PLC0415
        from google.auth.transport.grpc import secure_authorized_channel  # noqa: PLC0415
        from google.auth.transport.requests import Request  # noqa: PLC0415
        from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport  # noqa: PLC0415

        channel = secure_authorized_channel(  # type: ignore[no-untyped-call]
            credentials, Request(), endpoint.removeprefix("http://"), ssl_credentials=grpc.local_channel_credentials()
        )
        return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel))
    options = {"api_endpoint": endpoint.removeprefix("https://")} if endpoint else None
    return iam_admin_v1.IAMClient(credentials=credentials, client_options=options)


def artifact_registry_client(credentials: Any, endpoint: str = "") -> Any:
    from binderhub_registry.providers.google.artifact_registry import ArtifactRegistry  # noqa: PLC0415

    return ArtifactRegistry(credentials, endpoint)


def default_credentials() -> tuple[Any, str]:
    """The hook's own identity: Application Default Credentials (Workload Identity, a key file in
    GOOGLE_APPLICATION_CREDENTIALS, or gcloud's), and the project they belong to."""
    import google.auth  # noqa: PLC0415
    from google.auth.exceptions import DefaultCredentialsError  # noqa: PLC0415

    try:
        credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM])
    except DefaultCredentialsError:
        raise InvalidConfiguration(
            "The hook has no Google identity; set up Workload Identity for the hook's ServiceAccount "
            "(hook.serviceAccount.annotations) or name a Secret with an admin key.json in registry.google.adminKeySecret."
        ) from None
    return credentials, project or ""


def identity_of(credentials: Any) -> str:
    return str(getattr(credentials, "service_account_email", "") or getattr(credentials, "signer_email", "") or "the hook's identity")


class _ApiErrors:
    """``google.api_core.exceptions``, imported when an ``except`` clause first looks a class up
    (Python evaluates a clause only when an exception reaches it): a run whose Google calls all
    succeed, such as a steady-state upgrade, never imports it (nor grpc, which it imports: ~25 ms)."""

    def __getattr__(self, name: str) -> Any:
        from google.api_core import exceptions  # noqa: PLC0415

        return getattr(exceptions, name)


_API_ERRORS = _ApiErrors()

NOT_FOUND = "not-found"
CONFLICT = "conflict"
# IAM is eventually consistent: a service account created moments ago can be unknown to a policy
# ("400 Service account X does not exist.") for a while.
ACCOUNT_UNKNOWN = "account-unknown"


class GoogleCalls:
    """Runs Google calls with bounded retries of transient errors and turns the rest into
    ``RegistrySetupError`` sentences that name the missing role, API or value."""

    def __init__(
        self,
        progress: Progress,
        project: str,
        identity: str,
        attempts: int = 5,
        project_value: str = "the project value",
    ) -> None:
        self.progress = progress
        self.project = project
        self.project_value = project_value
        self.identity = identity
        self.attempts = attempts

    def __call__(self, what: str, permission: str, call: Callable[[], Any], *, expect: tuple[str, ...] = ()) -> Any:
        """Run ``call``; with ``expect`` containing NOT_FOUND or CONFLICT (already exists, etag
        mismatch), those answers are returned as that marker instead of raised."""
        from google.auth import exceptions as auth_exc  # noqa: PLC0415

        gexc = _API_ERRORS
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except (gexc.TooManyRequests, gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.BadGateway) as exc:
                if attempt == self.attempts:
                    raise Unreachable(
                        f"Google kept answering {_code(exc)} to {what} after {self.attempts} attempts; try again later."
                    ) from None
                delay = backoff(attempt, cap=30.0)
                self.progress.warn(
                    f"{what}: Google answered {_code(exc)}; retrying in {delay:g}s (attempt {attempt + 1} of {self.attempts})"
                )
                time.sleep(delay)
            except auth_exc.RefreshError as exc:
                raise CredentialsRejected(
                    f"Google rejected the credentials of {self.identity} ({_first_line(exc)}); check the Workload Identity binding or "
                    f"registry.google.adminKeySecret."
                ) from None
            except auth_exc.TransportError as exc:
                raise Unreachable(
                    f"Cannot reach Google's token service ({_first_line(exc)}); check the cluster's egress to Google."
                ) from None
            except gexc.GoogleAPICallError as exc:
                if isinstance(exc, gexc.NotFound) and NOT_FOUND in expect:
                    return NOT_FOUND
                if isinstance(exc, (gexc.Conflict, gexc.AlreadyExists, gexc.Aborted)) and CONFLICT in expect:
                    return CONFLICT
                if (isinstance(exc, (gexc.InvalidArgument, gexc.BadRequest)) and ACCOUNT_UNKNOWN in expect
                        and "does not exist" in str(getattr(exc, "message", "") or exc)):
                    return ACCOUNT_UNKNOWN
                raise translate(exc, what, permission, self.project, self.identity, self.project_value) from None
        raise AssertionError("unreachable")


def translate(
    exc: Any, what: str, permission: str, project: str, identity: str, project_value: str = "the project value"
) -> RegistrySetupError:
    from google.api_core import exceptions as gexc  # noqa: PLC0415

    message = _first_line(exc)
    denied = (gexc.PermissionDenied, gexc.Forbidden)
    if isinstance(exc, denied) and (
        "SERVICE_DISABLED" in str(exc) or "has not been used in project" in message or "is disabled" in message
    ):
        api = API_FOR["iam" if permission.startswith("iam.") else "artifactregistry"]
        return InvalidConfiguration(
            f"The {api} API is not enabled in project {project}; enable it with `gcloud services enable {api} --project {project}`."
        )
    if isinstance(exc, (*denied, gexc.Unauthenticated, gexc.Unauthorized)):
        role = next((r for prefix, r in ROLE_FOR if permission.startswith(prefix)), "a role with " + permission)
        full = str(getattr(exc, "message", "") or exc)
        if "may not exist" in full or "does not exist" in full:
            return CredentialsRejected(
                f"{identity} may not {what} (permission {permission} denied, or project {project} does not exist); "
                f"check {project_value} and grant {identity} {role} on that project."
            )
        return CredentialsRejected(f"{identity} may not {what} (permission {permission} denied); grant it {role} on project {project}.")
    if isinstance(exc, gexc.FailedPrecondition) and "key creation is not allowed" in message.lower():
        return CredentialsRejected(
            f"An organisation policy (iam.disableServiceAccountKeyCreation) blocks key creation in project {project}; "
            f"ask an organisation admin to exempt the project, or create a key where allowed and use registry.google.mode=validate."
        )
    if isinstance(exc, gexc.NotFound) and permission.startswith("iam.serviceAccounts.create"):
        return InvalidConfiguration(f"Project {project} does not exist or {identity} cannot see it; check {project_value}.")
    if isinstance(exc, (gexc.InvalidArgument, gexc.BadRequest)):
        return InvalidConfiguration(f"Google refused to {what} ({message}); check the values.")
    return Unreachable(f"Google answered {_code(exc)} to {what} ({message}).")


def _code(exc: Any) -> str:
    code = getattr(exc, "code", None)
    name = getattr(getattr(exc, "grpc_status_code", None), "name", None)
    return f"{getattr(code, 'value', code)} {name}".strip() if name else str(getattr(code, "value", code) or type(exc).__name__)


def _first_line(exc: Any) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return str(text).strip().splitlines()[0][:240] if text else type(exc).__name__
