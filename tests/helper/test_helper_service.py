"""The registry helper as BinderHub's ExternalRegistryHelper uses it, against the Google stand-ins
(GKE metadata server, IAM Credentials, Artifact Registry API) and the real registry behind
Google's token decision: a launch finds the image missing, has the repository made ready, gets
credentials, the build pod pushes with them, and the next launch finds the image."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tornado.httpclient import HTTPClientError

from tests.binderhub_client import external_registry_helper
from tests.fixtures_google import AR_HOST, AR_REPOSITORY, BUILDER, PROJECT
from tests.fixtures_workload_identity import keyless_values
from tests.helper.conftest import MEMBER, helper_config
from tests.helper_load import run_load
from tests.helper_service_runner import running_helper
from tests.helpers import run_cli, write_values
from tests.stand_ins.build_pod import build_and_relaunch, build_pod_environment, build_pod_push
from tests.stand_ins.google_workload_identity import grant_on_account, minted_for


def body(error: HTTPClientError) -> str:
    assert error.response is not None
    return error.response.body.decode()


def image_spec(registry: Any, slug: str = "binder-gh-org-repo-abc123", tag: str = "0123abcd") -> str:
    return f"{registry.host}/{PROJECT}/binder/{slug}:{tag}"


def test_launch_build_push_then_found(keyless, google_cloud):
    helper, registry = keyless["helper"], keyless["registry"]
    spec = image_spec(registry)
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        found, credentials = binderhub.launch(spec)
        assert not found
        assert credentials is not None and credentials["username"] == "oauth2accesstoken"
        assert credentials["registry"] == registry.host
        digest = build_pod_push(build_pod_environment(credentials), spec)
        found_again, _ = binderhub.launch(spec)
        assert found_again
        assert [line for line in binderhub.log if line.startswith(("Checking", "Creating", "Getting"))] == [  # BinderHub's own log
            f"Checking whether repository exists: /repo/{PROJECT}/binder/binder-gh-org-repo-abc123",
            f"Creating repository: /repo/{PROJECT}/binder/binder-gh-org-repo-abc123",
            f"Getting registry token: /token/{PROJECT}/binder/binder-gh-org-repo-abc123:0123abcd",
            f"Checking whether repository exists: /repo/{PROJECT}/binder/binder-gh-org-repo-abc123",
            f"Checking whether image exists: /image/{PROJECT}/binder/binder-gh-org-repo-abc123:0123abcd",
        ]
        image = binderhub.get_image_manifest(f"{PROJECT}/binder/binder-gh-org-repo-abc123", "0123abcd")
        assert image["digest"] == digest
    # keyless: the builder never had a key, and the token was minted by IAM Credentials
    assert google_cloud.state.service_accounts[BUILDER].user_keys() == []
    assert google_cloud.state.calls_of("CreateServiceAccountKey") == []
    assert minted_for(google_cloud.state, BUILDER) == 1


def test_annotated_service_account_gets_the_builder_token_from_the_metadata_server(
        google_cloud, iam_credentials, builder, make_metadata, ar_registry):
    """iam.gke.io/gcp-service-account on the helper's ServiceAccount: GKE's metadata server mints
    the builder's token itself (generateAccessToken as the Workload Identity member)."""
    grant_on_account(google_cloud.state, BUILDER, MEMBER, "roles/iam.workloadIdentityUser")
    metadata = make_metadata(gcp_service_account=BUILDER)
    spec = image_spec(ar_registry, "binder-annotated")
    with running_helper(helper_config(google_cloud, iam_credentials, metadata, ar_registry)) as helper, \
            external_registry_helper(helper.url, helper.auth_token) as binderhub:
        build_and_relaunch(binderhub, spec)
    generated = google_cloud.state.calls_of("GenerateAccessToken")
    assert [(c.caller, c.code) for c in generated] == [(MEMBER, "OK")]


def test_without_the_workload_identity_binding_no_credentials(google_cloud, iam_credentials, builder, make_metadata, ar_registry):
    metadata = make_metadata()
    with running_helper(helper_config(google_cloud, iam_credentials, metadata, ar_registry)) as helper, \
            external_registry_helper(helper.url, helper.auth_token) as binderhub:
        with pytest.raises(HTTPClientError) as refused:
            binderhub.get_credentials(f"{PROJECT}/binder/binder-x", "t")
    assert refused.value.code == 502
    assert "may not mint tokens for " + BUILDER in body(refused.value)
    assert "workloadIdentityUser" in body(refused.value)
    assert [c.code for c in google_cloud.state.calls_of("GenerateAccessToken")] == ["PERMISSION_DENIED"]


def test_a_rate_limited_mint_is_asked_again(keyless, google_cloud):
    """IAM Credentials' 429 (quota) is transient: the helper retries it within the request."""
    helper = keyless["helper"]
    google_cloud.state.fail_next("GenerateAccessToken", "RESOURCE_EXHAUSTED")
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        assert binderhub.get_credentials(f"{PROJECT}/binder/binder-x", "t") is not None
    assert [c.code for c in google_cloud.state.calls_of("GenerateAccessToken")] == ["RESOURCE_EXHAUSTED", "OK"]


def test_tokens_only_for_the_path_binderhub_pushes_to(keyless):
    helper = keyless["helper"]
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        for name in ("other-project/binder/binder-x", f"{PROJECT}/other/binder-x", f"{PROJECT}/binder/../x/binder-x"):
            with pytest.raises(HTTPClientError) as refused:
                binderhub.get_credentials(name, "t")
            assert refused.value.code == 403, name


def test_wrong_or_missing_bearer_token_is_refused_and_health_needs_none(keyless):
    helper = keyless["helper"]
    name = f"{PROJECT}/binder/binder-x"
    with httpx.Client(base_url=helper.url) as client:
        assert client.post(f"/token/{name}:t").status_code == 401
        assert client.post(f"/token/{name}:t", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 403
        assert client.get("/healthz/live").json() == {"status": "ok"}
        assert client.get("/healthz/ready").status_code == 200
        assert client.get("/nothing", headers={"Authorization": f"Bearer {helper.auth_token}"}).status_code == 404


def _token_answer(helper: Any, name: str) -> dict[str, Any]:
    answer = httpx.post(f"{helper.url}/token/{name}:t", headers={"Authorization": f"Bearer {helper.auth_token}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_one_mint_serves_many_requests_until_shortly_before_expiry(keyless, google_cloud):
    helper = keyless["helper"]
    clock = {"now": 1_000_000.0}
    assert helper.app.tokens is not None
    helper.app.tokens.clock = lambda: clock["now"]
    google_cloud.state.clock = lambda: clock["now"]
    name = f"{PROJECT}/binder/binder-x"
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        first = {binderhub.get_credentials(name, f"t{i}")["password"] for i in range(5)}
        clock["now"] += 3600 - helper.app.config.min_remaining_seconds - 1
        same = binderhub.get_credentials(name, "later")["password"]
        expires = _token_answer(helper, name)["expires"]  # BinderHub keeps only username, password, registry
        clock["now"] += 2
        renewed = binderhub.get_credentials(name, "renewed")["password"]
    assert len(first) == 1 and same in first and renewed not in first
    assert expires == "1970-01-12T14:46:40Z"  # the served token's own expiry (minted at 1_000_000 for 3600 s)
    assert minted_for(google_cloud.state, BUILDER) == 2
    assert helper.app.tokens.mints == 2


def test_an_expired_token_no_longer_pushes(keyless, google_cloud):
    registry = keyless["registry"]
    helper = keyless["helper"]
    spec = image_spec(registry, "binder-expired")
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        _, credentials = binderhub.launch(spec)
    assert credentials
    later = google_cloud.state.clock() + 3601
    google_cloud.state.clock = lambda: later
    with pytest.raises(PermissionError, match="the token service answered 401"):
        build_pod_push(build_pod_environment(credentials), spec)


def test_repository_missing_in_artifact_registry_says_run_helm_upgrade(keyless, google_cloud):
    helper = keyless["helper"]
    del google_cloud.state.repositories[AR_REPOSITORY]
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        with pytest.raises(HTTPClientError) as refused:
            # the POST /repo BinderHub's get_image_manifest sends for a repository it does not find
            binderhub.run(binderhub.registry._request(f"/repo/{PROJECT}/binder/binder-x", method="POST", body=""))
    assert refused.value.code == 502
    assert "helm upgrade" in body(refused.value)


def test_no_token_in_the_helper_log(capfd, keyless):
    helper = keyless["helper"]
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        credentials = binderhub.get_credentials(f"{PROJECT}/binder/binder-x", "t")
    out = capfd.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["event"] == "request"]
    assert [(r["method"], r["status"]) for r in requests] == [("POST", 200)]
    assert credentials["password"] not in out and helper.auth_token not in out
    assert AR_HOST  # the registry host the stand-in authorizer maps paths with


def test_load_200_lookups_and_50_token_requests_make_one_mint(keyless, google_cloud):
    """Many launches at once: every lookup is answered (found or not), every token request gets
    the same token, and IAM Credentials is asked once."""
    helper, registry = keyless["helper"], keyless["registry"]
    names = [f"{PROJECT}/binder/binder-load-{i}" for i in range(10)]
    for name in names[:5]:
        with external_registry_helper(helper.url, helper.auth_token) as binderhub:
            _, credentials = binderhub.launch(f"{registry.host}/{name}:t0")
            build_pod_push(build_pod_environment(credentials), f"{registry.host}/{name}:t0")
    result = run_load(helper.url, helper.auth_token, names, lookups=200, tokens=50)
    assert len(result.lookup_statuses) == 200 and set(result.lookup_statuses) <= {200, 404}
    pushed = sum(1 for i in range(200) if i % len(names) < 5 and i % 4 == 0)  # lookup i asks names[i % 10]:t{i % 4}
    assert result.lookup_statuses.count(200) == pushed
    assert result.token_statuses == [200] * 50 and len(result.passwords) == 1
    assert minted_for(google_cloud.state, BUILDER) == 1 and helper.app.tokens.mints == 1


def test_helm_test_check_asks_the_helper_like_binderhub_and_pushes(keyless, google_cloud, iam_credentials, tmp_path):
    helper, registry = keyless["helper"], keyless["registry"]
    values = keyless_values(google_cloud, registry, iam_credentials)
    values_file = write_values(tmp_path / "values.yaml", values)
    token_file = tmp_path / "token"
    token_file.write_text(helper.auth_token)
    result = run_cli(
        "check", "--values", str(values_file), "--registry-helper", helper.url, "--registry-helper-token-file", str(token_file)
    )
    assert result.code == 0, result.stderr
    assert "with the registry helper's short-lived credentials" in result.stderr
    assert "ya29." not in result.output and helper.auth_token not in result.output
    token_file.write_text("not-the-helper-token-0123456789")
    refused = run_cli("check", "--values", str(values_file), "--registry-helper", helper.url,
                        "--registry-helper-token-file", str(token_file))
    assert refused.code == 1 and "refused" in refused.last_line
    google_cloud.state.repositories[AR_REPOSITORY].bindings.clear()  # the builder lost its writer role
    token_file.write_text(helper.auth_token)
    no_push = run_cli("check", "--values", str(values_file), "--registry-helper", helper.url,
                        "--registry-helper-token-file", str(token_file))
    assert no_push.code == 1, no_push.stderr


def test_concurrent_first_requests_share_one_mint(keyless, google_cloud):
    """A cold helper hit by 50 token requests at once asks IAM once (single flight)."""
    helper = keyless["helper"]
    result = run_load(helper.url, helper.auth_token, [f"{PROJECT}/binder/binder-cold"], lookups=0, tokens=50)
    assert result.token_statuses == [200] * 50 and len(result.passwords) == 1
    assert minted_for(google_cloud.state, BUILDER) == 1


def test_check_without_the_helper_in_keyless_mode_says_how(google_cloud, iam_credentials, ar_registry, tmp_path):
    values_file = write_values(tmp_path / "values.yaml", keyless_values(google_cloud, ar_registry, iam_credentials))
    config = tmp_path / "config.json"
    config.write_text('{"auths": {}}')
    result = run_cli("check", "--values", str(values_file), "--docker-config", str(config))
    assert result.code == 2 and "--registry-helper" in result.last_line


def test_a_repository_found_is_remembered_a_missing_one_is_not(keyless):
    """BinderHub asks /repo before every /image: a repository found is not asked of the registry
    again for REPOSITORY_CHECK_SECONDS; one not found is asked every time (a push creates it)."""
    from binderhub_registry.helper_service.registry_checks import REPOSITORY_CHECK_SECONDS  # noqa: PLC0415

    from tests.helper.test_helper_metrics import scrape, value  # noqa: PLC0415

    helper, registry = keyless["helper"], keyless["registry"]
    assert helper.app.checks is not None
    clock = {"now": helper.app.checks.clock()}
    helper.app.checks.clock = lambda: clock["now"]
    name = f"{PROJECT}/binder/binder-remembered"

    def registry_calls_for_repo() -> tuple[int, float]:
        with httpx.Client(base_url=helper.url, headers={"Authorization": f"Bearer {helper.auth_token}"}) as client:
            before = value(scrape(helper.url), "upstream_seconds_count", upstream="registry")
            status = client.get(f"/repo/{name}").status_code
            return status, value(scrape(helper.url), "upstream_seconds_count", upstream="registry") - before

    assert registry_calls_for_repo()[0] == 404  # the first also asks the registry's /v2/ challenge
    assert registry_calls_for_repo() == (404, 1)
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        _, credentials = binderhub.launch(f"{registry.host}/{name}:t0")
    build_pod_push(build_pod_environment(credentials or {}), f"{registry.host}/{name}:t0")
    assert registry_calls_for_repo() == (200, 1)
    assert registry_calls_for_repo() == (200, 0)
    clock["now"] += REPOSITORY_CHECK_SECONDS - 1
    assert registry_calls_for_repo() == (200, 0)
    clock["now"] += 2
    assert registry_calls_for_repo() == (200, 1)


def test_a_cached_pull_token_the_registry_refuses_is_replaced_once(keyless):
    """A pull token the registry no longer takes (401: its signing key changed, say) is dropped and a
    new one asked: the lookup still answers, and the refused token is not sent twice."""
    helper = keyless["helper"]
    name = f"{PROJECT}/binder/binder-refused"
    headers = {"Authorization": f"Bearer {helper.auth_token}"}
    assert httpx.get(f"{helper.url}/repo/{name}", headers=headers).status_code == 404
    checks = helper.app.checks
    checks._pull_tokens[name] = ("not-a-token-the-registry-signed", checks.clock() + 3600)
    assert httpx.get(f"{helper.url}/repo/{name}", headers=headers).status_code == 404
    assert checks._pull_tokens[name][0] != "not-a-token-the-registry-signed"


def test_an_access_token_the_registry_refuses_is_minted_again(keyless, google_cloud):
    """The registry's token service refusing the builder's access token (revoked before it expired)
    fails that request, and the next one mints a new access token instead of sending it again."""
    helper = keyless["helper"]
    headers = {"Authorization": f"Bearer {helper.auth_token}"}
    assert httpx.get(f"{helper.url}/repo/{PROJECT}/binder/binder-a", headers=headers).status_code == 404
    with google_cloud.state.lock:  # the builder's access tokens revoked
        tokens = google_cloud.state._tokens
        for token in [token for token, issued in tokens.items() if issued.principal == BUILDER]:
            del tokens[token]
    assert httpx.get(f"{helper.url}/repo/{PROJECT}/binder/binder-b", headers=headers).status_code == 502
    assert httpx.get(f"{helper.url}/repo/{PROJECT}/binder/binder-c", headers=headers).status_code == 404
    assert minted_for(google_cloud.state, BUILDER) == 2


def test_lookups_ask_the_registry_for_pull_access_only(keyless):
    """A lookup needs to read: its registry token is asked with the pull scope, never push."""
    helper = keyless["helper"]
    headers = {"Authorization": f"Bearer {helper.auth_token}"}
    assert httpx.get(f"{helper.url}/repo/{PROJECT}/binder/binder-scope", headers=headers).status_code == 404
    assert httpx.get(f"{helper.url}/image/{PROJECT}/binder/binder-scope:t", headers=headers).status_code == 404
    scopes = [scope for request in keyless["registry"].token_server.requests for scope in request.query.get("scope", [])]
    assert scopes and all(scope.endswith(":pull") for scope in scopes), scopes
