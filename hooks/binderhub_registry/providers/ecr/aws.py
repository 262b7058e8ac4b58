"""boto3 for registry.type ecr, and AWS's errors in one sentence each. Imported only on the ECR
path (boto3 comes with the ``aws`` extra, which the image carries).

The identity is boto3's default credential chain, which covers every way a pod gets one on EKS:
IRSA (``AWS_ROLE_ARN`` and ``AWS_WEB_IDENTITY_TOKEN_FILE``, exchanged with STS
``AssumeRoleWithWebIdentity``), EKS Pod Identity (``AWS_CONTAINER_CREDENTIALS_FULL_URI``), and
access keys in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` (registry.ecr.accessKeySecret).
``AWS_ENDPOINT_URL`` (VPC endpoints, tests) is honoured by boto3 itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from binderhub_registry.errors import CredentialsRejected, InvalidConfiguration, Unreachable

ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"})
CREDENTIALS_REFUSED = frozenset({
    "InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException",
    "SignatureDoesNotMatch", "InvalidIdentityToken", "IDPRejectedClaim", "AuthFailure", "InvalidAccessKeyId",
})
TRANSIENT = frozenset({"ThrottlingException", "Throttling", "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure",
                       "InternalServerError", "ServerException", "RequestTimeout", "RequestLimitExceeded"})
NO_IDENTITY = (
    "no AWS identity is available (no IRSA role, EKS Pod Identity association or access keys); set registry.ecr.roleArn, "
    "associate a role with the ServiceAccount, or name a Secret with the keys in registry.ecr.accessKeySecret"
)


def clients(region: str, who: str = "the hook's AWS identity") -> tuple[Any, Any]:
    """STS and ECR clients of the default credential chain, in ``region`` (making them asks the
    chain for credentials: IRSA's STS exchange, or the EKS Pod Identity agent)."""
    try:
        import boto3  # noqa: PLC0415  (only registry.type ecr needs it)
        from botocore import exceptions as aws  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415
    except ImportError as exc:
        raise InvalidConfiguration(
            f"registry.type ecr needs the aws extra ({exc.name} is missing); install binderhub-registry[aws] (the image does)."
        ) from None
    config = Config(
        retries={"mode": "standard", "max_attempts": 4}, connect_timeout=10, read_timeout=20, user_agent_extra="binderhub-registry"
    )
    session = boto3.session.Session(region_name=region)
    try:
        return session.client("sts", config=config), session.client("ecr", config=config)
    except aws.CredentialRetrievalError as exc:
        raise no_credentials_handed_out(exc, who) from None


def no_credentials_handed_out(exc: Exception, who: str) -> CredentialsRejected:
    """A credential provider of the chain (the EKS Pod Identity agent, an STS exchange) refused or
    failed: its own message may quote the provider's answer, so only its name is repeated."""
    provider = str(getattr(exc, "kwargs", {}).get("provider") or "default")
    return CredentialsRejected(
        f"AWS's {provider} credential provider gave {who} no credentials; check the EKS Pod Identity association of its "
        "ServiceAccount (and that the eks-pod-identity-agent add-on runs) or its IRSA role (registry.ecr.roleArn)."
    )


class AwsCalls:
    """Runs one AWS call and turns what AWS answers into the package's errors: one sentence each,
    naming what was attempted, the IAM action and the error code (never AWS's free text)."""

    def __init__(self, region: str, who: str = "the hook's AWS identity") -> None:
        self.region = region
        self.who = who

    def __call__(self, what: str, action: str, call: Callable[[], Any], expect: tuple[str, ...] = ()) -> Any:
        from botocore import exceptions as aws  # noqa: PLC0415

        try:
            return call()
        except aws.NoCredentialsError:
            raise InvalidConfiguration(f"Cannot {what}: {NO_IDENTITY}.") from None
        except aws.CredentialRetrievalError as exc:  # temporary credentials renewed at a call
            raise no_credentials_handed_out(exc, self.who) from None
        except (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError) as exc:
            raise Unreachable(f"Cannot reach AWS to {what} ({type(exc).__name__}); check the cluster's egress to AWS in {self.region}.") \
                from None
        except aws.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code") or "")
            if code in expect:
                return code
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            raise self.refused(what, action, code, status) from None

    def refused(self, what: str, action: str, code: str, status: int | None = None) -> Exception:
        # A 403 without a code botocore can read (an XML error, a proxy's page) is a refusal too.
        if code in ACCESS_DENIED or (status == 403 and code not in CREDENTIALS_REFUSED):
            return CredentialsRejected(
                f"{self.who[:1].upper()}{self.who[1:]} may not {action} (to {what}: {code}); allow it in the IAM role's policy "
                "(see the README's ECR permissions)."
            )
        if code in CREDENTIALS_REFUSED:
            return CredentialsRejected(
                f"AWS refused {self.who} to {what} ({code}); check the IRSA role (registry.ecr.roleArn), the Pod Identity "
                f"association or the access keys in registry.ecr.accessKeySecret."
            )
        if code in TRANSIENT:
            return Unreachable(f"AWS could not {what} ({code}); the hook is retried.")
        return InvalidConfiguration(f"AWS refused to {what} ({code or 'no error code'}); check registry.ecr in your values.")
