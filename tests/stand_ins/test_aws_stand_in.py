"""The AWS stand-in refuses what AWS refuses: the ECR registry gate takes only fresh tokens the
front issued for its own account, and only for repositories that exist in moto's ECR."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.helpers import push_image


def login(aws, registry_ids=None) -> httpx.BasicAuth:
    answer = aws.client("ecr").get_authorization_token(**({"registryIds": registry_ids} if registry_ids else {}))
    user, _, password = base64.b64decode(answer["authorizationData"][0]["authorizationToken"]).decode().partition(":")
    return httpx.BasicAuth(user, password)


def test_a_fresh_token_pushes_to_a_repository_that_exists(aws):
    aws.client("ecr").create_repository(repositoryName="binder/x")
    assert push_image(aws.registry.url, "binder/x", "v1", auth=login(aws)).startswith("sha256:")


def test_tokens_are_fresh_and_expire_after_12_hours(aws):
    data = aws.client("ecr").get_authorization_token()["authorizationData"][0]
    assert data["authorizationToken"] != aws.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    assert 11.9 * 3600 < data["expiresAt"].timestamp() - aws.clock() <= 12 * 3600


@pytest.mark.parametrize("case", ["expired", "foreign", "guessed", "moto's fixed token", "no repository"])
def test_the_registry_refuses(aws, case):
    ecr = aws.client("ecr")
    if case != "no repository":
        ecr.create_repository(repositoryName="binder/x")
    auth = login(aws)
    if case == "expired":
        aws.clock.advance(12 * 3600 + 1)
    elif case == "foreign":
        auth = login(aws, ["210987654321"])
    elif case == "guessed":
        auth = httpx.BasicAuth("AWS", "x" * 64)
    elif case == "moto's fixed token":
        auth = httpx.BasicAuth("AWS", f"{aws.account}-auth-token")
    with pytest.raises(httpx.HTTPStatusError) as refused:
        push_image(aws.registry.url, "binder/x", "v1", auth=auth)
    expected = 404 if case == "no repository" else 401
    assert refused.value.response.status_code == expected
    if expected == 401:
        assert 'service="ecr.amazonaws.com"' in refused.value.response.headers["WWW-Authenticate"]


def test_moto_refusals_pass_the_front_unchanged(aws):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        aws.client("ecr").describe_repositories(repositoryNames=["binder/absent"])
    assert refused.value.response["Error"]["Code"] == "RepositoryNotFoundException"
