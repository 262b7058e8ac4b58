"""The hook's own Google identity, which creates the repository, the account and its keys:
an admin key from the Secret named by registry.google.adminKeySecret, or Application Default
Credentials (Workload Identity)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import SecretReader
from binderhub_registry.providers.google.api import credentials_from_key, default_credentials, identity_of
from binderhub_registry.providers.google.target import parse_key


@dataclass(frozen=True)
class Admin:
    credentials: Any
    project: str  # the project the identity belongs to ("" when it names none)

    @property
    def identity(self) -> str:
        return identity_of(self.credentials)


def admin_identity(secret_name: str, read_secret: SecretReader | None, progress: Progress) -> Admin:
    if not secret_name:
        return Admin(*default_credentials())
    data = read_secret(secret_name) if read_secret else None
    if data is None:
        raise InvalidConfiguration(
            f"Secret {secret_name!r} named by registry.google.adminKeySecret does not exist; create it or fix the name."
        )
    if "key.json" not in data:
        raise InvalidConfiguration(
            f"Secret {secret_name!r} named by registry.google.adminKeySecret has no key.json key; add the admin key file under that key."
        )
    progress.add_secret(data["key.json"])
    info = parse_key(data["key.json"])
    return Admin(credentials_from_key(info), str(info.get("project_id", "")))
