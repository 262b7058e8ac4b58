"""What the registry helper serves, derived from the same values the hook reads, so the helper and
the hook always agree on the registry, the repository path and the builder account."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.providers.google.target import TARGETS, registry_url

if TYPE_CHECKING:
    from binderhub_registry.providers.ecr.target import EcrTarget

GOOGLE_METADATA_HOST = "metadata.google.internal"
IAM_CREDENTIALS = "https://iamcredentials.googleapis.com"
ARTIFACT_REGISTRY = "https://artifactregistry.googleapis.com"


@dataclass(frozen=True)
class HelperConfig:
    registry_url: str  # scheme://host[:port] of the registry BinderHub pushes to
    image_path: str  # the path every image name BinderHub asks about must start with
    repository: str  # projects/P/locations/L/repositories/R, the Artifact Registry repository
    builder: str  # e-mail of the service account whose tokens push
    iam_credentials_endpoint: str = IAM_CREDENTIALS
    artifact_registry_endpoint: str = ARTIFACT_REGISTRY
    metadata_host: str = GOOGLE_METADATA_HOST
    token_lifetime_seconds: int = 3600
    # Tokens are handed out with at least this long to live: a build that asks for credentials
    # must be able to push before they expire.
    min_remaining_seconds: int = 900
    request_timeout_seconds: float = 20.0
    upstream_timeout_seconds: float = 10.0
    max_upstream_calls: int = 16
    # Requests in flight (health and metrics not counted); beyond, 503 with Retry-After.
    max_concurrent_requests: int = 256
    # Open connections; a new one beyond is closed at once.
    max_connections: int = 1024
    # Request headers must arrive within this (from the connection's start, or the first byte of a
    # request after a keep-alive pause), a request body within the next.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    keep_alive_seconds: float = 15.0  # an idle keep-alive connection is closed after this
    # The user name BinderHub pushes with (Google: the access token's; ECR: AWS).
    token_user: str = "oauth2accesstoken"
    # registry.type ecr: the registry, its repositories' settings (None: Google).
    ecr: EcrTarget | None = None

    @property
    def registry_host(self) -> str:
        return self.registry_url.split("://", 1)[-1].rstrip("/")

    def allows(self, name: str) -> bool:
        """Whether ``name`` (a valid image name without host and tag, see ``references``) is under
        the path BinderHub pushes to."""
        return name.startswith(self.image_path)


def from_values(values: dict[str, Any]) -> HelperConfig:
    """The helper's settings from merged, validated chart values (registry.type gcr or
    artifact-registry with registry.google.credential workload-identity): the Google target the
    hook provisions, read from the same values the same way."""
    registry = values["registry"]
    if registry.get("type") == "ecr":
        return _ecr_config(values)
    if registry.get("type") not in ("gcr", "artifact-registry"):
        raise InvalidConfiguration("The registry helper serves only registry.type gcr, artifact-registry or ecr; set registry.type.")
    google = registry.get("google") or {}
    if google.get("credential") != "workload-identity":
        raise InvalidConfiguration("The registry helper runs only with registry.google.credential workload-identity; set it.")
    section, target_of = TARGETS[registry["type"]]
    project = str(registry[section].get("project") or "")
    if not project:
        raise InvalidConfiguration(f"registry.{section}.project is empty; set the GCP project id.")
    target = target_of(registry[section], project)
    url = registry_url(google, target)
    endpoints = google.get("endpoints") or {}
    helper = values.get("registryHelper") or {}
    lifetime, min_remaining = int(helper.get("tokenLifetimeSeconds") or 3600), int(helper.get("tokenMinRemainingSeconds") or 900)
    if min_remaining >= lifetime:
        raise InvalidConfiguration(
            f"registryHelper.tokenMinRemainingSeconds ({min_remaining}) must be below tokenLifetimeSeconds ({lifetime}); lower it."
        )
    return HelperConfig(
        registry_url=url,
        # the image prefix BinderHub is given (the Google provider's settings), without its host
        image_path=f"{url.split('://', 1)[1]}/{target.path}/{registry['prefix']}".split("/", 1)[1],
        repository=target.repository_name,
        builder=target.account_email,
        iam_credentials_endpoint=str(endpoints.get("iamCredentials") or IAM_CREDENTIALS).rstrip("/"),
        artifact_registry_endpoint=str(endpoints.get("artifactRegistry") or ARTIFACT_REGISTRY).rstrip("/"),
        metadata_host=os.environ.get("GCE_METADATA_HOST") or GOOGLE_METADATA_HOST,
        token_lifetime_seconds=lifetime,
        min_remaining_seconds=min_remaining,
        **_limits(helper),
    )


def _limits(helper: dict[str, Any]) -> dict[str, Any]:
    return {"max_concurrent_requests": int(helper.get("maxConcurrentRequests") or 256),
            "max_connections": int(helper.get("maxConnections") or 1024)}


def _ecr_config(values: dict[str, Any]) -> HelperConfig:
    """registry.type ecr: the account from values, else from the pod's identity (STS)."""
    from binderhub_registry.progress import Progress  # noqa: PLC0415
    from binderhub_registry.providers.base import Discovered  # noqa: PLC0415
    from binderhub_registry.providers.ecr import EcrProvider  # noqa: PLC0415
    from binderhub_registry.providers.ecr.aws import AwsCalls, clients  # noqa: PLC0415
    from binderhub_registry.providers.ecr.target import ECR_USER, TOKEN_LIFETIME_SECONDS, TOKEN_RENEW_BEFORE_SECONDS  # noqa: PLC0415

    provider = EcrProvider(values, Progress("json"))
    region = provider.target(provider.account).region
    who = "the registry helper's AWS identity"
    sts, _ecr = clients(region, who)
    identity = AwsCalls(region, who=who)(f"read {who}", "sts:GetCallerIdentity", sts.get_caller_identity)
    account = provider.account or str(identity.get("Account") or "")
    settings = provider.settings(Discovered(account=account))
    target = provider.target(account)
    return HelperConfig(
        registry_url=settings.registry_url,
        image_path=target.image_path,
        repository=target.image_path,
        builder=str(identity.get("Arn") or ""),
        token_lifetime_seconds=TOKEN_LIFETIME_SECONDS,
        min_remaining_seconds=TOKEN_RENEW_BEFORE_SECONDS,
        token_user=ECR_USER,
        ecr=target,
        **_limits(values.get("registryHelper") or {}),
    )

