"""The hook's own Google identity, which creates the repository, the account and its keys:
an admin key from the Secret named by registry.google.adminKeySecret, or Application Default
Credentials (Workload Identity, or a key file in GOOGLE_APPLICATION_CREDENTIALS).

Service account keys (the Secret's, or the key file google.auth.default() would read) are loaded
by ``signing_keys.credentials``, which says in one sentence what is wrong with a key."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import SecretReader
from binderhub_registry.providers.google import signing_keys
from binderhub_registry.providers.google.api import default_credentials, identity_of
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
        return _application_default(progress)
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
    return Admin(signing_keys.credentials(info), str(info.get("project_id", "")))


def _application_default(progress: Progress) -> Admin:
    """Application Default Credentials. A service account key file named by
    GOOGLE_APPLICATION_CREDENTIALS is read here as google.auth.default() reads it (same
    credentials, same project), so that its key text is redacted and a broken key is said in one
    sentence; everything else
    (Workload Identity, gcloud's credentials, external accounts) is google.auth.default()'s."""
    key_file = _service_account_key_file(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", ""))
    if key_file is None:
        return Admin(*default_credentials())
    text, info = key_file
    progress.add_secret(text)
    credentials = signing_keys.credentials(info).with_quota_project_from_environment()
    # google.auth.default(): GOOGLE_CLOUD_PROJECT (else GCLOUD_PROJECT) wins over the key's project.
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", os.environ.get("GCLOUD_PROJECT")) or info.get("project_id")
    return Admin(credentials, str(project or ""))


def _service_account_key_file(path: str) -> tuple[str, dict[str, Any]] | None:
    """The text and JSON of a service account key file at ``path``; None for anything else (no
    path, gcloud's own credentials file, which default() reads the gcloud way, or a file that is
    missing, unreadable or of another type: default() then says what it says today)."""
    if not path or Path(path) == _gcloud_credentials_path():
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
        info = json.loads(text)
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        return None
    return text, info


def _gcloud_credentials_path() -> Path:
    """Where gcloud keeps Application Default Credentials (google.auth's _cloud_sdk on POSIX)."""
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    return Path(config, "application_default_credentials.json")
