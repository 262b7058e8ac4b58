"""The one small interface every registry provider implements.

A provider turns values into ``RegistrySettings`` (offline), obtains push credentials (creating
them, or validating given ones) and proves they can push. Everything Kubernetes-related stays out
of providers: they receive the current state of the output Secret and return a ``Credential``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from binderhub_registry.progress import Progress
from binderhub_registry.rotation import RotationPolicy
from binderhub_registry.settings import RegistrySettings
from binderhub_registry.values import Values


@dataclass(frozen=True)
class Credential:
    username: str
    password: str
    # Non-secret id of the credential (e.g. a service-account key id), for annotations.
    credential_id: str = ""
    created_at: str = ""
    # The credential this one replaces; it stays valid until the next rotation.
    previous_credential_id: str = ""
    # "created" when this tool minted it (and so may revoke it), "given" otherwise.
    origin: str = "given"


@dataclass
class CurrentState:
    """What the output Secret holds now (empty when it does not exist yet), and the write-ahead
    notes on the settings ConfigMap (e.g. that a key creation was started)."""

    exists: bool = False
    annotations: dict[str, str] = field(default_factory=dict)
    docker_config: dict[str, Any] | None = None
    intents: dict[str, str] = field(default_factory=dict)

    def annotation(self, key: str) -> str:
        return self.annotations.get("binderhub-registry.jupyter.org/" + key, "")


@dataclass(frozen=True)
class InputCredentials:
    """Credentials from registry.existingSecret, which take precedence over values."""

    username: str = ""
    password: str = ""
    key_json: str = ""


SecretReader = Callable[[str], dict[str, str] | None]
IntentRecorder = Callable[[dict[str, str]], None]


class Provider(ABC):
    type: str
    # Keys registry.existingSecret must have for this provider.
    secret_keys: tuple[str, ...] = ("password",)

    def __init__(self, values: Values, progress: Progress) -> None:
        self.values = values
        self.registry_values: dict[str, Any] = values["registry"]
        self.progress = progress
        # Reads a Secret's data in the release namespace (None when there is no cluster access).
        self.read_secret: SecretReader | None = None
        # Records (or, with {}, clears) write-ahead notes that survive a crash of the hook.
        self.record_intent: IntentRecorder = lambda notes: None
        self.rotation = RotationPolicy()

    def mints_credentials(self) -> bool:
        """Whether ``obtain`` creates credentials, whose state must then live in the cluster."""
        return False

    def needs_cluster(self) -> bool:
        """Whether obtaining credentials reads Secrets named in values (even with --output)."""
        return bool(self.registry_values.get("existingSecret"))

    def adopt_docker_config(self, config: dict[str, Any]) -> None:  # noqa: B027  (optional hook)
        """Before ``settings()`` in `check`: take what values leave open from the docker config
        being checked, as ``obtain`` takes it from the credentials (default: nothing)."""

    @abstractmethod
    def settings(self) -> RegistrySettings:
        """What BinderHub needs, from values alone."""

    @abstractmethod
    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Credential:
        """Create or validate push credentials and prove that they can push."""

    @abstractmethod
    def prove(self, username: str, password: str) -> dict[str, Any]:
        """Prove that ``username``/``password`` can push; return a summary for the result line."""

    def after_switch(self, credential: Credential, current: CurrentState) -> None:  # noqa: B027  (optional hook)
        """Called once the Secret holds ``credential`` (default: nothing)."""

    def cleanup(self, current: CurrentState) -> None:  # noqa: B027  (optional hook)
        """Revoke what this tool created for the credential in ``current`` (default: nothing)."""
