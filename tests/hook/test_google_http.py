"""The hook's Artifact Registry calls on its REST API through google-auth's session (providers/
google/artifact_registry.py), against the stand-in's REST API: every error Google answers becomes
the exception the real generated client raises for the same answer (class, code, message,
ErrorInfo), so ``api.translate`` turns it into the same sentence; an unreachable endpoint or token
service ends in one exit-3 sentence; proxies from the environment carry the token and API requests."""

from __future__ import annotations

from typing import Any

import pytest
from binderhub_registry.errors import InvalidConfiguration, Unreachable
from binderhub_registry.progress import Progress
from binderhub_registry.providers.google.api import CONFLICT, NOT_FOUND, GoogleCalls
from binderhub_registry.providers.google.artifact_registry import ArtifactRegistry
from google.api_core import exceptions as gexc

from tests.fixtures_google import AR_REPOSITORY, PROJECT
from tests.stand_ins.counting_proxy import CountingProxy
from tests.stand_ins.registry import free_port

PARENT = f"projects/{PROJECT}/locations/us-central1"
MISSING = f"{PARENT}/repositories/missing"


def calls(principal: Any, attempts: int = 3) -> GoogleCalls:
    return GoogleCalls(Progress("text"), PROJECT, principal.email, attempts=attempts)


def raised(call: Any) -> gexc.GoogleAPICallError:
    with pytest.raises(gexc.GoogleAPICallError) as caught:
        call()
    return caught.value


def same_error(ours: gexc.GoogleAPICallError, theirs: gexc.GoogleAPICallError) -> None:
    """The same exception as the generated client's (its URL carries its own query parameters)."""
    assert type(ours) is type(theirs)
    assert ours.code == theirs.code
    assert ours.message.split(": ", 1)[1] == theirs.message.split(": ", 1)[1]
    assert ours.reason == theirs.reason and ours.domain == theirs.domain and ours.metadata == theirs.metadata
    assert ours.details == theirs.details


@pytest.fixture
def ours(google_cloud, google_admin) -> ArtifactRegistry:
    return ArtifactRegistry(google_admin.credentials(), google_cloud.endpoints.artifact_registry)


@pytest.fixture
def theirs(google_cloud, google_admin) -> Any:
    return google_cloud.artifact_registry_client(google_admin.credentials())


def test_a_disabled_api_is_the_real_clients_403_and_says_enable_it(google_cloud, google_admin, ours, theirs):
    google_cloud.state.set_api_enabled(PROJECT, "artifactregistry.googleapis.com", False)
    error = raised(lambda: ours.get_repository(AR_REPOSITORY))
    same_error(error, raised(lambda: theirs.get_repository(name=AR_REPOSITORY)))
    assert isinstance(error, gexc.Forbidden) and error.reason == "SERVICE_DISABLED"
    with pytest.raises(InvalidConfiguration) as refused:
        calls(google_admin)("read the repository", "artifactregistry.repositories.get", lambda: ours.get_repository(AR_REPOSITORY))
    assert refused.value.message.startswith("The artifactregistry.googleapis.com API is not enabled in project binder-test")


def test_permission_denied_is_the_real_clients_403(google_cloud, make_google_principal):
    nobody = make_google_principal("nobody", roles=[])
    google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    ours = ArtifactRegistry(nobody.credentials(), google_cloud.endpoints.artifact_registry)
    error = raised(lambda: ours.get_iam_policy(AR_REPOSITORY))
    same_error(error, raised(lambda: google_cloud.artifact_registry_client(nobody.credentials()).get_iam_policy(
        request={"resource": AR_REPOSITORY})))
    assert isinstance(error, gexc.Forbidden)


def test_a_missing_repository_is_the_real_clients_404_and_an_expected_answer(google_admin, ours, theirs):
    error = raised(lambda: ours.get_repository(MISSING))
    same_error(error, raised(lambda: theirs.get_repository(name=MISSING)))
    assert isinstance(error, gexc.NotFound)
    assert calls(google_admin)("read the repository", "artifactregistry.repositories.get",
                               lambda: ours.get_repository(MISSING), expect=(NOT_FOUND,)) == NOT_FOUND


def test_an_existing_repository_is_the_real_clients_409_and_an_expected_answer(google_cloud, google_admin, ours, theirs):
    google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    create = {"format": "DOCKER"}
    error = raised(lambda: ours.create_repository(PARENT, "binder", create))
    same_error(error, raised(lambda: theirs.create_repository(
        request={"parent": PARENT, "repository_id": "binder", "repository": {"format_": 1}})))
    assert isinstance(error, gexc.Conflict)
    assert calls(google_admin)("create the repository", "artifactregistry.repositories.create",
                               lambda: ours.create_repository(PARENT, "binder", create), expect=(CONFLICT,)) == CONFLICT


def test_429_and_503_are_retried_then_answered(google_cloud, google_admin, ours, monkeypatch):
    monkeypatch.setenv("BINDERHUB_REGISTRY_RETRY_SECONDS", "0.01")
    google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    google_cloud.state.fail_next("GetRepository", "RESOURCE_EXHAUSTED")
    google_cloud.state.fail_next("GetRepository", "UNAVAILABLE")
    assert isinstance(raised(lambda: ours.get_repository(AR_REPOSITORY)), gexc.TooManyRequests)
    assert isinstance(raised(lambda: ours.get_repository(AR_REPOSITORY)), gexc.ServiceUnavailable)
    google_cloud.state.fail_next("GetRepository", "UNAVAILABLE", times=2)
    repository = calls(google_admin)("read the repository", "artifactregistry.repositories.get",
                                     lambda: ours.get_repository(AR_REPOSITORY))
    assert repository["name"] == AR_REPOSITORY
    google_cloud.state.fail_next("GetRepository", "UNAVAILABLE", times=3)
    with pytest.raises(Unreachable) as outage:
        calls(google_admin)("read the repository", "artifactregistry.repositories.get", lambda: ours.get_repository(AR_REPOSITORY))
    assert outage.value.message == "Google kept answering 503 UNAVAILABLE to read the repository after 3 attempts; try again later."


def test_an_unreachable_artifact_registry_is_one_exit_3_sentence(google_admin):
    port = free_port()
    registry = ArtifactRegistry(google_admin.credentials(), f"http://127.0.0.1:{port}")
    with pytest.raises(Unreachable) as unreachable:
        calls(google_admin)("read the repository", "artifactregistry.repositories.get", lambda: registry.get_repository(AR_REPOSITORY))
    assert unreachable.value.exit_code == 3
    assert unreachable.value.message == (
        f"Cannot reach Artifact Registry at 127.0.0.1:{port} (NewConnectionError); check the cluster's egress to Google, "
        "or registry.google.endpoints.artifactRegistry.")


def test_an_unreachable_token_service_is_one_exit_3_sentence(google_cloud, google_admin):
    key = {**google_admin.key_info, "token_uri": f"http://127.0.0.1:{free_port()}/token"}
    from tests.stand_ins.google_cloud import credentials_from

    registry = ArtifactRegistry(credentials_from(key), google_cloud.endpoints.artifact_registry)
    with pytest.raises(Unreachable) as unreachable:
        calls(google_admin)("read the repository", "artifactregistry.repositories.get", lambda: registry.get_repository(AR_REPOSITORY))
    assert unreachable.value.message.startswith("Cannot reach Google's token service (")
    assert unreachable.value.message.endswith("; check the cluster's egress to Google.")


def test_proxies_from_the_environment_carry_the_token_and_api_requests(google_cloud, ours, monkeypatch):
    google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    with CountingProxy() as proxy:
        for name, value in proxy.environment().items():
            monkeypatch.setenv(name, value)
        assert ours.get_repository(AR_REPOSITORY)["name"] == AR_REPOSITORY
        assert [(r.method, r.path, r.status) for r in proxy.requests] == [
            ("POST", "/token", 200), ("GET", f"/v1/{AR_REPOSITORY}", 200)]
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        assert ours.get_repository(AR_REPOSITORY)["name"] == AR_REPOSITORY
        assert len(proxy.requests) == 2
