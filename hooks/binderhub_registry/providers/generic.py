"""Any OCI registry (Harbor, Quay, GHCR, GitLab, self-hosted distribution, ...): validate the
given username and password, prove push on the repository BinderHub will push to."""

from __future__ import annotations

from typing import Any

from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import (
    NOTHING_DISCOVERED,
    PULL_SECRET_VALUE,
    Credential,
    Discovered,
    InputCredentials,
    Obtained,
    PasswordProvider,
)
from binderhub_registry.settings import RegistrySettings, probe_name
from binderhub_registry.state import CurrentState

# what error messages tell the user to change (oci.Hints)
URL_HINT, CREDENTIALS_HINT = "registry.generic.url", "registry.generic.username and registry.generic.password"


class GenericProvider(PasswordProvider):
    type = "generic"
    section = "generic"

    @property
    def url(self) -> str:
        return str(self.config["url"]).rstrip("/")

    def settings(self, discovered: Discovered = NOTHING_DISCOVERED) -> RegistrySettings:
        repository_path = str(self.config.get("repository", ""))
        path = "/".join(p for p in (self.url.split("://", 1)[1], repository_path) if p)
        probe = "/".join(p for p in (repository_path, probe_name(self.registry_values["prefix"])) if p)
        return RegistrySettings(
            type=self.type,
            registry_url=self.url,
            auth_key=self.url,
            image_prefix=f"{path}/{self.registry_values['prefix']}",
            token_url=self.config.get("tokenUrl") or discovered.token_url,
            probe_repository=probe,
        )

    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Obtained:
        username, password = self.username_password(given)
        _summary, token_url = self._prove(username, password)
        settings = self.settings(Discovered(token_url=token_url))
        return Obtained(Credential(username=username, password=password, credential_id=f"{username}@{settings.host}"), settings)

    def prove(self, username: str, password: str) -> dict[str, Any]:
        return self._prove(username, password)[0]

    def prove_pull_only(self, username: str, password: str) -> None:
        prove_pull_only_on_registry(self.url, self.settings().probe_repository, username, password, self.progress, URL_HINT,
                                    f"the Secret named by {PULL_SECRET_VALUE}")

    def _prove(self, username: str, password: str) -> tuple[dict[str, Any], str]:
        return prove_on_registry(self.url, self.settings().probe_repository, username, password, self.progress, URL_HINT, CREDENTIALS_HINT)


def prove_on_registry(
    url: str, repository: str, username: str, password: str, progress: Progress, url_value: str, credentials_value: str
) -> tuple[dict[str, Any], str]:
    """Prove ``username`` can push to ``repository`` of the registry at ``url`` (token grants and an
    upload session); the summary for the result line, and the token URL the registry named."""
    from binderhub_registry.oci import Hints, RegistryClient  # noqa: PLC0415  (HTTP only where a registry is asked)

    progress.step(f"Checking {url} for push access to {repository} as {username!r}")
    hints = Hints(url=url_value, credentials=credentials_value)
    with RegistryClient(url, username, password, progress=progress, hints=hints) as client:
        challenge = client.challenge()
        progress.step(f"registry authentication: {challenge.scheme}" + (f" (token service {challenge.realm})" if challenge.realm else ""))
        proof = client.prove_push(repository)
    granted = f", token grants {','.join(proof.granted_actions)}" if proof.granted_actions is not None else ""
    progress.step(f"push access proven on {proof.repository} ({' + '.join(proof.methods)}{granted})")
    summary = {"repository": proof.repository, "methods": proof.methods, "grantedActions": proof.granted_actions}
    return summary, challenge.token_url


def prove_pull_only_on_registry(
    url: str, repository: str, username: str, password: str, progress: Progress, url_value: str, credentials_value: str,
    witness_requests: bool = True,
) -> None:
    """Prove the pull credentials ``username`` pull from ``repository`` and cannot push to it
    (pull_proof.py)."""
    from binderhub_registry.oci import Hints, RegistryClient  # noqa: PLC0415
    from binderhub_registry.pull_proof import prove_pull_only  # noqa: PLC0415

    progress.step(f"Checking {url} for pull-only access to {repository} as {username!r}")
    with RegistryClient(url, username, password, progress=progress, hints=Hints(url=url_value, credentials=credentials_value)) as client:
        proof = prove_pull_only(client, repository, witness_requests)
    granted = f"token grants {','.join(proof.granted_actions)}" if proof.granted_actions is not None else ""
    refused = "the registry refuses an upload" if proof.upload_refused else ""
    progress.step(f"pull credentials proven to pull and not to push on {repository} ({'; '.join(p for p in (granted, refused) if p)})")
