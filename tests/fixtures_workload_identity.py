"""pytest fixtures for keyless Google (tests/stand_ins/google_workload_identity.py): IAM
Credentials and the GKE metadata server on the shared Google state, the builder account with its
writer role on the Artifact Registry repository, and the registry that repository is served by.

* ``iam_credentials``  -> a running :class:`IamCredentialsServer`.
* ``builder``          -> the builder account (``BUILDER``) with roles/artifactregistry.writer on
  ``AR_REPOSITORY`` (created here), as the hook leaves them.
* ``make_metadata``    -> factory ``make_metadata(gcp_service_account="", namespace=..., ksa=...)``
  for a GKE metadata server answering for one pod.
* ``ar_registry``      -> the real registry behind Google's token decision for ``AR_HOST``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fixtures_google import AR_HOST, AR_REPOSITORY, BUILDER, PROJECT, google_values
from tests.stand_ins.google_cloud import GoogleCloud
from tests.stand_ins.google_workload_identity import GkeMetadataServer, IamCredentialsServer, PodIdentity

HELPER_NAMESPACE = "binder"
HELPER_KSA = "binderhub-registry-helper"


@pytest.fixture
def iam_credentials(google_cloud: GoogleCloud) -> Iterator[IamCredentialsServer]:
    with IamCredentialsServer(google_cloud.state) as server:
        yield server


@pytest.fixture
def builder(google_cloud: GoogleCloud) -> str:
    state = google_cloud.state
    state.add_service_account(PROJECT, BUILDER.split("@")[0])
    state.add_repository(PROJECT, "us-central1", "binder")
    state.grant_repository_role(AR_REPOSITORY, BUILDER, "roles/artifactregistry.writer")
    return BUILDER


@pytest.fixture
def make_metadata(google_cloud: GoogleCloud) -> Iterator[Callable[..., GkeMetadataServer]]:
    started: list[GkeMetadataServer] = []

    def make(gcp_service_account: str = "", namespace: str = HELPER_NAMESPACE, ksa: str = HELPER_KSA) -> GkeMetadataServer:
        server = GkeMetadataServer(google_cloud.state, PodIdentity(PROJECT, namespace, ksa, gcp_service_account)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def ar_registry(google_registry: Callable[[str], Any]) -> Any:
    return google_registry(AR_HOST)


def keyless_values(google_cloud: GoogleCloud, registry: Any, iam_credentials: Any, registry_type: str = "artifact-registry",
                   **google: Any) -> dict[str, Any]:
    """Chart values for registry.google.credential workload-identity against the stand-ins, with
    what the chart sets internally (the helper's name and namespace)."""
    values = google_values(google_cloud, registry, registry_type, credential="workload-identity", **google)
    values["registry"]["google"]["endpoints"]["iamCredentials"] = iam_credentials.url
    values["registryHelper"] = {"name": HELPER_KSA, "namespace": HELPER_NAMESPACE}
    return values
