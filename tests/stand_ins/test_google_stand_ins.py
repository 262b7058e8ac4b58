"""The Google stand-ins, driven by the REAL clients (google-auth, iam_admin_v1 over gRPC,
artifactregistry_v1 over REST), so the hook's tests can trust them.

Why this exists: every later Google test assumes these servers answer like Google; these tests
pin the wire behaviour and the exception classes the real clients raise. No sleeps: propagation
is counted, failures are injected.

Run with ``python3 -m pytest -p tests.fixtures_google tests/stand_ins/test_google_stand_ins.py``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import google.auth
import google.auth.transport.grpc
import google.auth.transport.requests
import grpc
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.api_core import exceptions as gexc
from google.auth import credentials as ga_credentials
from google.auth import exceptions as auth_exceptions
from google.cloud import artifactregistry_v1, iam_admin_v1
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport
from google.iam.v1 import policy_pb2
from google.oauth2 import service_account
from google.rpc import error_details_pb2

from tests.fixtures_google import GooglePrincipal, MakeGooglePrincipal
from tests.stand_ins.google_cloud import (
    AR_API,
    CLOUD_PLATFORM_SCOPE,
    IAM_API,
    UPLOAD_ARTIFACTS,
    GoogleCloud,
    ar_repository_for,
    credentials_from,
    google_token_server,
)

PROJECT = "binder-test"
NUMBER = "123456789012"
# typed Any: mypy sees proto-plus enum members as plain ints
USER_MANAGED: Any = iam_admin_v1.ListServiceAccountKeysRequest.KeyType.USER_MANAGED
SYSTEM_MANAGED: Any = iam_admin_v1.ListServiceAccountKeysRequest.KeyType.SYSTEM_MANAGED
X509_PEM: Any = iam_admin_v1.ServiceAccountPublicKeyType.TYPE_X509_PEM_FILE
WRITER = "roles/artifactregistry.writer"
DOCKER = artifactregistry_v1.Repository.Format.DOCKER


def sa_name(account_id: str) -> str:
    return f"projects/{PROJECT}/serviceAccounts/{account_id}@{PROJECT}.iam.gserviceaccount.com"


def repo_name(repository: str = "binder", location: str = "us") -> str:
    return f"projects/{PROJECT}/locations/{location}/repositories/{repository}"


@pytest.fixture
def adc_credentials(google_adc: GooglePrincipal) -> Any:
    credentials, project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    assert project == PROJECT
    assert isinstance(credentials, service_account.Credentials)
    return credentials


@pytest.fixture
def iam(google_cloud: GoogleCloud, adc_credentials: Any) -> iam_admin_v1.IAMClient:
    return google_cloud.iam_client(adc_credentials)


@pytest.fixture
def ar(google_cloud: GoogleCloud,
       adc_credentials: Any) -> artifactregistry_v1.ArtifactRegistryClient:
    return google_cloud.artifact_registry_client(adc_credentials)


@pytest.fixture
def pusher(google_cloud: GoogleCloud) -> dict[str, str]:
    """A service account with no roles at all and one key (the hook's future push identity)."""
    return google_cloud.add_principal("binder-push", roles=())


def create_repo(ar: artifactregistry_v1.ArtifactRegistryClient,
                repository: str = "binder", location: str = "us") -> artifactregistry_v1.Repository:
    operation = ar.create_repository(parent=f"projects/{PROJECT}/locations/{location}",
                                     repository_id=repository,
                                     repository=artifactregistry_v1.Repository(format_=DOCKER))
    return operation.result(timeout=10)


def grant(ar: artifactregistry_v1.ArtifactRegistryClient, resource: str, role: str,
          member: str) -> policy_pb2.Policy:
    policy = ar.get_iam_policy(request={"resource": resource})
    policy.bindings.add(role=role, members=[member])
    return ar.set_iam_policy(request={"resource": resource, "policy": policy})


class StaticToken(ga_credentials.Credentials):
    """Credentials that always present the same (forged) token, even after a refresh."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._static = token

    def refresh(self, request: Any) -> None:
        self.token = self._static


def raises(call: Callable[[], object], expected: type[Exception]) -> Any:
    with pytest.raises(expected) as info:
        call()
    return info.value


# -- IAM over gRPC ---------------------------------------------------------------------------

def test_exact_adc_client_shape_creates_a_service_account_then_already_exists(
        google_cloud: GoogleCloud, google_adc: GooglePrincipal) -> None:
    credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    channel = google.auth.transport.grpc.secure_authorized_channel(
        credentials, google.auth.transport.requests.Request(), google_cloud.endpoints.iam_target,
        ssl_credentials=grpc.local_channel_credentials())
    transport = IAMGrpcTransport(channel=channel)
    client = iam_admin_v1.IAMClient(transport=transport)

    created = client.create_service_account(
        name=f"projects/{PROJECT}", account_id="binder-push",
        service_account=iam_admin_v1.ServiceAccount(display_name="BinderHub push"))
    assert created.email == f"binder-push@{PROJECT}.iam.gserviceaccount.com"
    assert created.name == sa_name("binder-push")
    assert len(created.unique_id) == 21 and created.display_name == "BinderHub push"

    err = raises(lambda: client.create_service_account(name=f"projects/{PROJECT}",
                                                       account_id="binder-push"),
                 gexc.AlreadyExists)
    assert err.message == (f"Service account binder-push already exists within project "
                           f"projects/{PROJECT}.")
    assert isinstance(err.details[0], error_details_pb2.ResourceInfo)
    assert err.details[0].resource_name == sa_name("binder-push")
    assert client.get_service_account(name=sa_name("binder-push")).unique_id == created.unique_id

    # the gRPC path authenticated with an OAuth token minted by the stand-in token endpoint
    assert [c.caller for c in google_cloud.state.calls_of("token")] == [google_adc.email]
    assert [(c.method, c.code) for c in google_cloud.state.calls if c.service == "iam"] == [
        ("CreateServiceAccount", "OK"), ("CreateServiceAccount", "ALREADY_EXISTS"),
        ("GetServiceAccount", "OK")]


def test_missing_service_account_is_not_found_but_wildcard_project_is_denied(
        iam: iam_admin_v1.IAMClient) -> None:
    err = raises(lambda: iam.get_service_account(name=sa_name("nobody-here")), gexc.NotFound)
    assert err.message == f"Service account {sa_name('nobody-here')} does not exist."
    raises(lambda: iam.get_service_account(
        name=f"projects/-/serviceAccounts/nobody-here@{PROJECT}.iam.gserviceaccount.com"),
        gexc.PermissionDenied)


def test_keys_create_list_get_disable_delete(google_cloud: GoogleCloud,
                                             iam: iam_admin_v1.IAMClient,
                                             pusher: dict[str, str]) -> None:
    name = sa_name("binder-push")
    key = iam.create_service_account_key(name=name)
    key_file = json.loads(key.private_key_data)  # over gRPC: the raw key-file JSON bytes
    assert key.name == f"{name}/keys/{key_file['private_key_id']}"
    assert key.private_key_type == \
        iam_admin_v1.ServiceAccountPrivateKeyType.TYPE_GOOGLE_CREDENTIALS_FILE
    assert key.key_type == USER_MANAGED and not key.disabled
    assert key_file["type"] == "service_account" and key_file["project_id"] == PROJECT
    assert key_file["client_email"] == pusher["client_email"]
    assert key_file["token_uri"] == google_cloud.endpoints.token_uri
    assert key_file["private_key"].startswith("-----BEGIN PRIVATE KEY-----")

    user_keys = iam.list_service_account_keys(name=name, key_types=[USER_MANAGED]).keys
    assert sorted(k.name.rsplit("/", 1)[1] for k in user_keys) == sorted(
        [pusher["private_key_id"], key_file["private_key_id"]])
    assert all(not k.private_key_data for k in user_keys)
    everything = iam.list_service_account_keys(name=name).keys
    assert [k.key_type for k in everything].count(SYSTEM_MANAGED) == 1

    pem = iam.get_service_account_key(
        name=key.name,
        public_key_type=X509_PEM).public_key_data
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")

    credentials = credentials_from(key_file)
    credentials.refresh(google.auth.transport.requests.Request())
    iam.disable_service_account_key(name=key.name)
    assert iam.get_service_account_key(name=key.name).disabled
    err = raises(lambda: credentials_from(key_file).refresh(
        google.auth.transport.requests.Request()), auth_exceptions.RefreshError)
    assert "invalid_grant: Invalid JWT Signature." in str(err)

    iam.delete_service_account_key(name=key.name)
    remaining = iam.list_service_account_keys(name=name, key_types=[USER_MANAGED]).keys
    assert [k.name.rsplit("/", 1)[1] for k in remaining] == [pusher["private_key_id"]]
    err = raises(lambda: iam.get_service_account_key(name=key.name), gexc.NotFound)
    assert err.message == f"Service account key {key_file['private_key_id']} does not exist."
    assert [c.method for c in google_cloud.state.writes()] == [
        "CreateServiceAccountKey", "DisableServiceAccountKey", "DeleteServiceAccountKey"]


def test_the_eleventh_user_managed_key_fails_the_precondition(
        iam: iam_admin_v1.IAMClient, pusher: dict[str, str]) -> None:
    name = sa_name("binder-push")
    for _ in range(9):  # the fixture made the first
        iam.create_service_account_key(name=name)
    err = raises(lambda: iam.create_service_account_key(name=name), gexc.FailedPrecondition)
    assert err.message == "Precondition check failed."
    assert len(iam.list_service_account_keys(name=name, key_types=[USER_MANAGED]).keys) == 10


def test_org_policy_blocks_key_creation(google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient,
                                        pusher: dict[str, str]) -> None:
    google_cloud.state.key_creation_blocked = True
    err = raises(lambda: iam.create_service_account_key(name=sa_name("binder-push")),
                 gexc.FailedPrecondition)
    assert err.message == "Key creation is not allowed on this service account."
    violation = err.details[0].violations[0]
    assert violation.type == "constraints/iam.disableServiceAccountKeyCreation"
    assert violation.subject.startswith(sa_name("binder-push") + "?configvalue=")


def test_permission_denied_names_the_missing_permission(
        google_cloud: GoogleCloud, make_google_principal: MakeGooglePrincipal,
        pusher: dict[str, str]) -> None:
    weak = make_google_principal("sa-admin-only", roles=["roles/iam.serviceAccountAdmin"])
    client = google_cloud.iam_client(weak.credentials())
    client.get_service_account(name=sa_name("binder-push"))
    err = raises(lambda: client.create_service_account_key(name=sa_name("binder-push")),
                 gexc.PermissionDenied)
    assert err.message == ("Permission 'iam.serviceAccountKeys.create' denied on resource "
                           "(or it may not exist).")
    assert err.reason == "IAM_PERMISSION_DENIED"
    assert google_cloud.state.writes() == [google_cloud.state.calls[-1]]
    assert google_cloud.state.writes(include_failed=False) == []


def test_disabled_iam_api_is_permission_denied_with_service_disabled(
        google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient) -> None:
    google_cloud.state.set_api_enabled(PROJECT, IAM_API, False)
    err = raises(lambda: iam.create_service_account(name=f"projects/{PROJECT}",
                                                    account_id="binder-push"),
                 gexc.PermissionDenied)
    assert err.message.startswith(
        f"Identity and Access Management (IAM) API has not been used in project {NUMBER} "
        "before or it is disabled. Enable it by visiting https://console.developers.google.com"
        f"/apis/api/iam.googleapis.com/overview?project={NUMBER} then retry.")
    assert err.reason == "SERVICE_DISABLED"
    assert err.metadata["consumer"] == f"projects/{NUMBER}"


def test_bad_or_missing_token_is_unauthenticated(google_cloud: GoogleCloud) -> None:
    client = google_cloud.iam_client(StaticToken("ya29.forged"))
    err = raises(lambda: client.get_service_account(name=sa_name("anyone-at-all")),
                 gexc.Unauthenticated)
    assert err.message.startswith("Request had invalid authentication credentials.")
    plain = iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=grpc.secure_channel(
        google_cloud.endpoints.iam_target, grpc.local_channel_credentials())))
    err = raises(lambda: plain.get_service_account(name=sa_name("anyone-at-all"),
                                                   retry=None), gexc.Unauthenticated)
    assert err.message.startswith("Request is missing required authentication credential.")


def test_injected_grpc_failures_then_recovery(google_cloud: GoogleCloud,
                                              iam: iam_admin_v1.IAMClient,
                                              pusher: dict[str, str]) -> None:
    google_cloud.state.fail_next("CreateServiceAccountKey", "RESOURCE_EXHAUSTED")
    google_cloud.state.fail_next("CreateServiceAccountKey", "UNAVAILABLE")
    name = sa_name("binder-push")
    raises(lambda: iam.create_service_account_key(name=name), gexc.ResourceExhausted)
    raises(lambda: iam.create_service_account_key(name=name), gexc.ServiceUnavailable)
    iam.create_service_account_key(name=name)
    assert [c.code for c in google_cloud.state.calls_of("CreateServiceAccountKey")] == [
        "RESOURCE_EXHAUSTED", "UNAVAILABLE", "OK"]


def test_iam_reads_over_rest_share_the_grpc_port_and_state(google_cloud: GoogleCloud,
                                                          iam: iam_admin_v1.IAMClient,
                                                          adc_credentials: Any) -> None:
    """The two reads the hook makes on REST, on the port the gRPC client uses: the same state,
    Google's JSON field names, enums by name, the same refusals in Google's REST error body."""
    name = sa_name("binder-push")
    iam.create_service_account(request={"name": f"projects/{PROJECT}", "account_id": "binder-push"})
    key = iam.create_service_account_key(name=name)
    rest = f"http://{google_cloud.endpoints.iam_target}/v1/{name}"
    session = google.auth.transport.requests.AuthorizedSession(adc_credentials)
    account = session.get(rest).json()
    assert account["email"] == f"binder-push@{PROJECT}.iam.gserviceaccount.com"
    assert account["uniqueId"] == iam.get_service_account(name=name).unique_id
    keys = session.get(rest + "/keys", params={"keyTypes": "USER_MANAGED"}).json()["keys"]
    assert [(k["name"], k["keyType"], k.get("disabled", False)) for k in keys] == [
        (key.name, "USER_MANAGED", False)]
    assert keys[0]["validAfterTime"].endswith("Z")
    every = session.get(rest + "/keys").json()["keys"]
    assert {k["keyType"] for k in every} == {"USER_MANAGED", "SYSTEM_MANAGED"}
    bad = session.get(rest + "/keys", params={"keyTypes": "ALL_OF_THEM"})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    missing = session.get(f"http://{google_cloud.endpoints.iam_target}/v1/{sa_name('nobody-here')}")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"code": 404, "status": "NOT_FOUND",
                                       "message": f"Service account {sa_name('nobody-here')} does not exist."}
    bare = httpx.get(rest)
    assert bare.status_code == 401
    assert bare.headers["WWW-Authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    assert bare.json()["error"]["status"] == "UNAUTHENTICATED"
    assert [c.method for c in google_cloud.state.calls if c.service == "iam"][-7:] == [
        "GetServiceAccount", "GetServiceAccount", "ListServiceAccountKeys", "ListServiceAccountKeys",
        "ListServiceAccountKeys", "GetServiceAccount", "GetServiceAccount"]


# -- OAuth token endpoint and google-auth ----------------------------------------------------

def test_google_auth_refreshes_from_a_stand_in_key(google_cloud: GoogleCloud,
                                                   pusher: dict[str, str]) -> None:
    credentials = credentials_from(pusher)
    credentials.refresh(google.auth.transport.requests.Request())
    assert credentials.valid and credentials.token.startswith("ya29.")
    assert google_cloud.state.authenticate(f"Bearer {credentials.token}") == pusher["client_email"]


def test_a_grant_without_scope_is_invalid_scope(pusher: dict[str, str]) -> None:
    unscoped = service_account.Credentials.from_service_account_info(pusher)
    err = raises(lambda: unscoped.refresh(google.auth.transport.requests.Request()),
                 auth_exceptions.RefreshError)
    assert "invalid_scope: Invalid OAuth scope or ID token audience provided." in str(err)


def test_deleted_key_and_foreign_private_key_get_invalid_jwt_signature(
        google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient, pusher: dict[str, str]) -> None:
    forged = dict(pusher, private_key=rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    err = raises(lambda: credentials_from(forged).refresh(google.auth.transport.requests.Request()),
                 auth_exceptions.RefreshError)
    assert err.args[1] == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}

    minted = credentials_from(pusher)
    minted.refresh(google.auth.transport.requests.Request())
    iam.delete_service_account_key(name=f"{sa_name('binder-push')}/keys/{pusher['private_key_id']}")
    err = raises(lambda: credentials_from(pusher).refresh(google.auth.transport.requests.Request()),
                 auth_exceptions.RefreshError)
    assert err.args[1] == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    # deleting a key does not revoke access tokens already minted with it (Google's docs)
    assert google_cloud.state.authenticate(f"Bearer {minted.token}") == pusher["client_email"]


# -- Artifact Registry over REST -------------------------------------------------------------

def test_create_repository_operation_get_and_already_exists(
        google_cloud: GoogleCloud, ar: artifactregistry_v1.ArtifactRegistryClient) -> None:
    parent = f"projects/{PROJECT}/locations/us"
    operation = ar.create_repository(parent=parent, repository_id="binder",
                                     repository=artifactregistry_v1.Repository(
                                         format_=DOCKER, description="BinderHub images"))
    repository = operation.result(timeout=10)
    assert repository.name == repo_name()
    assert repository.format_ == DOCKER and repository.description == "BinderHub images"
    assert repository.registry_uri == f"us-docker.pkg.dev/{PROJECT}/binder"
    assert ar.get_operation(request={"name": operation.operation.name}).done
    assert ar.get_repository(name=repo_name()).registry_uri == repository.registry_uri

    err = raises(lambda: ar.create_repository(parent=parent, repository_id="binder",
                                              repository=artifactregistry_v1.Repository(
                                                  format_=DOCKER)), gexc.Conflict)
    assert type(err) is gexc.Conflict  # REST maps by HTTP code: 409 -> Conflict, not AlreadyExists
    assert err.response.json()["error"]["status"] == "ALREADY_EXISTS"
    assert err.message.endswith("the repository already exists")
    gcr = create_repo(ar, "gcr.io", "us")
    assert gcr.registry_uri == f"gcr.io/{PROJECT}"
    assert [(c.method, c.code) for c in google_cloud.state.writes()] == [
        ("CreateRepository", "OK"), ("CreateRepository", "ALREADY_EXISTS"),
        ("CreateRepository", "OK")]


def test_a_queued_concurrent_change_makes_the_repository_readers_etag_stale(
        google_cloud: GoogleCloud, ar: artifactregistry_v1.ArtifactRegistryClient, pusher: dict[str, str]) -> None:
    create_repo(ar)
    google_cloud.state.concurrent_repository_policy_changes.append(("roles/artifactregistry.reader", "user:other@example.org"))
    read = ar.get_iam_policy(request={"resource": repo_name()})
    assert not read.bindings  # read before the other admin's write
    read.bindings.add(role=WRITER, members=[f"serviceAccount:{pusher['client_email']}"])
    raises(lambda: ar.set_iam_policy(request={"resource": repo_name(), "policy": read}), gexc.Conflict)
    again = ar.get_iam_policy(request={"resource": repo_name()})
    assert [(b.role, list(b.members)) for b in again.bindings] == [("roles/artifactregistry.reader", ["user:other@example.org"])]


def test_iam_policy_read_modify_write_and_etag_conflict(
        ar: artifactregistry_v1.ArtifactRegistryClient, pusher: dict[str, str]) -> None:
    create_repo(ar)
    stale = ar.get_iam_policy(request={"resource": repo_name()})
    assert stale.etag == b"\x00\x20\x01" and not stale.bindings  # "ACAB", like Google
    member = f"serviceAccount:{pusher['client_email']}"
    updated = grant(ar, repo_name(), WRITER, member)
    assert updated.etag != stale.etag
    assert [(b.role, list(b.members)) for b in updated.bindings] == [(WRITER, [member])]

    stale.bindings.add(role="roles/artifactregistry.reader", members=[member])
    err = raises(lambda: ar.set_iam_policy(request={"resource": repo_name(), "policy": stale}),
                 gexc.Conflict)
    assert type(err) is gexc.Conflict  # not gexc.Aborted: REST picks the class by HTTP code
    assert err.response.json() == {"error": {
        "code": 409, "status": "ABORTED",
        "message": ("There were concurrent policy changes. Please retry the whole "
                    "read-modify-write with exponential backoff.")}}
    assert ar.get_iam_policy(request={"resource": repo_name()}).etag == updated.etag

    policy = ar.get_iam_policy(request={"resource": repo_name()})
    ghost = f"serviceAccount:ghost@{PROJECT}.iam.gserviceaccount.com"
    policy.bindings.add(role=WRITER, members=[ghost])
    err = raises(lambda: ar.set_iam_policy(request={"resource": repo_name(), "policy": policy}),
                 gexc.BadRequest)
    assert err.message.endswith(
        "Service account ghost@binder-test.iam.gserviceaccount.com does not exist.")


def test_a_new_service_account_is_unknown_to_set_iam_policy_until_it_propagates(
        google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient,
        ar: artifactregistry_v1.ArtifactRegistryClient, pusher: dict[str, str]) -> None:
    """Google answers 400 "Service account X does not exist." to a SetIamPolicy naming an
    account created moments before (vault-plugin-secrets-gcp#237, google-cloud-go#11482)."""
    google_cloud.state.propagation_checks = 2  # the account's delay follows it by default
    create_repo(ar)
    fresh = iam.create_service_account(name=f"projects/{PROJECT}", account_id="fresh-push")
    member = f"serviceAccount:{fresh.email}"
    for _ in range(2):
        err = raises(lambda: grant(ar, repo_name(), WRITER, member), gexc.BadRequest)
        assert err.response.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert err.message.endswith(f"Service account {fresh.email} does not exist.")
    assert member in grant(ar, repo_name(), WRITER, member).bindings[0].members
    # reads see it at once here (they are eventually consistent too at Google; not modelled)
    assert iam.get_service_account(name=fresh.name).email == fresh.email
    # accounts made by the set-up helpers are long-standing: known at once
    grant(ar, repo_name(), "roles/artifactregistry.reader", f"serviceAccount:{pusher['client_email']}")

    google_cloud.state.account_propagation_checks = 0
    other = iam.create_service_account(name=f"projects/{PROJECT}", account_id="other-push")
    grant(ar, repo_name(), "roles/artifactregistry.reader", f"serviceAccount:{other.email}")


def test_a_new_key_is_rejected_until_it_propagates(
        google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient, pusher: dict[str, str]) -> None:
    """IAM: "After you create a key, you might need to wait for 60 seconds or more before you
    perform another operation with the key"."""
    google_cloud.state.key_propagation_checks = 2
    key_file = json.loads(iam.create_service_account_key(name=sa_name("binder-push")).private_key_data)
    for _ in range(2):
        err = raises(lambda: credentials_from(key_file).refresh(google.auth.transport.requests.Request()),
                     auth_exceptions.RefreshError)
        assert err.args[1] == {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    credentials_from(key_file).refresh(google.auth.transport.requests.Request())

    # the same for self-signed JWTs (what the REST client sends) and for _json_key logins
    google_cloud.state.key_propagation_checks = 1
    second = json.loads(iam.create_service_account_key(name=sa_name("binder-push")).private_key_data)
    as_new_key = google_cloud.artifact_registry_client(credentials_from(second))
    # (AuthorizedSession refreshes and retries a 401: the retry found the key, then lacked the role)
    raises(lambda: as_new_key.get_repository(name=repo_name(), retry=None), gexc.Forbidden)
    assert [c.code for c in google_cloud.state.calls_of("GetRepository")] == ["UNAUTHENTICATED", "PERMISSION_DENIED"]
    google_cloud.state.key_propagation_checks = 1
    third = json.loads(iam.create_service_account_key(name=sa_name("binder-push")).private_key_data)
    authorizer = google_cloud.authorizer("us-docker.pkg.dev")
    assert authorizer.authenticate("_json_key", json.dumps(third)) is None
    assert authorizer.authenticate("_json_key", json.dumps(third)) == pusher["client_email"]
    # the set-up helper's key works at once
    assert authorizer.authenticate("_json_key", json.dumps(pusher)) == pusher["client_email"]


def test_iam_key_calls_on_a_new_account_answer_not_found_until_it_propagates(
        google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient, pusher: dict[str, str]) -> None:
    """Right after CreateServiceAccount, IAM's key calls may answer NOT_FOUND "Service account X
    does not exist.": ``account_read_checks`` key list or create calls, then
    ``account_key_creation_checks`` more key creations (a create can lag while the list answers)."""
    google_cloud.state.account_read_checks = 1
    google_cloud.state.account_key_creation_checks = 2
    fresh = iam.create_service_account(name=f"projects/{PROJECT}", account_id="fresh-push")
    err = raises(lambda: iam.list_service_account_keys(name=fresh.name, key_types=[USER_MANAGED]), gexc.NotFound)
    assert err.message == f"Service account {fresh.name} does not exist."
    assert list(iam.list_service_account_keys(name=fresh.name, key_types=[USER_MANAGED]).keys) == []
    for _ in range(2):
        err = raises(lambda: iam.create_service_account_key(name=fresh.name), gexc.NotFound)
        assert err.message == f"Service account {fresh.name} does not exist."
    assert google_cloud.state.service_accounts[fresh.email].user_keys() == []  # a NOT_FOUND made no key
    key_file = json.loads(iam.create_service_account_key(name=fresh.name).private_key_data)
    assert key_file["client_email"] == fresh.email
    credentials_from(key_file).refresh(google.auth.transport.requests.Request())
    assert [c.code for c in google_cloud.state.calls_of("CreateServiceAccountKey")] == ["NOT_FOUND", "NOT_FOUND", "OK"]
    # accounts made by the set-up helpers are long-standing: their keys are made at once
    iam.create_service_account_key(name=sa_name("binder-push"))
    # the creation lag alone: the key list answers at once, only the creation lags
    google_cloud.state.account_read_checks = 0
    google_cloud.state.account_key_creation_checks = 1
    other = iam.create_service_account(name=f"projects/{PROJECT}", account_id="other-push")
    assert list(iam.list_service_account_keys(name=other.name, key_types=[USER_MANAGED]).keys) == []
    raises(lambda: iam.create_service_account_key(name=other.name), gexc.NotFound)
    iam.create_service_account_key(name=other.name)


def test_upload_permission_appears_only_after_propagation(
        google_cloud: GoogleCloud, ar: artifactregistry_v1.ArtifactRegistryClient,
        pusher: dict[str, str]) -> None:
    google_cloud.state.propagation_checks = 2
    create_repo(ar)
    as_pusher = google_cloud.artifact_registry_client(credentials_from(pusher))
    wanted = [UPLOAD_ARTIFACTS, "artifactregistry.repositories.setIamPolicy"]

    def held() -> list[str]:
        return list(as_pusher.test_iam_permissions(
            request={"resource": repo_name(), "permissions": wanted}).permissions)

    assert held() == []
    grant(ar, repo_name(), WRITER, f"serviceAccount:{pusher['client_email']}")
    assert [held(), held(), held(), held()] == [[], [], [UPLOAD_ARTIFACTS], [UPLOAD_ARTIFACTS]]
    # a repository that does not exist yields an empty set, not NOT_FOUND (iam_policy.proto)
    assert not as_pusher.test_iam_permissions(
        request={"resource": repo_name("nope"), "permissions": wanted}).permissions
    # the GAPIC client sends a self-signed JWT for service-account credentials: no token call
    assert google_cloud.state.calls_of("token") == []
    assert {c.caller for c in google_cloud.state.calls_of("TestIamPermissions")} == {
        pusher["client_email"]}


def test_rest_errors_map_to_api_core_classes(
        google_cloud: GoogleCloud, ar: artifactregistry_v1.ArtifactRegistryClient,
        pusher: dict[str, str]) -> None:
    create_repo(ar)
    err = raises(lambda: ar.get_repository(name=repo_name("missing")), gexc.NotFound)
    assert err.message.endswith("Requested entity was not found.")

    as_pusher = google_cloud.artifact_registry_client(credentials_from(pusher))
    err = raises(lambda: as_pusher.get_iam_policy(request={"resource": repo_name()}),
                 gexc.Forbidden)
    assert not isinstance(err, gexc.PermissionDenied)  # 403 -> Forbidden over REST
    assert err.message.endswith(
        "Permission 'artifactregistry.repositories.getIamPolicy' denied on resource "
        f"'//artifactregistry.googleapis.com/{repo_name()}' (or it may not exist).")
    assert err.reason == "IAM_PERMISSION_DENIED"

    forged = google_cloud.artifact_registry_client(StaticToken("ya29.forged"))
    before = len(google_cloud.state.calls_of("GetRepository"))
    err = raises(lambda: forged.get_repository(name=repo_name()), gexc.Unauthorized)
    assert "Request had invalid authentication credentials." in err.message
    assert err.reason == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    # AuthorizedSession refreshes and retries on 401, twice, before giving up
    assert len(google_cloud.state.calls_of("GetRepository")) - before == 3
    bare = httpx.get(f"{google_cloud.endpoints.artifact_registry}/v1/{repo_name()}")
    assert bare.status_code == 401
    assert bare.headers["WWW-Authenticate"] == 'Bearer realm="https://accounts.google.com/"'
    assert bare.json()["error"]["message"].startswith(
        "Request is missing required authentication credential.")

    google_cloud.state.fail_next("GetRepository", "RESOURCE_EXHAUSTED")
    google_cloud.state.fail_next("GetRepository", "UNAVAILABLE")
    google_cloud.state.fail_next("GetRepository", "INTERNAL")
    err = raises(lambda: ar.get_repository(name=repo_name()), gexc.TooManyRequests)
    assert err.response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    raises(lambda: ar.get_repository(name=repo_name()), gexc.ServiceUnavailable)
    err = raises(lambda: ar.get_repository(name=repo_name()), gexc.InternalServerError)
    assert err.response.json()["error"] == {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}
    ar.get_repository(name=repo_name())

    google_cloud.state.set_api_enabled(PROJECT, AR_API, False)
    err = raises(lambda: ar.get_repository(name=repo_name()), gexc.Forbidden)
    assert err.reason == "SERVICE_DISABLED"
    assert err.metadata["service"] == AR_API
    assert err.message.endswith(
        f"Artifact Registry API has not been used in project {NUMBER} before or it is disabled. "
        "Enable it by visiting https://console.developers.google.com/apis/api/"
        f"artifactregistry.googleapis.com/overview?project={NUMBER} then retry. If you enabled "
        "this API recently, wait a few minutes for the action to propagate to our systems and "
        "retry.")


# -- call log ----------------------------------------------------------------------------------

def ensure_push_identity(iam: iam_admin_v1.IAMClient,
                         ar: artifactregistry_v1.ArtifactRegistryClient) -> None:
    """A minimal read-before-write provisioning run, as the hook should do it."""
    try:
        account = iam.get_service_account(name=sa_name("binder-push"))
    except gexc.NotFound:
        account = iam.create_service_account(name=f"projects/{PROJECT}", account_id="binder-push")
    if not iam.list_service_account_keys(name=account.name, key_types=[USER_MANAGED]).keys:
        iam.create_service_account_key(name=account.name)
    try:
        ar.get_repository(name=repo_name())
    except gexc.NotFound:
        create_repo(ar)
    member = f"serviceAccount:{account.email}"
    policy = ar.get_iam_policy(request={"resource": repo_name()})
    if not any(b.role == WRITER and member in b.members for b in policy.bindings):
        policy.bindings.add(role=WRITER, members=[member])
        ar.set_iam_policy(request={"resource": repo_name(), "policy": policy})


def test_an_idempotent_rerun_makes_zero_writes(
        google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient,
        ar: artifactregistry_v1.ArtifactRegistryClient) -> None:
    ensure_push_identity(iam, ar)
    assert [c.method for c in google_cloud.state.writes()] == [
        "CreateServiceAccount", "CreateServiceAccountKey", "CreateRepository", "SetIamPolicy"]
    before = len(google_cloud.state.calls)
    ensure_push_identity(iam, ar)
    rerun = google_cloud.state.calls[before:]
    assert [c.method for c in rerun] == [
        "GetServiceAccount", "ListServiceAccountKeys", "GetRepository", "GetIamPolicy"]
    assert len(google_cloud.state.writes()) == 4


# -- registry authorizer -----------------------------------------------------------------------

@pytest.mark.parametrize(("host", "path", "expected"), [
    ("gcr.io", "proj/app", ("proj", "us", "gcr.io", "app")),
    ("us.gcr.io", "proj/team/app", ("proj", "us", "us.gcr.io", "team/app")),
    ("eu.gcr.io", "proj/app", ("proj", "europe", "eu.gcr.io", "app")),
    ("asia.gcr.io", "proj/app", ("proj", "asia", "asia.gcr.io", "app")),
    ("europe-west1-docker.pkg.dev", "proj/repo/app/sub",
     ("proj", "europe-west1", "repo", "app/sub")),
    ("us-docker.pkg.dev", "proj/repo/app", ("proj", "us", "repo", "app")),
])
def test_registry_paths_map_to_ar_repositories(host: str, path: str,
                                               expected: tuple[str, str, str, str]) -> None:
    target = ar_repository_for(host, path)
    assert (target.project_id, target.location, target.repository_id, target.image) == expected
    assert target.create_on_push == host.endswith("gcr.io")


@pytest.mark.parametrize(("host", "path"), [
    ("docker.io", "library/app"), ("gcr.io", "proj"), ("us-docker.pkg.dev", "proj/repo")])
def test_unmappable_registry_paths_are_rejected(host: str, path: str) -> None:
    with pytest.raises(ValueError):
        ar_repository_for(host, path)


def test_json_key_gets_push_only_with_an_effective_writer_role(
        google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient,
        ar: artifactregistry_v1.ArtifactRegistryClient, pusher: dict[str, str]) -> None:
    google_cloud.state.propagation_checks = 1
    create_repo(ar)
    authorizer = google_cloud.authorizer("us-docker.pkg.dev")
    key_json = json.dumps(pusher)
    image = f"{PROJECT}/binder/app"
    wanted = ["pull", "push"]
    assert authorizer.authorize("_json_key", key_json, image, wanted) == set()
    grant(ar, repo_name(), WRITER, f"serviceAccount:{pusher['client_email']}")
    assert authorizer.authorize("_json_key", key_json, image, wanted) == set()  # propagating
    assert authorizer.authorize("_json_key", key_json, image, wanted) == {"pull", "push"}
    assert authorizer.authorize("_json_key_base64", base64.b64encode(key_json.encode()).decode(),
                                image, ["push", "delete"]) == {"push"}
    token = credentials_from(pusher)
    token.refresh(google.auth.transport.requests.Request())
    assert authorizer.authorize("oauth2accesstoken", token.token, image, ["push"]) == {"push"}

    foreign = dict(pusher, private_key=rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    assert authorizer.authorize("_json_key", json.dumps(foreign), image, wanted) is None
    assert authorizer.authorize("_json_key", "not json", image, wanted) is None
    assert authorizer.authorize("someone", "password", image, wanted) is None
    iam.delete_service_account_key(name=f"{sa_name('binder-push')}/keys/{pusher['private_key_id']}")
    assert authorizer.authorize("_json_key", key_json, image, wanted) is None


def test_gcr_push_to_a_missing_repository_needs_create_on_push(
        google_cloud: GoogleCloud, pusher: dict[str, str]) -> None:
    authorizer = google_cloud.authorizer("gcr.io")
    key_json = json.dumps(pusher)
    email = pusher["client_email"]
    google_cloud.state.grant_project_role(PROJECT, email, WRITER)
    assert authorizer.authorize("_json_key", key_json, f"{PROJECT}/app", ["push"]) == set()
    google_cloud.state.grant_project_role(PROJECT, email,
                                          "roles/artifactregistry.createOnPushWriter")
    assert authorizer.authorize("_json_key", key_json, f"{PROJECT}/app", ["push"]) == {"push"}


def test_token_server_adapter_delegates_to_the_authorizer(
        google_cloud: GoogleCloud, pusher: dict[str, str]) -> None:
    google_cloud.state.add_repository(PROJECT, "us", "binder")
    google_cloud.state.grant_repository_role(repo_name(), pusher["client_email"], WRITER)
    server = google_token_server(google_cloud.authorizer("us-docker.pkg.dev")).start()
    try:
        scope = f"repository:{PROJECT}/binder/app:pull,push,delete"
        answer = httpx.get(f"{server.realm}", params={"service": server.service, "scope": scope},
                           auth=("_json_key", json.dumps(pusher)))
        assert answer.status_code == 200
        claims = server.decode(answer.json()["token"])
        assert claims["access"] == [{"type": "repository", "name": f"{PROJECT}/binder/app",
                                     "actions": ["pull", "push", "delete"]}]
        bad = httpx.get(f"{server.realm}", params={"service": server.service, "scope": scope},
                        auth=("_json_key", "{}"))
        assert bad.status_code == 401
    finally:
        server.stop()


def test_real_distribution_accepts_an_upload_from_a_google_writer(
        google_cloud: GoogleCloud, pusher: dict[str, str]) -> None:
    from tests.stand_ins.registry import Registry

    google_cloud.state.add_repository(PROJECT, "us", "binder")
    google_cloud.state.grant_repository_role(repo_name(), pusher["client_email"], WRITER)
    server = google_token_server(google_cloud.authorizer("us-docker.pkg.dev")).start()
    try:
        with Registry("token", token_server=server) as registry:
            image = f"{PROJECT}/binder/push-check"
            token = httpx.get(server.realm, auth=("_json_key", json.dumps(pusher)), params={
                "service": server.service, "scope": f"repository:{image}:pull,push,delete",
            }).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            upload = httpx.post(f"{registry.url}/v2/{image}/blobs/uploads/", headers=headers)
            assert upload.status_code == 202
            assert httpx.delete(upload.headers["Location"], headers=headers).status_code == 204
    finally:
        server.stop()


def test_a_queued_concurrent_change_makes_the_readers_etag_stale(
        google_cloud: GoogleCloud, iam: iam_admin_v1.IAMClient) -> None:
    account = iam.create_service_account(name=f"projects/{PROJECT}", account_id="policy-race")
    resource = f"projects/{PROJECT}/serviceAccounts/{account.email}"
    google_cloud.state.concurrent_policy_changes.append(("roles/iam.serviceAccountUser", "user:other@example.org"))
    read = iam.get_iam_policy(request={"resource": resource})
    assert not read.bindings  # read before the other admin's write
    read.bindings.add(role="roles/iam.serviceAccountTokenCreator", members=["user:me@example.org"])
    raises(lambda: iam.set_iam_policy(request={"resource": resource, "policy": read}), gexc.Aborted)
    again = iam.get_iam_policy(request={"resource": resource})
    assert [(b.role, list(b.members)) for b in again.bindings] == [("roles/iam.serviceAccountUser", ["user:other@example.org"])]
