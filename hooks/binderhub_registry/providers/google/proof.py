"""Proof that a service account key can push: Artifact Registry's testIamPermissions for the
upload permission, then the registry's own upload session; polled while IAM propagates a new key
or binding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from binderhub_registry.errors import CredentialsRejected, Unreachable
from binderhub_registry.oci import Hints, RegistryClient
from binderhub_registry.progress import Progress
from binderhub_registry.providers.google import signing_keys
from binderhub_registry.providers.google.api import GoogleCalls, artifact_registry_client
from binderhub_registry.providers.google.propagation import Propagation
from binderhub_registry.providers.google.target import JSON_KEY_USER, Target
from binderhub_registry.settings import RegistrySettings

UPLOAD_PERMISSION = "artifactregistry.repositories.uploadArtifacts"


@dataclass(frozen=True)
class Proven:
    summary: dict[str, Any]  # for the result line
    token_url: str  # the token service the registry named


def prove_key(
    key_text: str,
    info: dict[str, Any],
    target: Target,
    settings: RegistrySettings,
    progress: Progress,
    *,
    endpoint: str,
    project_value: str,
) -> Proven:
    identity = str(info.get("client_email", "the key's service account"))
    login = Login(signing_keys.credentials(info), JSON_KEY_USER, key_text, identity, f"the key of {identity}")
    return prove_login(login, target, settings, progress, endpoint=endpoint, project_value=project_value)


@dataclass(frozen=True)
class Login:
    """How the builder authenticates: Google credentials for the API, a docker login for the registry."""

    credentials: Any
    username: str
    password: str
    identity: str  # who, for sentences
    what: str  # which credentials, for sentences


def prove_login(
    login: Login, target: Target, settings: RegistrySettings, progress: Progress, *, endpoint: str, project_value: str
) -> Proven:
    calls = GoogleCalls(progress, target.project, login.identity, project_value=project_value)
    registry = artifact_registry_client(login.credentials, endpoint)
    granted = calls(
        "test its permissions on " + target.repository_name,
        "artifactregistry.repositories.uploadArtifacts",
        lambda: registry.test_iam_permissions(target.repository_name, [UPLOAD_PERMISSION]),
    )
    if UPLOAD_PERMISSION not in granted:
        raise CredentialsRejected(
            f"{login.identity} may not push to {target.repository_name} ({UPLOAD_PERMISSION} not granted)"
            f"; grant it {target.role} on the repository."
        )
    hints = Hints(url="registry.google.registryUrl", credentials=login.what)
    with RegistryClient(settings.registry_url, login.username, login.password, progress=progress, hints=hints) as client:
        challenge = client.challenge()
        proof = client.prove_push(settings.probe_repository)
    progress.step(f"push access proven on {target.repository_name} (testIamPermissions + {' + '.join(proof.methods)})")
    summary = {"repository": target.repository_name, "methods": ["testIamPermissions", *proof.methods], "serviceAccount": login.identity}
    return Proven(summary, challenge.token_url)


def prove_polling(prove: Callable[[], Proven], progress: Progress, timeout: float, timeout_is_outage: bool) -> Proven:
    """Prove push, polling while IAM propagates (new keys and bindings take minutes)."""
    propagation = Propagation(progress, timeout)
    while True:
        try:
            return prove()
        except CredentialsRejected as exc:
            if propagation.expired():
                if timeout_is_outage:
                    raise Unreachable(
                        f"IAM did not let the new key push within {timeout:g}s ({exc.message.rstrip('.')}); "
                        f"IAM changes can take 7 minutes or more: run the upgrade again, "
                        f"or raise registry.google.propagationTimeoutSeconds."
                    ) from None
                raise
            propagation.sleep("no push yet")
