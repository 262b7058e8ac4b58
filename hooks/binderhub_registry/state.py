"""The release state: everything the hook keeps in the cluster between runs, named here once.

All state lives in the cluster, so any run converges from any state:

* the output Secret's annotations: registry, image prefix, credential id (a Google key id), its
  origin (``created`` by the tool, or ``given``), creation time, previous credential id, the
  release revision and trigger the credential satisfies, and a fingerprint;
* write-ahead notes ("intents") on the settings ConfigMap, under a field manager of their own, so
  a run killed between creating a key and writing the Secret is cleaned up by the next run;
* the BinderHub Deployments' pod-template annotation ``credential-fingerprint``: a Deployment is
  rolled when it differs from the Secret's fingerprint. A Deployment without it (Helm created it
  after the install hook) carries the same annotation on itself once the hook found, from the
  API server's timestamps, that its pods started after the Secret and settings last changed
  (restart.py).

The fingerprint is a random id renewed whenever the docker config or the BinderHub configuration
in registry.json changes: deliberately not a hash, which anyone who can read annotations could
test passwords against.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

# CREATED and GIVEN, the values of CREDENTIAL_ORIGIN, are defined with the credentials.
from binderhub_registry.credentials import CREATED as CREATED
from binderhub_registry.credentials import GIVEN as GIVEN
from binderhub_registry.credentials import Credential

if TYPE_CHECKING:
    from binderhub_registry.settings import RegistrySettings

PREFIX = "binderhub-registry.jupyter.org/"

# The output Secret's annotations.
REGISTRY = PREFIX + "registry"
IMAGE_PREFIX = PREFIX + "image-prefix"
FINGERPRINT = PREFIX + "fingerprint"
CREDENTIAL_ID = PREFIX + "credential-id"
CREATED_AT = PREFIX + "created-at"
PREVIOUS_CREDENTIAL_ID = PREFIX + "previous-credential-id"
CREDENTIAL_ORIGIN = PREFIX + "credential-origin"
ROTATION_REVISION = PREFIX + "rotation-revision"
ROTATION_TRIGGER = PREFIX + "rotation-trigger"

# The pod-template annotation of the BinderHub Deployments: the fingerprint they run with.
DEPLOYMENT_FINGERPRINT = PREFIX + "credential-fingerprint"

# Write-ahead notes on the settings ConfigMap, applied under their own field manager so that
# writing the settings never erases them and clearing them never touches the settings.
INTENT_PREFIX = PREFIX + "intent-"
INTENT_STARTED = INTENT_PREFIX + "key-creation-started"
INTENT_ACCOUNT = INTENT_PREFIX + "key-account"
INTENT_KEY = INTENT_PREFIX + "key-id"
# Harbor: the robot account (its own name) a run is creating or refreshing.
INTENT_HARBOR_ROBOT = INTENT_PREFIX + "harbor-robot"
# ECR: the probe repository a run created for its push proof and has not deleted yet.
INTENT_ECR_PROBE = INTENT_PREFIX + "ecr-probe-repository"
# Harbor: the pull robot account (its own name) a run is creating or refreshing.
INTENT_HARBOR_PULL_ROBOT = INTENT_PREFIX + "harbor-pull-robot"
INTENT_FIELD_MANAGER = "binderhub-registry-intent"
# The Harbor notes by robot pair.
HARBOR_INTENTS = {"push": INTENT_HARBOR_ROBOT, "pull": INTENT_HARBOR_PULL_ROBOT}


@dataclass(frozen=True)
class CurrentState:
    """What the output Secret holds now (empty when it does not exist yet), the write-ahead notes on
    the settings ConfigMap (e.g. that a key creation was started), and the BinderHub configuration
    its registry.json gives BinderHub at start."""

    exists: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    docker_config: dict[str, Any] | None = None
    intents: dict[str, str] = field(default_factory=dict)
    binderhub_config: dict[str, Any] | None = None
    changed_at: datetime | None = None  # when the Secret or settings last changed, by the API server's clock (None: unknown)

    @classmethod
    def read(
        cls,
        secret: dict[str, Any] | None,
        configmap_annotations: dict[str, str],
        registry_json: str | None = None,
        changed_at: datetime | None = None,
    ) -> CurrentState:
        """From the Secret (data decoded, or None when absent), the settings ConfigMap's annotations
        and its registry.json (None when absent), and when either last changed."""
        intents = {key: value for key, value in configmap_annotations.items() if key.startswith(INTENT_PREFIX)}
        binderhub_config = _json_object(registry_json or "null").get("binderhubConfig")
        if secret is None:
            return cls(intents=intents, binderhub_config=binderhub_config, changed_at=changed_at)
        docker_config = _json_object(secret["data"].get("config.json") or secret["data"].get(".dockerconfigjson") or "null") or None
        return cls(exists=True, annotations=secret["annotations"], docker_config=docker_config, intents=intents,
                   binderhub_config=binderhub_config, changed_at=changed_at)

    @classmethod
    def of(cls, secret: dict[str, Any] | None, configmap: dict[str, Any] | None, changed_at: datetime | None) -> CurrentState:
        """From the output Secret and the settings ConfigMap as the API returns them (None: absent)."""
        notes = dict(((configmap or {}).get("metadata") or {}).get("annotations") or {})
        registry_json = ((configmap or {}).get("data") or {}).get("registry.json")
        return cls.read(decoded_secret(secret), notes, registry_json, changed_at)

    def annotation(self, key: str) -> str:
        return self.annotations.get(key, "")

    # What providers ask of it, so that none reads an annotation key itself.

    @property
    def credential_id(self) -> str:
        return self.annotation(CREDENTIAL_ID)

    @property
    def previous_credential_id(self) -> str:
        return self.annotation(PREVIOUS_CREDENTIAL_ID)

    @property
    def created_at(self) -> str:
        """When the credential was created (RFC 3339 text, as kept; "" when unknown)."""
        return self.annotation(CREATED_AT)

    @property
    def created_by_tool(self) -> bool:
        """Whether the credential's origin is ``created`` (this tool minted it, so it may revoke it)."""
        return self.annotation(CREDENTIAL_ORIGIN) == CREATED

    @property
    def intent(self) -> Intent:
        """The write-ahead notes an earlier run left, typed."""
        return Intent.from_notes(self.intents)


@dataclass(frozen=True)
class Intent:
    """A write-ahead note: what a run is about to create, recorded before it does (each record
    replaces the notes on the settings ConfigMap; an empty Intent clears them)."""

    key_creation_started: datetime | None = None  # Google: when a key creation was started
    key_account: str = ""  # Google: the service account the key is for
    key_id: str = ""  # Google: the key's id, once its creation returned
    # Harbor: the robot account (its own name) a run is creating or refreshing, by pair ("push", "pull").
    harbor_robots: dict[str, str] = field(default_factory=dict)
    ecr_probe_repository: str = ""  # ECR: the probe repository created for the push proof and not deleted yet

    @classmethod
    def from_notes(cls, notes: dict[str, str]) -> Intent:
        return cls(
            key_creation_started=parse_time(notes.get(INTENT_STARTED, "")),
            key_account=notes.get(INTENT_ACCOUNT, ""),
            key_id=notes.get(INTENT_KEY, ""),
            harbor_robots={what: notes[key] for what, key in HARBOR_INTENTS.items() if notes.get(key)},
            ecr_probe_repository=notes.get(INTENT_ECR_PROBE, ""),
        )

    def notes(self) -> dict[str, str]:
        """The annotations that record it (only what is set)."""
        notes = {
            INTENT_STARTED: format_time(self.key_creation_started) if self.key_creation_started else "",
            INTENT_ACCOUNT: self.key_account,
            INTENT_KEY: self.key_id,
            **{HARBOR_INTENTS[what]: name for what, name in self.harbor_robots.items()},
            INTENT_ECR_PROBE: self.ecr_probe_repository,
        }
        return {key: value for key, value in notes.items() if value}


def decoded_secret(secret: dict[str, Any] | None) -> dict[str, Any] | None:
    """A Secret as the API returns it as a plain dict, its data values base64-decoded to str."""
    if secret is None:
        return None
    metadata = secret.get("metadata") or {}
    data = {key: base64.b64decode(value).decode(errors="replace") for key, value in (secret.get("data") or {}).items()}
    return {
        "annotations": dict(metadata.get("annotations") or {}),
        "labels": dict(metadata.get("labels") or {}),
        "data": data,
        "type": secret.get("type"),
    }


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def fingerprint(current: CurrentState, docker_config: dict[str, Any], binderhub_config: dict[str, Any]) -> str:
    """The fingerprint of what BinderHub reads at start: the current one while both the docker
    config and BinderHub's configuration (registry.json: registry, prefix, token URL, ...) stay the
    same, a new random id when either changes. BinderHub's values never change with them, so
    only this makes the BinderHub Deployments restart."""
    unchanged = current.docker_config == docker_config and current.binderhub_config == binderhub_config
    if unchanged and current.annotation(FINGERPRINT):
        return current.annotation(FINGERPRINT)
    return new_fingerprint()


def new_fingerprint() -> str:
    """A new id for what BinderHub reads: random, so that it says when the credential or settings
    changed (the BinderHub Deployments are rolled on it) without being a hash anyone could test
    passwords against."""
    return os.urandom(8).hex()  # what secrets.token_hex(8) returns, without importing random and hmac


def secret_annotations(
    settings: RegistrySettings,
    fingerprint: str,
    credential: Credential | None = None,
    rotation: tuple[str, str] | None = None,
) -> dict[str, str]:
    """The Secret's annotations; without ``credential`` (offline `render`) only the registry's.
    ``rotation``: the release revision and the trigger the credential satisfies."""
    annotations = {REGISTRY: settings.registry_url, IMAGE_PREFIX: settings.image_prefix, FINGERPRINT: fingerprint}
    if credential is not None:
        annotations |= {
            CREDENTIAL_ID: credential.credential_id,
            CREATED_AT: credential.created_at or now_text(),
            PREVIOUS_CREDENTIAL_ID: credential.previous_credential_id,
            CREDENTIAL_ORIGIN: credential.origin,
        }
    if rotation is not None:
        annotations |= {ROTATION_REVISION: rotation[0], ROTATION_TRIGGER: rotation[1]}
    return {key: value for key, value in annotations.items() if value}


def parse_time(text: str) -> datetime | None:
    """Times in annotations are RFC 3339 UTC with seconds (2026-11-26T17:41:00Z)."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_text() -> str:
    return format_time(datetime.now(UTC))
