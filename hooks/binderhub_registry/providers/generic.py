"""Any OCI registry (Harbor, Quay, GHCR, GitLab, self-hosted distribution, ...): validate the
given username and password, prove push on the repository BinderHub will push to."""

from __future__ import annotations

from typing import Any

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.oci import Hints, RegistryClient
from binderhub_registry.providers.base import (
    Credential,
    CurrentState,
    InputCredentials,
    Provider,
)
from binderhub_registry.settings import RegistrySettings, probe_name


class GenericProvider(Provider):
    type = "generic"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: dict[str, Any] = self.registry_values["generic"]
        self.discovered_token_url = ""

    @property
    def url(self) -> str:
        return str(self.config["url"]).rstrip("/")

    def settings(self) -> RegistrySettings:
        host = self.url.split("://", 1)[1]
        path = "/".join(p for p in (host, self.config.get("repository", "")) if p)
        repository_path = str(self.config.get("repository", ""))
        probe = "/".join(p for p in (repository_path, probe_name(self.registry_values["prefix"])) if p)
        return RegistrySettings(
            type=self.type,
            registry_url=self.url,
            auth_key=self.url,
            image_prefix=f"{path}/{self.registry_values['prefix']}",
            token_url=self.config.get("tokenUrl") or self.discovered_token_url,
            probe_repository=probe,
        )

    def hints(self) -> Hints:
        return Hints(url="registry.generic.url", credentials="registry.generic.username and registry.generic.password")

    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Credential:
        username = (given.username if given and given.username else "") or self.config.get("username", "")
        password = (given.password if given else "") or self.config.get("password", "")
        self.progress.add_secret(password)
        if not password:
            raise InvalidConfiguration(
                "registry.generic.password is empty; set it, or name a Secret with a `password` key in registry.existingSecret."
            )
        self.prove(username, password)
        return Credential(username=username, password=password, credential_id=f"{username}@{self.settings().host}")

    def prove(self, username: str, password: str) -> dict[str, Any]:
        settings = self.settings()
        self.progress.step(f"Checking {self.url} for push access to {settings.probe_repository} as {username!r}")
        with RegistryClient(self.url, username, password, progress=self.progress, hints=self.hints()) as client:
            challenge = client.challenge()
            self.progress.step(
                f"registry authentication: {challenge.scheme}" + (f" (token service {challenge.realm})" if challenge.realm else "")
            )
            proof = client.prove_push(settings.probe_repository)
        self.discovered_token_url = challenge.token_url
        granted = f", token grants {','.join(proof.granted_actions)}" if proof.granted_actions is not None else ""
        self.progress.step(f"push access proven on {proof.repository} ({' + '.join(proof.methods)}{granted})")
        return {"repository": proof.repository, "methods": proof.methods, "grantedActions": proof.granted_actions}
