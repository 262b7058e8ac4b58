"""Docker Hub: validate the account and its password or access token with Docker Hub's token
service, and prove push from the actions the token grants.

Docker Hub's token service answers with the intersection of the requested and the allowed
actions, so a read-only access token, or an organisation the user cannot write to, is not an error
there: the granted actions are read from the JWT and turned into a sentence that says which.
Docker Hub's grants are what its registry enforces, so the token is the proof (an upload session
is not started: Docker Hub creates repositories on first push and is not a reliable witness for
one that does not exist yet).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from binderhub_registry.dockerconfig import DOCKER_HUB_AUTH_KEY
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.oci import Hints, PushProof, RegistryClient
from binderhub_registry.providers.base import (
    NOTHING_DISCOVERED,
    PULL_SECRET_VALUE,
    Credential,
    Discovered,
    InputCredentials,
    Obtained,
    PasswordProvider,
)
from binderhub_registry.pull_proof import prove_pull_only
from binderhub_registry.registry_auth import Challenge
from binderhub_registry.settings import RegistrySettings, probe_name
from binderhub_registry.state import CurrentState

DOCKER_HUB_SERVICE = "registry.docker.io"
# BinderHub (builder._get_image_basename_and_tag) keeps "<ns>/<name>" whole only when ns matches
# this; otherwise it drops the first path component and looks up the wrong repository, so such
# namespaces get an explicit "docker.io/" for it to drop.
BINDERHUB_WHOLE_NAMESPACE = re.compile(r"[a-z0-9]{4,40}")


class DockerHubProvider(PasswordProvider):
    type = "dockerhub"
    section = "dockerhub"
    password_hint = "set it to a Read & Write access token"
    push_username = ""  # the account obtain() proved, whose name is the namespace's default

    def namespace(self, username: str) -> str:
        return str(self.config.get("namespace") or username or self.config.get("username", "")).lower()

    def settings(self, discovered: Discovered = NOTHING_DISCOVERED) -> RegistrySettings:
        prefix = self.registry_values["prefix"]
        if "/" in prefix:
            raise InvalidConfiguration(
                f"registry.prefix {prefix!r} contains '/', but Docker Hub repositories are <namespace>/<name>; use a prefix like binder-."
            )
        namespace = self.namespace(discovered.username)
        registry_url = str(self.config.get("registryUrl") or "https://registry-1.docker.io").rstrip("/")
        auth_url = str(self.config.get("authUrl") or "https://auth.docker.io/token")
        return RegistrySettings(
            type=self.type,
            registry_url=registry_url,
            auth_key=DOCKER_HUB_AUTH_KEY,
            image_prefix=(
                f"{namespace}/{prefix}" if BINDERHUB_WHOLE_NAMESPACE.fullmatch(namespace) else f"docker.io/{namespace}/{prefix}"
            ),
            token_url=f"{auth_url}?service={DOCKER_HUB_SERVICE}",
            probe_repository=f"{namespace}/{probe_name(prefix)}",
            auth_config_url=DOCKER_HUB_AUTH_KEY,
            not_found_401=True,
        )

    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Obtained:
        username, password = self.username_password(given)
        self.prove(username, password)
        self.push_username = username  # the namespace's default, for the pull proof
        credential = Credential(username=username, password=password, credential_id=f"{username}@docker.io")
        return Obtained(credential, self.settings(Discovered(username=username)))

    def prove(self, username: str, password: str) -> dict[str, Any]:
        settings = self.settings(Discovered(username=username))
        hints = Hints(
            url="registry.dockerhub.authUrl",
            credentials="registry.dockerhub.username and registry.dockerhub.password",
            rejected_extra="accounts with two-factor authentication or SSO must use a personal access token as the password",
            cannot_push=partial(_cannot_push, username),
        )
        self.progress.step(f"Checking Docker Hub push access to {settings.probe_repository} as {username!r}")
        with self._client(settings, username, password, hints) as client:
            proof = PushProof(repository=settings.probe_repository)
            client.push_token(settings.probe_repository, proof)
        self.progress.step(f"push access proven on {proof.repository} (token grants {_granted(proof.granted_actions, settings)})")
        return {"repository": proof.repository, "methods": proof.methods, "grantedActions": proof.granted_actions}

    def prove_pull_only(self, username: str, password: str) -> None:
        """Docker Hub's grants are what its registry enforces: a token asked for pull and push
        on the repository BinderHub pushes to must grant pull and not push."""
        settings = self.settings(Discovered(username=self.push_username))
        hints = Hints(url="registry.dockerhub.authUrl", credentials=f"the Secret named by {PULL_SECRET_VALUE}")
        self.progress.step(f"Checking Docker Hub pull-only access to {settings.probe_repository} as {username!r}")
        with self._client(settings, username, password, hints) as client:
            proof = prove_pull_only(client, settings.probe_repository, witness_requests=False)
        self.progress.step(f"pull credentials proven to pull and not to push on {proof.repository} "
                           f"(token grants {_granted(proof.granted_actions, settings)})")

    def _client(self, settings: RegistrySettings, username: str, password: str, hints: Hints) -> RegistryClient:
        challenge = Challenge("bearer", realm=settings.token_url.split("?")[0], service=DOCKER_HUB_SERVICE)
        return RegistryClient(settings.registry_url, username, password, progress=self.progress, hints=hints, challenge=challenge)


def _granted(actions: list[str] | None, settings: RegistrySettings) -> str:
    if actions is None:
        raise InvalidConfiguration(
            f"The token service at {settings.token_url.split('?')[0]} did not answer with a Docker Hub token; "
            f"check registry.dockerhub.authUrl."
        )
    return ",".join(actions)


def _cannot_push(username: str, repository: str, granted: frozenset[str]) -> str:
    namespace = repository.split("/")[0]
    if namespace != username.lower():
        return (
            f"Docker Hub user {username!r} has no write access to organisation {namespace!r} "
            f"(granted: {', '.join(sorted(granted)) or 'nothing'}); add the user to a team with Read & Write permission on it, "
            f"or use an organisation access token, or change registry.dockerhub.namespace."
        )
    if "pull" in granted:
        return (
            f"The Docker Hub token of {username!r} can pull but not push {repository}: it is a read-only access token; "
            f"create a Read & Write access token and set it as registry.dockerhub.password."
        )
    return f"Docker Hub grants {username!r} no access to {repository}; check registry.dockerhub.namespace."
