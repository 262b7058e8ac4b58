"""What the helper accepts: names and tags by distribution's reference grammar, on every endpoint
and before anything is asked upstream; the push path on every endpoint; the methods of each path;
one Authorization header. Sent on a bare socket, so nothing is normalised on the way."""

from __future__ import annotations

import pytest
from binderhub_registry.helper_service.app import MAX_BODY

from tests.fixtures_google import PROJECT
from tests.helper.raw_http import connect, request_bytes, send

PREFIX = f"{PROJECT}/binder/binder-"
NOT_REFERENCES = [
    ("GET", f"/repo/{PREFIX}x/"),  # a trailing slash: the registry's 301 was taken as found
    ("GET", f"/image/{PREFIX}x/:t"),
    ("GET", f"/image/{PREFIX}x:latest%3Fn=1"),  # a query string for the registry
    ("GET", f"/image/{PREFIX}x:%2e%2e"),  # /v2/<name>/manifests/.. is /v2/<name>
    ("GET", f"/image/{PREFIX}x:t%00"),
    ("GET", f"/image/{PREFIX}x:t%0d%0aX-Injected:%201"),
    ("GET", f"/image/{PREFIX}x"),  # no tag
    ("GET", f"/image/{PREFIX}x:"),
    ("GET", f"/image/{PREFIX}x:.t"),
    ("GET", f"/image/{PREFIX}x:{'t' * 129}"),
    ("GET", f"/repo/{PREFIX}X"),  # uppercase
    ("GET", f"/repo/{PREFIX}x//y"),
    ("GET", f"/repo/{PREFIX}x/../../other"),
    ("GET", f"/repo/{PREFIX}x-"),
    ("GET", f"/repo/{PREFIX}{'x' * 256}"),
    ("POST", f"/repo/{PREFIX}x/"),
    ("POST", f"/token/{PREFIX}x:t%3Fn=1"),
    ("POST", f"/token/{PREFIX}x:%2e%2e"),
    ("POST", f"/token/{PREFIX}x:a/b"),
    ("POST", f"/token/{PREFIX}x"),
    ("POST", f"/token/{PREFIX}x/:t"),
]


def _auth(helper) -> str:
    return f"Authorization: Bearer {helper.auth_token}"


def _upstream_calls(helper) -> float:
    samples = helper.app.metrics.registry.collect()
    return sum(s.value for family in samples for s in family.samples if s.name == "binderhub_registry_helper_upstream_seconds_count")


@pytest.mark.parametrize(("method", "target"), NOT_REFERENCES)
def test_names_and_tags_outside_the_reference_grammar_are_400(keyless, method, target):
    helper = keyless["helper"]
    status, _, body = send(helper.url, request_bytes(method, target, _auth(helper)))
    assert status == 400, body
    assert b"internal error" not in body and b"Injected" not in body
    assert _upstream_calls(helper) == 0  # refused before the registry or Google is asked


def test_valid_names_still_answer(keyless):
    helper = keyless["helper"]
    longest = PREFIX + "x" * (255 - len(PREFIX))  # the grammar's 255 characters exactly
    for method, target, expected in [("GET", f"/repo/{PREFIX}a.b_c__d--e/f", 404), ("GET", f"/image/{PREFIX}x:Latest_1.0-rc", 404),
                                     ("POST", f"/token/{PREFIX}x:{'t' * 128}", 200), ("GET", f"/repo/{longest}", 404),
                                     ("GET", f"/repo/{longest}x", 400)]:
        assert send(helper.url, request_bytes(method, target, _auth(helper)))[0] == expected, target


@pytest.mark.parametrize(("method", "path"), [("GET", "/repo/"), ("POST", "/repo/"), ("GET", "/image/"), ("POST", "/token/")])
def test_every_endpoint_is_limited_to_the_push_path(keyless, method, path):
    """Not /token alone: /repo and /image answer for nothing else in the project either."""
    helper = keyless["helper"]
    suffix = ":t" if path in ("/image/", "/token/") else ""
    for name in (f"{PROJECT}/other/binder-x", "other-project/binder/binder-x", f"{PROJECT}/binder/other-x"):
        status, _, body = send(helper.url, request_bytes(method, f"{path}{name}{suffix}", _auth(helper)))
        assert status == 403, (name, body)
    assert _upstream_calls(helper) == 0


@pytest.mark.parametrize(("path", "allowed"), [
    ("/healthz/live", "GET, HEAD"), ("/healthz/ready", "GET, HEAD"), ("/metrics", "GET, HEAD"),
    (f"/repo/{PREFIX}x", "GET, POST"), (f"/image/{PREFIX}x:t", "GET"), (f"/token/{PREFIX}x:t", "POST"),
])
def test_other_methods_are_405_with_allow(keyless, path, allowed):
    helper = keyless["helper"]
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        if method in allowed:
            continue
        status, headers, _ = send(helper.url, request_bytes(method, path, _auth(helper)))
        assert (status, headers.get("allow")) == (405, allowed), (method, path)


def test_health_and_metrics_answer_head_without_a_body(keyless):
    """The answer's Content-Length is the GET's, and nothing follows the headers (read to the close:
    ``send`` reads no body for HEAD, so it would not see one)."""
    helper = keyless["helper"]
    for path in ("/healthz/live", "/healthz/ready", "/metrics"):
        with connect(helper.url) as sock:
            sock.sendall(request_bytes("HEAD", path, "Connection: close"))
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"\r\ncontent-length: " in head.lower(), (path, head)
        assert body == b"", (path, body[:100])


def test_two_authorization_headers_are_400(keyless):
    helper = keyless["helper"]
    for pair in ([_auth(helper), "Authorization: Bearer wrong-token-0123456789"],
                 ["Authorization: Bearer wrong-token-0123456789", _auth(helper)], [_auth(helper), _auth(helper)]):
        status, _, body = send(helper.url, request_bytes("POST", f"/token/{PREFIX}x:t", *pair))
        assert status == 400 and b"one Authorization header" in body, (_, body)


def test_only_the_whole_token_is_accepted(keyless):
    """Not a prefix of it, nor it with more after it; 401 (with WWW-Authenticate) without a bearer
    token, 403 (without) for a wrong one."""
    helper = keyless["helper"]
    target = f"/repo/{PREFIX}x"
    for token in (helper.auth_token[:-1], helper.auth_token[:1], helper.auth_token + "x"):
        status, headers, _ = send(helper.url, request_bytes("GET", target, f"Authorization: Bearer {token}"))
        assert (status, "www-authenticate" in headers) == (403, False), token
    status, headers, _ = send(helper.url, request_bytes("GET", target))
    assert (status, headers.get("www-authenticate")) == (401, 'Bearer realm="binderhub-registry-helper"')
    assert send(helper.url, request_bytes("GET", target, _auth(helper)))[0] == 404
    for scheme in ("bearer", "BEARER"):  # an authentication scheme is case-insensitive (RFC 9110, 11.1)
        assert send(helper.url, request_bytes("GET", target, f"Authorization: {scheme} {helper.auth_token}"))[0] == 404, scheme


def test_a_body_of_max_body_bytes_is_read_one_more_is_413(keyless):
    helper = keyless["helper"]
    target = f"/repo/{PREFIX}x"
    assert send(helper.url, request_bytes("GET", target, _auth(helper), body=b"x" * MAX_BODY))[0] == 404
    status, headers, _ = send(helper.url, request_bytes("GET", target, _auth(helper), body=b"x" * (MAX_BODY + 1)))
    assert (status, headers.get("connection")) == (413, "close")
