"""The keyless Google stand-ins behave like Google, checked with Google's own client libraries:
google-auth's impersonated credentials against IAM Credentials, google-auth's compute_engine
credentials against the GKE metadata server (GCE_METADATA_HOST), the IAM client's service-account
policy calls, and the registry token service's ``oauth2accesstoken`` logins with live and
expired tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.auth import impersonated_credentials
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.iam.v1 import iam_policy_pb2, policy_pb2

from tests.fixtures_google import AR_HOST, BUILDER, PROJECT
from tests.fixtures_workload_identity import HELPER_KSA, HELPER_NAMESPACE
from tests.stand_ins.google_cloud import CLOUD_PLATFORM_SCOPE
from tests.stand_ins.google_workload_identity import grant_on_account, workload_identity_member

MEMBER = workload_identity_member(PROJECT, HELPER_NAMESPACE, HELPER_KSA)


def impersonate(source, iam_credentials, target=BUILDER, lifetime=600):
    return impersonated_credentials.Credentials(
        source_credentials=source, target_principal=target, target_scopes=[CLOUD_PLATFORM_SCOPE], lifetime=lifetime,
        iam_endpoint_override=f"{iam_credentials.url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken")


def test_generate_access_token_only_for_who_may_act_as_the_account(google_cloud, iam_credentials, builder, google_admin):
    with pytest.raises(RefreshError) as denied:
        impersonate(google_admin.credentials(), iam_credentials).refresh(Request())
    assert "iam.serviceAccounts.getAccessToken" in str(denied.value)
    grant_on_account(google_cloud.state, BUILDER, f"serviceAccount:{google_admin.email}", "roles/iam.serviceAccountTokenCreator")
    credentials = impersonate(google_admin.credentials(), iam_credentials)
    credentials.refresh(Request())
    assert google_cloud.state.authenticate(f"Bearer {credentials.token}") == BUILDER
    with pytest.raises(RefreshError):  # Google caps lifetimes at an hour
        impersonate(google_admin.credentials(), iam_credentials, lifetime=3601).refresh(Request())


def test_the_iam_credentials_api_must_be_enabled(google_cloud, iam_credentials, builder, google_admin):
    grant_on_account(google_cloud.state, BUILDER, f"serviceAccount:{google_admin.email}", "roles/iam.serviceAccountTokenCreator")
    google_cloud.state.set_api_enabled(PROJECT, "iamcredentials.googleapis.com", False)
    with pytest.raises(RefreshError) as disabled:
        impersonate(google_admin.credentials(), iam_credentials).refresh(Request())
    assert "iamcredentials.googleapis.com" in str(disabled.value)


def _metadata_client(metadata, code: str) -> subprocess.CompletedProcess[str]:
    # google-auth reads GCE_METADATA_HOST when it is imported: a fresh process
    env = {**os.environ, "GCE_METADATA_HOST": metadata.host, "GCE_METADATA_IP": metadata.host}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


COMPUTE_ENGINE = """
import json
from google.auth import compute_engine
from google.auth.transport.requests import Request
c = compute_engine.Credentials()
c.refresh(Request())
print(json.dumps({"email": c.service_account_email, "token": c.token}))
"""


def test_metadata_server_answers_google_auth_for_an_annotated_service_account(google_cloud, builder, make_metadata):
    metadata = make_metadata(gcp_service_account=BUILDER)
    refused = _metadata_client(metadata, COMPUTE_ENGINE)
    assert refused.returncode != 0 and "getAccessToken" in refused.stderr  # no binding yet
    grant_on_account(google_cloud.state, BUILDER, MEMBER, "roles/iam.workloadIdentityUser")
    metadata.forget()
    done = _metadata_client(metadata, COMPUTE_ENGINE)
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["email"] == BUILDER
    assert google_cloud.state.authenticate(f"Bearer {reply['token']}") == BUILDER


def test_metadata_server_gives_an_unannotated_pod_its_federated_identity(google_cloud, make_metadata):
    metadata = make_metadata()
    done = _metadata_client(metadata, COMPUTE_ENGINE)
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["email"] == f"{PROJECT}.svc.id.goog"
    assert google_cloud.state.authenticate(f"Bearer {reply['token']}") == MEMBER


def test_metadata_server_needs_the_flavor_header(make_metadata):
    metadata = make_metadata()
    url = f"{metadata.url}/computeMetadata/v1/instance/service-accounts/default/token"
    assert httpx.get(url).status_code == 403
    assert httpx.get(url, headers={"Metadata-Flavor": "Google", "X-Forwarded-For": "10.0.0.1"}).status_code == 403
    assert httpx.get(url, headers={"Metadata-Flavor": "Google"}).status_code == 200


def test_service_account_policy_through_the_iam_client(google_cloud, builder, google_admin):
    iam = google_cloud.iam_client(google_admin.credentials())
    resource = f"projects/{PROJECT}/serviceAccounts/{BUILDER}"
    policy = iam.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=resource))
    assert list(policy.bindings) == []
    policy.bindings.append(policy_pb2.Binding(role="roles/iam.workloadIdentityUser", members=[MEMBER]))
    iam.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=policy))
    with pytest.raises(gexc.Aborted):  # a stale etag
        iam.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=policy))
    google_cloud.project.workload_identity_pool = False
    fresh = iam.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=resource))
    assert [list(b.members) for b in fresh.bindings] == [[MEMBER]]
    with pytest.raises(gexc.InvalidArgument) as no_pool:
        iam.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=fresh))
    assert "Identity Pool does not exist" in str(no_pool.value)


def test_registry_takes_a_live_access_token_and_refuses_an_expired_one(google_cloud, iam_credentials, builder, ar_registry):
    grant_on_account(google_cloud.state, BUILDER, MEMBER, "roles/iam.workloadIdentityUser")
    federated, _ = google_cloud.state.issue_token(MEMBER, 3600)
    reply = httpx.post(f"{iam_credentials.url}/v1/projects/-/serviceAccounts/{BUILDER}:generateAccessToken",
                       json={"scope": [CLOUD_PLATFORM_SCOPE], "lifetime": "600s"}, headers={"Authorization": f"Bearer {federated}"})
    assert reply.status_code == 200, reply.text
    token = reply.json()["accessToken"]
    realm = ar_registry.token_server.url + "/token"
    params = {"service": AR_HOST, "scope": f"repository:{PROJECT}/binder/img:push,pull"}
    assert httpx.get(realm, params=params, auth=("oauth2accesstoken", token)).status_code == 200
    later = google_cloud.state.clock() + 601
    google_cloud.state.clock = lambda: later
    assert httpx.get(realm, params=params, auth=("oauth2accesstoken", token)).status_code == 401


def test_a_new_binding_on_the_account_applies_after_propagation(google_cloud, iam_credentials, builder, google_admin):
    google_cloud.state.account_binding_checks = 2
    iam = google_cloud.iam_client(google_admin.credentials())
    resource = f"projects/{PROJECT}/serviceAccounts/{BUILDER}"
    policy = iam.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=resource))
    policy.bindings.append(
        policy_pb2.Binding(role="roles/iam.serviceAccountTokenCreator", members=[f"serviceAccount:{google_admin.email}"])
    )
    iam.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=policy))
    for _ in range(2):
        with pytest.raises(RefreshError):
            impersonate(google_admin.credentials(), iam_credentials).refresh(Request())
    impersonate(google_admin.credentials(), iam_credentials).refresh(Request())


def _generate(iam_credentials, federated: str, lifetime: object) -> httpx.Response:
    return httpx.post(f"{iam_credentials.url}/v1/projects/-/serviceAccounts/{BUILDER}:generateAccessToken",
                      json={"scope": [CLOUD_PLATFORM_SCOPE], "lifetime": lifetime}, headers={"Authorization": f"Bearer {federated}"})


def test_generate_access_token_wants_a_duration_with_its_unit(google_cloud, iam_credentials, builder):
    """proto3 JSON: a Duration is a string ending in "s"; Google refuses "600" and 600."""
    grant_on_account(google_cloud.state, BUILDER, MEMBER, "roles/iam.workloadIdentityUser")
    federated, _ = google_cloud.state.issue_token(MEMBER, 3600)
    for lifetime in ("600", 600, "10m"):
        reply = _generate(iam_credentials, federated, lifetime)
        assert (reply.status_code, reply.json()["error"]["status"]) == (400, "INVALID_ARGUMENT"), lifetime
    assert _generate(iam_credentials, federated, "600.5s").status_code == 200


def test_generate_access_token_answers_an_injected_failure_once(google_cloud, iam_credentials, builder):
    grant_on_account(google_cloud.state, BUILDER, MEMBER, "roles/iam.workloadIdentityUser")
    federated, _ = google_cloud.state.issue_token(MEMBER, 3600)
    google_cloud.state.fail_next("GenerateAccessToken", "RESOURCE_EXHAUSTED")
    refused = _generate(iam_credentials, federated, "600s")
    assert (refused.status_code, refused.json()["error"]["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert _generate(iam_credentials, federated, "600s").status_code == 200
