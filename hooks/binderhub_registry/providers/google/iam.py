"""IAM for the hook. The two reads every run makes (the builder service account, its
user-managed keys) go to IAM's REST API (v1) through google-auth's session (``rest``): a
steady-state ``helm upgrade`` changes nothing in IAM and so never imports the generated
``google.cloud.iam_admin_v1`` client (proto-plus types, gapic, gRPC transports: 60-80 ms at every
run). Writes (creating the account and keys, deleting keys, the account's own IAM policy) go
through that client, made at the first write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from binderhub_registry.providers.google.rest import RestApi

DEFAULT_ENDPOINT = "iam.googleapis.com"
USER_MANAGED = "USER_MANAGED"


@dataclass(frozen=True)
class AccountKey:
    """A service account key as the hook reads it (the fields of IAM's ServiceAccountKey it uses)."""

    name: str  # projects/P/serviceAccounts/EMAIL/keys/KEY_ID
    disabled: bool
    valid_after_time: datetime | None  # its creation

    @classmethod
    def from_json(cls, key: dict[str, Any]) -> AccountKey:
        """From the REST answer (proto3 JSON: ``disabled`` is absent when false)."""
        return cls(str(key["name"]), bool(key.get("disabled", False)), parse_timestamp(str(key.get("validAfterTime") or "")))


def parse_timestamp(text: str) -> datetime | None:
    """A JSON timestamp (RFC 3339, as Google writes them: "2026-11-29T11:16:32.123456789Z") as an
    aware UTC datetime (Python keeps microseconds); None if absent, malformed or without a zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


class Iam:
    """Through one identity (the hook's admin credentials); ``endpoint`` as for the other APIs
    (registry.google.endpoints.iam: REST and gRPC share it, as at iam.googleapis.com)."""

    def __init__(self, credentials: Any, endpoint: str = "") -> None:
        self._credentials = credentials
        self._endpoint = endpoint
        self._rest = RestApi(credentials, endpoint, default=DEFAULT_ENDPOINT, title="IAM", value="registry.google.endpoints.iam")

    def get_service_account(self, name: str) -> dict[str, Any]:
        """The account (``projects/P/serviceAccounts/EMAIL``) as the API's JSON."""
        return dict(self._rest.call("GET", name))

    def list_user_managed_keys(self, name: str) -> list[AccountKey]:
        """The user-managed keys of the account ``name``."""
        answer = self._rest.call("GET", f"{name}/keys", params={"keyTypes": USER_MANAGED})
        return [AccountKey.from_json(key) for key in answer.get("keys") or []]

    @cached_property
    def admin(self) -> Any:
        """google-cloud-iam's ``IAMClient`` for writes and the account's own IAM policy, made when first used."""
        from binderhub_registry.providers.google.api import iam_client  # noqa: PLC0415

        return iam_client(self._credentials, self._endpoint)
