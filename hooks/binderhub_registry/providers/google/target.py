"""Values to target: where images go and who pushes them, and the names Google gives them."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from binderhub_registry import dockerconfig
from binderhub_registry.errors import InvalidConfiguration

GCR_LOCATIONS = {"gcr.io": "us", "us.gcr.io": "us", "eu.gcr.io": "europe", "asia.gcr.io": "asia"}
WRITER = "roles/artifactregistry.writer"
CREATE_ON_PUSH_WRITER = "roles/artifactregistry.createOnPushWriter"
# The docker username of a service account key; its password is the key file.
JSON_KEY_USER = "_json_key"


@dataclass(frozen=True)
class Target:
    """Where images go and who pushes them."""

    project: str
    location: str
    repository_id: str
    host: str  # registry host BinderHub and docker use
    path: str  # repository path under the host, before the image name
    role: str  # role the builder needs on the repository
    account_id: str

    @property
    def repository_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/repositories/{self.repository_id}"

    @property
    def account_email(self) -> str:
        return f"{self.account_id}@{self.project}.iam.gserviceaccount.com"

    @property
    def account_name(self) -> str:
        return f"projects/{self.project}/serviceAccounts/{self.account_email}"


def gcr_target(config: dict[str, Any], project: str) -> Target:
    host = str(config.get("host") or "gcr.io")
    return Target(
        project=project,
        location=GCR_LOCATIONS[host],
        repository_id=host,
        host=host,
        path=project,
        role=CREATE_ON_PUSH_WRITER,
        account_id=str(config["serviceAccount"]),
    )


def artifact_registry_target(config: dict[str, Any], project: str) -> Target:
    location = str(config["location"])
    repository = str(config["repository"])
    return Target(
        project=project,
        location=location,
        repository_id=repository,
        host=f"{location}-docker.pkg.dev",
        path=f"{project}/{repository}",
        role=WRITER,
        account_id=str(config["serviceAccount"]),
    )


# registry.type -> the section of its values and its target.
TARGETS = {"gcr": ("gcr", gcr_target), "artifact-registry": ("artifactRegistry", artifact_registry_target)}


def registry_url(google: dict[str, Any], target: Target) -> str:
    """The URL BinderHub pushes to: registry.google.registryUrl when set, else the target's host."""
    return str(google.get("registryUrl") or "").rstrip("/") or f"https://{target.host}"


def key_id(key_name: str) -> str:
    return key_name.rsplit("/", 1)[-1]


def account_name(email: str) -> str:
    """projects/P/serviceAccounts/EMAIL, P from the email (ACCOUNT@P.iam.gserviceaccount.com)."""
    project = email.partition("@")[2].removesuffix(".iam.gserviceaccount.com")
    return f"projects/{project}/serviceAccounts/{email}"


def parse_key(key_text: str) -> dict[str, Any]:
    try:
        info = json.loads(key_text)
    except ValueError:
        raise InvalidConfiguration("The service account key is not JSON; use the key file Google issued (type service_account).") from None
    if not isinstance(info, dict) or info.get("type") != "service_account" or "private_key" not in info:
        raise InvalidConfiguration("The service account key is not a service account key file (type service_account with a private_key).")
    return info


def key_text(private_key_data: bytes) -> str:
    """The key file JSON: raw bytes over gRPC, base64 over REST."""
    text = private_key_data.decode() if isinstance(private_key_data, bytes) else str(private_key_data)
    if not text.lstrip().startswith("{"):
        text = base64.b64decode(text).decode()
    return text


@dataclass(frozen=True)
class KeyInConfig:
    text: str  # the key file, the docker password
    info: dict[str, Any]  # its parsed JSON

    @property
    def account(self) -> str:
        return str(self.info["client_email"])

    @property
    def key_id(self) -> str:
        return str(self.info.get("private_key_id", ""))


def key_in(docker_config: dict[str, Any] | None) -> KeyInConfig | None:
    """The service account key in a docker config (whatever its auths key: the registry URL may
    have changed since), with its parsed JSON."""
    for _auth_key, username, password in dockerconfig.all_credentials(docker_config or {}):
        if username != JSON_KEY_USER:
            continue
        try:
            info = json.loads(password)
        except ValueError:
            continue
        if isinstance(info, dict) and info.get("client_email"):
            return KeyInConfig(password, info)
    return None
