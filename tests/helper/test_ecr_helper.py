"""The registry helper for registry.type ecr, against moto (ECR, STS) with the real boto3 client
and the real distribution behind the ECR registry gate: BinderHub's calls create repositories with
the values' lifecycle policy and scan on push, look repositories and images up in ECR, and get
one cached 12-hour token that pushes, renewed 6 hours before it ends; names outside the prefix and
callers without the helper's token are refused as for Google."""

from __future__ import annotations

import json
from contextlib import ExitStack

import httpx
import pytest
from binderhub_registry.helper_service.config import from_values
from binderhub_registry.values import chart_defaults, merge

from tests.helper_service_runner import running_helper
from tests.helpers import push_image

PATH = "binder/binder-"


class Clock:
    def __init__(self) -> None:
        import time

        self.now, self.offset = time.time, 0.0

    def __call__(self) -> float:
        return self.now() + self.offset


def values(aws, **ecr) -> dict:
    return merge(chart_defaults(), {
        "registry": {"type": "ecr", "prefix": "binder-", "ecr": {"region": aws.region, "registryUrl": aws.registry.url, **ecr}},
        "registryHelper": {"name": "binderhub-registry-helper", "namespace": "binder"},
    })


@pytest.fixture
def ecr_helper(aws, monkeypatch):
    for key, value in aws.env().items():
        monkeypatch.setenv(key, value)
    with ExitStack() as stack:
        def start(clock=None, **ecr):
            helper = stack.enter_context(running_helper(from_values(values(aws, **ecr)), clock=clock))
            client = stack.enter_context(httpx.Client(base_url=helper.url, headers={"Authorization": f"Bearer {helper.auth_token}"}))
            return helper, client
        yield start


def test_post_repo_creates_the_repository_with_the_lifecycle_policy_and_scan_on_push(aws, ecr_helper):
    _helper, client = ecr_helper(lifecycleDays=7, scanOnPush=True)
    name = f"{PATH}octocat-2dhello-2dworld-abc123"
    assert client.get(f"/repo/{name}").status_code == 404
    answer = client.post(f"/repo/{name}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"name": name, "repository": name}
    ecr = aws.client("ecr")
    (repository,) = ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    rule = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])["rules"][0]
    assert rule["selection"] == {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}
    assert rule["action"] == {"type": "expire"}
    assert client.get(f"/repo/{name}").status_code == 200
    assert client.post(f"/repo/{name}").status_code == 200  # again: nothing changes


def test_without_lifecycle_days_no_policy_and_no_scan(aws, ecr_helper):
    from botocore.exceptions import ClientError

    _helper, client = ecr_helper()
    assert client.post(f"/repo/{PATH}x").status_code == 200
    ecr = aws.client("ecr")
    assert ecr.describe_repositories(repositoryNames=[f"{PATH}x"])["repositories"][0]["imageScanningConfiguration"] == {"scanOnPush": False}
    with pytest.raises(ClientError, match="LifecyclePolicyNotFoundException"):
        ecr.get_lifecycle_policy(repositoryName=f"{PATH}x")


def test_binderhubs_flow_pushes_with_the_token_and_finds_the_image(aws, ecr_helper):
    _helper, client = ecr_helper()
    name = f"{PATH}repo-abc"
    assert client.post(f"/repo/{name}").status_code == 200
    token = client.post(f"/token/{name}:v1").json()
    assert token["username"] == "AWS" and token["registry"] == aws.registry.url.split("://")[1]
    assert client.get(f"/image/{name}:v1").status_code == 404
    digest = push_image(aws.registry.url, name, "v1", auth=httpx.BasicAuth(token["username"], token["password"]))
    found = client.get(f"/image/{name}:v1")
    assert found.status_code == 200 and found.json() == {"name": name, "tag": "v1", "digest": digest}


def test_one_authorization_token_serves_every_build_until_6_hours_before_its_end(aws, ecr_helper):
    clock = Clock()
    helper, client = ecr_helper(clock=clock)
    first = client.post(f"/token/{PATH}a:1").json()
    for n in range(20):
        assert client.post(f"/token/{PATH}b{n}:1").json()["password"] == first["password"]
    assert aws.front.token_calls == 1 and helper.app.tokens.mints == 1
    clock.offset = 6 * 3600 - 60
    assert client.post(f"/token/{PATH}a:1").json()["password"] == first["password"]
    clock.offset = 6 * 3600 + 1
    renewed = client.post(f"/token/{PATH}a:1").json()
    assert renewed["password"] != first["password"] and aws.front.token_calls == 2


def test_an_expired_token_no_longer_pushes(aws, ecr_helper):
    _helper, client = ecr_helper()
    name = f"{PATH}late"
    client.post(f"/repo/{name}")
    token = client.post(f"/token/{name}:1").json()
    aws.clock.advance(12 * 3600)
    with pytest.raises(httpx.HTTPStatusError) as refused:
        push_image(aws.registry.url, name, "1", auth=httpx.BasicAuth(token["username"], token["password"]))
    assert refused.value.response.status_code == 401


@pytest.mark.parametrize(("request_", "status"), [
    (("POST", "/repo/other/x"), 403), (("GET", "/image/binder/x:1"), 403), (("POST", "/token/binder:1"), 403),
    (("POST", "/repo/binder/binder-A"), 400),
])
def test_names_outside_the_prefix_are_refused_before_aws_is_asked(aws, ecr_helper, request_, status):
    _helper, client = ecr_helper()
    assert client.request(*request_).status_code == status
    assert aws.repositories() == set() and aws.front.token_calls == 0


def test_without_the_helpers_token_nothing_is_answered(aws, ecr_helper):
    helper, _client = ecr_helper()
    assert httpx.post(f"{helper.url}/token/{PATH}a:1").status_code == 401
    assert aws.front.token_calls == 0


def test_aws_unreachable_is_503_in_one_sentence(aws, ecr_helper):
    helper, client = ecr_helper()
    aws.front.stop()  # AWS goes away
    answer = client.post(f"/repo/{PATH}x")
    assert answer.status_code == 503
    assert answer.json()["error"].startswith("Cannot reach AWS to create the ECR repository binder/binder-x")
    metrics = httpx.get(f"{helper.url}/metrics").text
    assert 'binderhub_registry_helper_upstream_errors_total{reason="unreachable",upstream="ecr"} 1.0' in metrics


def test_serve_without_an_aws_identity_exits_2_in_one_sentence(aws, tmp_path):
    from tests.helpers import run_cli, write_values

    token = tmp_path / "token"
    token.write_text("t" * 32)
    path = write_values(tmp_path / "values.yaml", values(aws))
    env = aws.env(AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")
    result = run_cli("serve", "--values", str(path), "--auth-token-file", str(token), "--listen", "127.0.0.1:0", env=env)
    assert result.code == 2
    assert result.last_line.startswith("error: Cannot read the registry helper's AWS identity: no AWS identity is available")


def test_helm_tests_check_pushes_with_the_helpers_credentials_and_uninstall_removes_its_probe(aws, ecr_helper, tmp_path):
    from tests.helpers import run_cli, write_values

    helper, _client = ecr_helper()
    token = tmp_path / "token"
    token.write_text(helper.auth_token)
    path = write_values(tmp_path / "values.yaml", values(aws, account=aws.account))
    result = run_cli("check", "--values", str(path), "--registry-helper", helper.url, "--registry-helper-token-file", str(token))
    assert result.code == 0, result.stderr
    assert f"BinderHub can push to {aws.registry.url.split('://')[1]}/{PATH}" in result.stderr
    assert any(r.is_upload_start(f"{PATH}push-check") and r.status == 202 for r in aws.registry.seen())
    assert aws.repositories() == {f"{PATH}push-check"}  # made by the helper, as for BinderHub
    from binderhub_registry.progress import Progress
    from binderhub_registry.providers.ecr import EcrProvider
    from binderhub_registry.state import CurrentState

    EcrProvider(values(aws), Progress("json")).cleanup(CurrentState())
    assert aws.repositories() == set()


def test_the_account_of_an_ecr_registry_host_is_discovered_for_check(aws):
    from binderhub_registry.progress import Progress
    from binderhub_registry.providers.ecr import EcrProvider

    provider = EcrProvider(values(aws, registryUrl=""), Progress("json"))
    settings = provider.settings(provider.helper_discovered("210987654321.dkr.ecr.eu-west-1.amazonaws.com"))
    assert settings.image_prefix == f"210987654321.dkr.ecr.eu-west-1.amazonaws.com/{PATH}"
    assert provider.helper_discovered("registry.example.org").account == ""


def test_a_helper_identity_without_create_repository_is_a_502_naming_the_action(aws, ecr_helper, monkeypatch):
    from tests.hook.test_ecr import ALL_ACTIONS, user_with_policy

    keys = user_with_policy(aws, [a for a in ALL_ACTIONS if a != "ecr:CreateRepository"])
    for key, value in keys.items():
        monkeypatch.setenv(key, value)
    _helper, client = ecr_helper()
    answer = client.post(f"/repo/{PATH}x")
    assert answer.status_code == 502
    assert answer.json()["error"].startswith("The registry helper's AWS identity may not ecr:CreateRepository (to create")
    assert client.post(f"/token/{PATH}x:1").status_code == 200  # what it may do, it still does
