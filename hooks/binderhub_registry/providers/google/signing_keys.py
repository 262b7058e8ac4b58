"""Google service-account credentials from a key file, built as google-auth's
``from_service_account_info`` builds them, with every way a key file can be wrong said in one
sentence (cryptography checks the private key as it loads it)."""

from __future__ import annotations

from typing import Any

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.providers.google.api import CLOUD_PLATFORM

# What google-auth's from_service_account_info requires besides the private key.
REQUIRED = ("client_email", "token_uri")


def credentials(info: dict[str, Any]) -> Any:
    """``google.oauth2.service_account.Credentials`` with the cloud-platform scope, as
    ``from_service_account_info(info, scopes=...)`` makes them; a key that is not one is refused
    in one sentence."""
    from google.auth import credentials as auth_credentials  # noqa: PLC0415
    from google.auth import crypt  # noqa: PLC0415
    from google.oauth2 import service_account  # noqa: PLC0415

    pem = info.get("private_key")
    missing = [name for name in REQUIRED if name not in info]
    if not isinstance(pem, str) or missing:
        problem = f"missing fields {', '.join(missing)}" if missing else "its private_key is not PEM text"
        raise _not_a_key(problem)
    signer = crypt.RSASigner(_private_key(pem), info.get("private_key_id"))  # type: ignore[no-untyped-call]
    return service_account.Credentials(  # type: ignore[no-untyped-call]
        signer,
        service_account_email=info["client_email"],
        token_uri=info["token_uri"],
        scopes=[CLOUD_PLATFORM],
        project_id=info.get("project_id"),
        universe_domain=info.get("universe_domain", auth_credentials.DEFAULT_UNIVERSE_DOMAIN),
        trust_boundary=info.get("trust_boundary"),
    )


def _private_key(pem: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import load_pem_private_key  # noqa: PLC0415

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _not_a_key("its private_key is not a valid RSA private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise _not_a_key("its private_key is not an RSA key")
    return key


def _not_a_key(problem: str) -> InvalidConfiguration:
    return InvalidConfiguration(f"The service account key is not a valid Google key file ({problem}); use the JSON key file Google issued.")
