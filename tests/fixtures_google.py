"""pytest fixtures for the Google Cloud stand-ins (tests/stand_ins/google_cloud.py).

Why this exists: the hook's gcr/artifact-registry path runs the real google-auth, IAM (gRPC) and
Artifact Registry (REST) clients; tests need those services answering on loopback, plus an
Application Default Credentials key file for the hook. Register with
``pytest_plugins = ["tests.fixtures_google"]`` in tests/conftest.py (or
``-p tests.fixtures_google``).

Everything is function-scoped (start-up is a few milliseconds; every key is a fresh RSA-2048
pair, ~50 ms each), so each test owns its world:

* ``google_cloud``           -> a running :class:`GoogleCloud` (project ``binder-test``, both APIs
  enabled, ``propagation_checks=0``; change ``google_cloud.state.propagation_checks`` at will).
* ``make_google_principal``  -> factory for service accounts with project roles and a key file.
* ``google_admin``           -> the principal the hook runs as (:data:`ADMIN_ROLES`).
* ``google_adc``             -> ``google_admin``'s key file exported as
  ``GOOGLE_APPLICATION_CREDENTIALS`` (monkeypatched), so ``google.auth.default()`` finds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.stand_ins.google_cloud import ADMIN_ROLES, GoogleCloud, credentials_from, google_token_server

PROJECT = "binder-test"
AR_HOST = "us-central1-docker.pkg.dev"
AR_REPOSITORY = f"projects/{PROJECT}/locations/us-central1/repositories/binder"
BUILDER = f"binderhub-builder@{PROJECT}.iam.gserviceaccount.com"


@dataclass(frozen=True)
class GooglePrincipal:
    """A stand-in service account with a key: its email, the key file's JSON and its path."""

    email: str
    key_info: dict[str, str]
    key_file: Path

    @property
    def key_id(self) -> str:
        return self.key_info["private_key_id"]

    def credentials(self) -> Any:
        """``service_account.Credentials`` with the cloud-platform scope."""
        return credentials_from(self.key_info)


MakeGooglePrincipal = Callable[..., GooglePrincipal]


@pytest.fixture
def google_cloud() -> Iterator[GoogleCloud]:
    """OAuth, IAM (gRPC) and Artifact Registry (REST) stand-ins sharing one state.
    ``google_cloud.endpoints`` gives the token URI, the IAM gRPC target and the AR endpoint."""
    with GoogleCloud() as cloud:
        yield cloud


@pytest.fixture
def make_google_principal(google_cloud: GoogleCloud, tmp_path: Path) -> MakeGooglePrincipal:
    """Factory: ``make_google_principal(account_id, roles=ADMIN_ROLES, project_id=None)`` ->
    :class:`GooglePrincipal` with a key file written under ``tmp_path``."""

    def make(account_id: str, roles: Iterable[str] = ADMIN_ROLES,
             project_id: str | None = None) -> GooglePrincipal:
        info = google_cloud.add_principal(account_id, roles, project_id)
        path = tmp_path / f"{account_id}-key.json"
        path.write_text(json.dumps(info, indent=2))
        path.chmod(0o600)
        return GooglePrincipal(info["client_email"], info, path)

    return make


@pytest.fixture
def google_admin(make_google_principal: MakeGooglePrincipal) -> GooglePrincipal:
    """``hook-admin@binder-test.iam.gserviceaccount.com`` with serviceAccountAdmin,
    serviceAccountKeyAdmin and artifactregistry.admin on the project."""
    return make_google_principal("hook-admin")


@pytest.fixture
def google_adc(google_admin: GooglePrincipal, monkeypatch: pytest.MonkeyPatch) -> GooglePrincipal:
    """``google_admin`` as Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS)."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google_admin.key_file))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    return google_admin


@pytest.fixture
def google_registry(google_cloud, make_registry):
    """The registry for both hosts: the authorizer maps repository paths like Google does."""
    started = []

    def make(host: str):
        tokens = google_token_server(google_cloud.authorizer(host)).start()
        started.append(tokens)
        return make_registry(auth="token", token_server=tokens)

    yield make
    for tokens in started:
        tokens.stop()


def google_values(google_cloud, registry, registry_type: str = "artifact-registry", **google: Any) -> dict[str, Any]:
    section = {"artifact-registry": {"artifactRegistry": {"project": PROJECT, "location": "us-central1", "repository": "binder"}},
               "gcr": {"gcr": {"project": PROJECT, "host": "gcr.io"}}}[registry_type]
    return {"registry": {"type": registry_type, **section, "google": {
        "registryUrl": registry.url,
        "endpoints": {"iam": "http://" + google_cloud.endpoints.iam_target, "artifactRegistry": google_cloud.endpoints.artifact_registry},
        "propagationTimeoutSeconds": 20,
        **google,
    }}}
