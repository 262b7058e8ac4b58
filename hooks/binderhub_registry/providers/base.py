"""The one small interface every registry provider implements.

A provider is built with everything it needs (values, progress, and, where a run has a cluster,
a reader of Secrets named in values and a recorder of write-ahead notes). It turns values into
``RegistrySettings`` offline, and ``obtain`` returns what it obtained: the credential, proven to
push, with the settings it implies (a token URL discovered from the registry, a namespace from the
username, a project from the key), so no call order matters. Everything Kubernetes-related stays
out of providers: they receive the current state of the output Secret.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from binderhub_registry.credentials import Credential as Credential  # (providers import both from here)
from binderhub_registry.credentials import InputCredentials as InputCredentials
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.progress import Progress
from binderhub_registry.rotation import RotationPolicy
from binderhub_registry.settings import RegistrySettings
from binderhub_registry.state import CurrentState, Intent
from binderhub_registry.values import Values


@dataclass(frozen=True)
class Discovered:
    """What values may leave open and a run learns from the credentials or the registry."""

    username: str = ""  # the account the credentials belong to
    project: str = ""  # a Google project, from the key or the hook's identity
    token_url: str = ""  # the token service the registry named in its challenge
    account: str = ""  # an AWS account, from the hook's identity (STS GetCallerIdentity)


NOTHING_DISCOVERED = Discovered()


@dataclass(frozen=True)
class Obtained:
    credential: Credential
    settings: RegistrySettings
    # To run once the Secret holds ``credential`` (clear notes, revoke what it replaced).
    after_switch: Callable[[], None] = field(default=lambda: None)


# The value naming the Secret of separate pull credentials (generic, dockerhub).
PULL_SECRET_VALUE = "registry.pullCredentials.existingSecret"

SecretReader = Callable[[str], dict[str, str] | None]
NoteWriter = Callable[[dict[str, str]], None]  # writes the notes' annotations (kube.record_intent)
IntentRecorder = Callable[[Intent], None]


class Provider(ABC):
    type: ClassVar[str]
    # Keys registry.existingSecret must have for this provider.
    secret_keys: ClassVar[tuple[str, ...]] = ("password",)
    # Whether registry.pullCredentials.existingSecret is taken (read before the provider is built).
    takes_pull_credentials: ClassVar[bool] = False

    def __init__(
        self,
        values: Values,
        progress: Progress,
        *,
        read_secret: SecretReader | None = None,
        record_intent: NoteWriter | None = None,
        rotation: RotationPolicy | None = None,
    ) -> None:
        self.values = values
        self.registry_values: dict[str, Any] = values["registry"]
        self.progress = progress
        # Reads a Secret's data in the release namespace (None when there is no cluster access).
        self.read_secret = read_secret
        self._write_notes: NoteWriter = record_intent or (lambda notes: None)
        self.rotation = rotation or RotationPolicy()

    def record_intent(self, intent: Intent) -> None:
        """Record (or, with an empty Intent, clear) write-ahead notes that survive a crash of the hook."""
        self._write_notes(intent.notes())

    @classmethod
    def mints_credentials(cls, values: Values) -> bool:
        """Whether ``obtain`` creates credentials, whose state must then live in the cluster."""
        return False

    @classmethod
    def needs_cluster(cls, values: Values) -> bool:
        """Whether obtaining credentials reads Secrets named in values (even with --output)."""
        return bool(values["registry"].get("existingSecret"))

    @abstractmethod
    def settings(self, discovered: Discovered = NOTHING_DISCOVERED) -> RegistrySettings:
        """What BinderHub needs, from values and what a run ``discovered``."""

    def discovered_in(self, docker_config: dict[str, Any]) -> Discovered:
        """For `check`: what values leave open, from the docker config being checked, as
        ``obtain`` takes it from the credentials (default: nothing)."""
        return Discovered()

    def values_credential(self) -> Credential | None:
        """The credential values carry in the clear, for offline `render` (default: none)."""
        return None

    def helper_probe(self) -> str:
        """The repository `check --registry-helper` asks the registry helper about (no network)."""
        return self.settings().probe_repository

    def helper_discovered(self, registry: str) -> Discovered:
        """For `check --registry-helper`: what values leave open, from the registry the helper's
        credentials are for (default: nothing)."""
        return NOTHING_DISCOVERED

    @abstractmethod
    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Obtained:
        """Create or validate push credentials and prove that they can push."""

    @abstractmethod
    def prove(self, username: str, password: str) -> dict[str, Any]:
        """Prove that ``username``/``password`` can push; return a summary for the result line."""

    def check_pull_values(self) -> None:
        """Refuse registry.pullCredentials.existingSecret where this type takes none, before any
        credential is obtained (generic and dockerhub take them)."""
        if not self.takes_pull_credentials and (self.registry_values.get("pullCredentials") or {}).get("existingSecret"):
            raise InvalidConfiguration(
                f"{PULL_SECRET_VALUE} is set, but registry.type {self.type} takes no separate pull credentials "
                f"(generic and dockerhub do); leave it empty: user pods then pull with the push credentials."
            )

    def obtain_pull(self, current: CurrentState, given: InputCredentials | None) -> Credential | None:
        """The credential user pods pull with, proven to pull and proven not to push where the
        registry lets us tell; None: they pull with the push credential (the default).
        ``current``: the pull Secret's state; ``given``: registry.pullCredentials.existingSecret's."""
        return None

    def pull_description(self, credential: Credential | None) -> str:
        """How user pods pull with the pull Secret holding ``credential`` (from ``obtain_pull``)."""
        if credential is None:
            return "user pods pull with the push credentials (no separate pull credentials)"
        return f"user pods pull with {credential.username!r}, which may pull and not push"

    def cleanup(self, current: CurrentState) -> None:  # noqa: B027  (optional hook)
        """Revoke what this tool created for the credential in ``current`` (default: nothing)."""

    def cleanup_pull(self, pull: CurrentState) -> None:  # noqa: B027  (optional hook)
        """Revoke what this tool created for the pull credential in ``pull`` (default: nothing)."""


class PasswordProvider(Provider):
    """A registry account with a username and a password (or access token) in values."""

    section: ClassVar[str]
    takes_pull_credentials = True
    # How to fill registry.<section>.password, for the sentence when it is empty.
    password_hint: ClassVar[str] = "set it"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: dict[str, Any] = self.registry_values[self.section]

    def values_credential(self) -> Credential | None:
        username, password = self.config.get("username", ""), self.config.get("password", "")
        return Credential(username=username, password=password) if username and password else None

    def obtain_pull(self, current: CurrentState, given: InputCredentials | None) -> Credential | None:
        """Separate pull credentials from registry.pullCredentials.existingSecret, proven to pull
        and not to push; None without them."""
        if given is None:
            return None
        if not given.username or not given.password:
            raise InvalidConfiguration(
                f"The Secret named by {PULL_SECRET_VALUE} needs both a `username` and a `password` key (an account that may only pull)."
            )
        self.prove_pull_only(given.username, given.password)
        return Credential(username=given.username, password=given.password, credential_id=f"{given.username}@{self.settings().host}")

    def prove_pull_only(self, username: str, password: str) -> None:
        """Prove that ``username`` pulls from the repository BinderHub pushes to and cannot push there."""
        raise NotImplementedError

    def username_password(self, given: InputCredentials | None) -> tuple[str, str]:
        """The account's username and password: from registry.existingSecret, else from values."""
        username = (given.username if given and given.username else "") or self.config.get("username", "")
        password = (given.password if given else "") or self.config.get("password", "")
        self.progress.add_secret(password)
        if not password:
            raise InvalidConfiguration(
                f"registry.{self.section}.password is empty; {self.password_hint}, or name a Secret with a "
                f"`password` key in registry.existingSecret."
            )
        return username, password
