"""The per-account Basic-auth registry refuses what Nexus/Artifactory-style registries refuse:
no login without credentials, no push without the push action (401 or 403), and passes real
pushes and pulls through to distribution for accounts allowed to make them."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures_registry import random_password
from tests.helpers import push_image


@pytest.fixture
def accounts():
    return {"reader": (random_password(), [("*", {"pull"})]),
            "builder": (random_password(), [("binder/*", {"pull", "push"})])}


def test_without_credentials_every_path_answers_401_with_a_basic_challenge(make_basic_auth_registry, accounts):
    registry = make_basic_auth_registry(accounts)
    for path in ("/v2/", "/v2/binder/x/tags/list"):
        response = httpx.get(registry.url + path)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert httpx.get(registry.url + "/v2/", auth=("reader", "wrong")).status_code == 401


@pytest.mark.parametrize(("status", "code"), [(401, "UNAUTHORIZED"), (403, "DENIED")])
def test_an_account_without_push_logs_in_and_pulls_but_cannot_start_an_upload(make_basic_auth_registry, accounts, status, code):
    registry = make_basic_auth_registry(accounts, denied_status=status)
    reader, builder = (("reader", accounts["reader"][0]), ("builder", accounts["builder"][0]))
    push_image(registry.url, "binder/image", "v1", auth=httpx.BasicAuth(*builder))
    assert httpx.get(registry.url + "/v2/", auth=reader).status_code == 200
    assert httpx.get(registry.url + "/v2/binder/image/manifests/v1", auth=reader,
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).status_code == 200
    refused = httpx.post(registry.url + "/v2/binder/image/blobs/uploads/", auth=reader)
    assert refused.status_code == status
    assert refused.json()["errors"][0]["code"] == code
    assert ("WWW-Authenticate" in refused.headers) == (status == 401)
    with pytest.raises(httpx.HTTPStatusError):
        push_image(registry.url, "other/image", "v1", auth=httpx.BasicAuth(*builder))


def test_cancelling_an_upload_needs_push_and_works_for_a_pusher(make_basic_auth_registry, accounts):
    registry = make_basic_auth_registry(accounts)
    builder = ("builder", accounts["builder"][0])
    started = httpx.post(registry.url + "/v2/binder/x/blobs/uploads/", auth=builder)
    assert started.status_code == 202
    location = started.headers["Location"]
    assert location.startswith(registry.url)  # Location names the stand-in, not distribution behind it
    assert httpx.delete(location, auth=("reader", accounts["reader"][0])).status_code == 403
    assert httpx.delete(location, auth=builder).status_code == 204
    assert [(r.method, r.status) for r in registry.seen() if "/blobs/uploads/" in r.path] == [
        ("POST", 202), ("DELETE", 403), ("DELETE", 204)]


def test_echoing_registries_quote_the_authorization_header_in_refusals(make_basic_auth_registry, accounts):
    registry = make_basic_auth_registry(accounts, echo_authorization=True)
    refused = httpx.post(registry.url + "/v2/binder/x/blobs/uploads/", auth=("reader", accounts["reader"][0]))
    assert "Authorization: Basic " in refused.json()["errors"][0]["message"]


def test_a_project_that_does_not_exist_answers_404_name_unknown(make_basic_auth_registry, accounts):
    registry = make_basic_auth_registry(accounts, projects=["team/*"])
    builder = httpx.BasicAuth("builder", accounts["builder"][0])
    missing = httpx.post(registry.url + "/v2/binder/image/blobs/uploads/", auth=builder)
    assert (missing.status_code, missing.json()["errors"][0]["code"]) == (404, "NAME_UNKNOWN")
    assert httpx.post(registry.url + "/v2/binder/image/blobs/uploads/").status_code == 401  # login first, as before
