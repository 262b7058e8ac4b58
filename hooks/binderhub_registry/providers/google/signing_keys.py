"""Google service-account credentials from a key file, each private key validated once.

cryptography checks an RSA private key when it loads it (OpenSSL's RSA key check: ~40 ms for a
2048-bit key, the largest single cost of a steady-state run, which loads two). Its documentation
says skipping that check is safe only for a key known to be valid, e.g. validated before. So a key
is validated the first time it is seen; the release Secret records the SHA-256 digests of the keys
a run loaded (``state.VALIDATED_KEYS``), and a later run loading exactly the same PEM text skips
the check. The credentials are built as google-auth's ``from_service_account_info`` builds them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.providers.google.api import CLOUD_PLATFORM

# What google-auth's from_service_account_info requires besides the private key.
REQUIRED = ("client_email", "token_uri")


def key_digest(private_key_pem: str) -> str:
    """The SHA-256 hex digest of a private key's PEM text (safe to record: see state.VALIDATED_KEYS)."""
    return hashlib.sha256(private_key_pem.encode()).hexdigest()


class SigningKeys:
    """Loads service-account keys for one run: validating those not validated before, and
    remembering the digests of all it loaded, to be recorded for the next run."""

    def __init__(self, validated_before: Iterable[str] = ()) -> None:
        self._validated = set(validated_before)  # validated now or by an earlier run
        self._loaded: set[str] = set()

    @property
    def loaded(self) -> tuple[str, ...]:
        """The digests of the keys this run loaded, every one of them validated."""
        return tuple(sorted(self._loaded))

    def credentials(self, info: dict[str, Any]) -> Any:
        """``google.oauth2.service_account.Credentials`` with the cloud-platform scope, as
        ``from_service_account_info(info, scopes=...)`` makes them."""
        from google.auth import credentials as auth_credentials  # noqa: PLC0415
        from google.auth import crypt  # noqa: PLC0415
        from google.oauth2 import service_account  # noqa: PLC0415

        pem = info.get("private_key")
        missing = [name for name in REQUIRED if name not in info]
        if not isinstance(pem, str) or missing:
            problem = f"missing fields {', '.join(missing)}" if missing else "its private_key is not PEM text"
            raise _not_a_key(problem)
        digest = key_digest(pem)
        signer = crypt.RSASigner(self._private_key(pem, digest), info.get("private_key_id"))  # type: ignore[no-untyped-call]
        self._validated.add(digest)
        self._loaded.add(digest)
        return service_account.Credentials(  # type: ignore[no-untyped-call]
            signer,
            service_account_email=info["client_email"],
            token_uri=info["token_uri"],
            scopes=[CLOUD_PLATFORM],
            project_id=info.get("project_id"),
            universe_domain=info.get("universe_domain", auth_credentials.DEFAULT_UNIVERSE_DOMAIN),
            trust_boundary=info.get("trust_boundary"),
        )

    def _private_key(self, pem: str, digest: str) -> Any:
        from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey  # noqa: PLC0415
        from cryptography.hazmat.primitives.serialization import load_pem_private_key  # noqa: PLC0415

        try:
            key = load_pem_private_key(pem.encode(), password=None, unsafe_skip_rsa_key_validation=digest in self._validated)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise _not_a_key("its private_key is not a valid RSA private key") from None
        if not isinstance(key, RSAPrivateKey):
            raise _not_a_key("its private_key is not an RSA key")
        return key


def _not_a_key(problem: str) -> InvalidConfiguration:
    return InvalidConfiguration(f"The service account key is not a valid Google key file ({problem}); use the JSON key file Google issued.")
