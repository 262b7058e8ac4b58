"""How many HTTP requests one provision sends to the registry and its token service, seen through
a forward proxy (tests/stand_ins/counting_proxy.py): each is latency a user waits for inside
`helm install`, and a request that fails by design is noise in the registry's logs and alerts.
Basic auth: at most 3; token auth: at most 4; no request that carries credentials is refused
on the way to a success. Fewer requests must not mean fewer checks: the failures the dropped
requests used to catch are still caught, with the same sentence."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import generic_values, provision_offline
from tests.stand_ins.counting_proxy import CountingProxy, ProxiedRequest


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingProxy]:
    with CountingProxy() as started:
        for name, value in started.environment().items():
            monkeypatch.setenv(name, value)
        yield started


def summary(requests: list[ProxiedRequest]) -> list[tuple[str, str, int, bool]]:
    """(method, what, status, with credentials) per request; upload URLs shortened."""
    def what(path: str) -> str:
        return "/token" if path.endswith("/token") else ("upload" if "/blobs/uploads/" in path else path)
    return [(r.method, what(r.path), r.status, r.authenticated) for r in requests]


def test_basic_auth_proves_push_in_three_requests(tmp_path, htpasswd_registry, proxy):
    result = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))
    assert result.code == 0, result.stderr
    assert summary(proxy.requests) == [
        ("GET", "/v2/", 401, False),  # how the registry authenticates
        ("POST", "upload", 202, True),  # an upload session: what a push does first
        ("DELETE", "upload", 204, True),  # cancelled
    ]


def test_token_auth_with_delete_proves_push_and_cancels_in_four_requests(tmp_path, token_registry, token_server, proxy):
    result = provision_offline(tmp_path, generic_values(token_registry.url, "pusher", token_server.password("pusher")))
    assert result.code == 0, result.stderr
    assert summary(proxy.requests) == [
        ("GET", "/v2/", 401, False),
        ("GET", "/token", 200, True),
        ("POST", "upload", 202, True),
        ("DELETE", "upload", 204, True),
    ]
    assert "token grants delete,pull,push" in result.stderr


def test_token_without_delete_leaves_the_session_instead_of_a_delete_that_must_fail(tmp_path, make_registry, proxy):
    registry = make_registry("token", users={"builder": {"password": "builder-password-0123", "grants": [("*", {"pull", "push"})]}})
    result = provision_offline(tmp_path, generic_values(registry.url, "builder", "builder-password-0123"))
    assert result.code == 0, result.stderr
    assert summary(proxy.requests) == [("GET", "/v2/", 401, False), ("GET", "/token", 200, True), ("POST", "upload", 202, True)]
    assert "the token may not delete, so the empty upload session stays" in result.stderr


def test_no_request_with_credentials_is_refused_on_the_way_to_success(tmp_path, htpasswd_registry, token_registry, token_server, proxy):
    for values in (generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")),
                   generic_values(token_registry.url, "pusher", token_server.password("pusher"))):
        assert provision_offline(tmp_path, values).code == 0
    assert [r for r in proxy.requests if r.failed_authenticated] == []


def test_a_wrong_basic_password_is_still_a_rejected_login(tmp_path, htpasswd_registry, proxy):
    """The authenticated GET /v2/ is asked only when the upload session is refused: it still tells
    a wrong password (exit 1, the login) from an account that may not push."""
    result = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", "not-the-password-0123"))
    assert result.code == 1
    assert "rejected the login of user 'alice'" in result.last_line
    assert summary(proxy.requests) == [("GET", "/v2/", 401, False), ("POST", "upload", 401, True), ("GET", "/v2/", 401, True)]
