"""The hostile registry really misbehaves, so a hook test that passes against it is not passing
against a polite server."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.stand_ins.hostile_registry import ECHOED_TOKEN, HostileRegistry


def raw_get(registry: HostileRegistry, limit: int, until: bytes = b"") -> bytes:
    """Up to ``limit`` bytes of the raw answer to GET /v2/ (or until ``until`` arrives)."""
    with socket.create_connection(("127.0.0.1", registry.port), timeout=5) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while len(received) < limit:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
            if until and until in received:
                break
    return received


@pytest.mark.parametrize("mode", ["endless-body", "endless-redirect-body"])
def test_endless_bodies_go_on_past_any_cap(mode):
    with HostileRegistry(mode) as registry:
        assert len(raw_get(registry, 16 * 1024 * 1024)) >= 16 * 1024 * 1024


def test_trickling_headers_arrive_a_byte_at_a_time():
    with HostileRegistry("trickle-headers") as registry, socket.create_connection(("127.0.0.1", registry.port), timeout=5) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(1024)
        assert first.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" not in first
        assert sock.recv(1024) == b"a"  # then one byte per read, never the end of the headers


@pytest.mark.parametrize(("mode", "status", "location"), [
    ("redirect-loop", 302, "/v2/again"), ("malformed-location", 302, "http://[::1"), ("non-http-location", 302, "ftp://127.0.0.1/v2/"),
])
def test_redirecting_modes_answer_the_location_they_claim(mode, status, location):
    with HostileRegistry(mode) as registry:  # raw: httpx itself refuses to parse a malformed Location
        head = raw_get(registry, 4096, until=b"\r\n\r\n").split(b"\r\n\r\n")[0].decode()
    assert head.startswith(f"HTTP/1.1 {status}") and f"\r\nLocation: {location}" in head


def test_html_and_token_modes_answer_what_they_claim():
    with HostileRegistry("html-200") as registry:
        assert httpx.get(f"{registry.url}/v2/").headers["Content-Type"].startswith("text/html")
    with HostileRegistry("opaque-token-refused") as registry:
        challenge = httpx.get(f"{registry.url}/v2/").headers["WWW-Authenticate"]
        token = httpx.get(f"{registry.url}/token").json()["token"]
        upload = httpx.post(f"{registry.url}/v2/x/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert challenge.startswith("Bearer realm=") and token.count(".") != 2
    assert 'error="invalid_token"' in upload.headers["WWW-Authenticate"]


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown mode"):
        HostileRegistry("polite")


def test_upload_elsewhere_names_another_origin_and_records_what_each_origin_received():
    with HostileRegistry("upload-elsewhere") as registry:
        assert httpx.get(f"{registry.url}/v2/").headers["WWW-Authenticate"].startswith("Basic")
        upload = httpx.post(f"{registry.url}/v2/x/blobs/uploads/", auth=("alice", "pw"))
        cancel = httpx.delete(upload.headers["Location"])
        elsewhere = f"http://localhost:{registry.port}/"
    assert upload.status_code == 202 and upload.headers["Location"].startswith(elsewhere)
    assert cancel.status_code == 204
    assert [(seen.method, seen.host.split(":")[0], seen.authorization is not None) for seen in registry.seen] == [
        ("GET", "127.0.0.1", False), ("POST", "127.0.0.1", True), ("DELETE", "localhost", False)]


def test_retry_then_trickle_asks_to_come_back_then_trickles():
    with HostileRegistry("retry-then-trickle") as registry:
        first = httpx.get(f"{registry.url}/v2/")
        head = raw_get(registry, 64)
    assert (first.status_code, first.headers["Retry-After"]) == (503, "5")
    assert head.startswith(b"HTTP/1.1 200 OK\r\nX-Slow: a")


def test_the_opaque_token_registry_accepts_only_its_own_token():
    with HostileRegistry("opaque-token-registry") as registry:
        token = httpx.get(f"{registry.url}/token").json()["token"]
        refused = httpx.post(f"{registry.url}/v2/x/blobs/uploads/")
        started = httpx.post(f"{registry.url}/v2/x/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
    assert token.count(".") != 2 and refused.status_code == 401 and started.status_code == 202


def test_token_upload_elsewhere_takes_only_its_token_and_names_another_origin():
    with HostileRegistry("token-upload-elsewhere") as registry:
        token = httpx.get(f"{registry.url}/token").json()["token"]
        refused = httpx.post(f"{registry.url}/v2/x/blobs/uploads/", headers={"Authorization": "Bearer forged"})
        upload = httpx.post(f"{registry.url}/v2/x/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
        cancel = httpx.delete(upload.headers["Location"])
        elsewhere = f"http://localhost:{registry.port}/"
    assert refused.status_code == 401 and upload.status_code == 202
    assert upload.headers["Location"].startswith(elsewhere) and cancel.status_code == 204


def test_upload_refused_echoing_token_puts_the_bearer_token_it_received_in_its_challenge():
    with HostileRegistry("upload-refused-echoing-token") as registry:
        token = httpx.get(f"{registry.url}/token").json()["token"]
        anonymous = httpx.post(f"{registry.url}/v2/x/blobs/uploads/")
        upload = httpx.post(f"{registry.url}/v2/x/blobs/uploads/", headers={"Authorization": f"Bearer {token}"})
        realm = f"{registry.url}/token"
    assert token == ECHOED_TOKEN and anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == f'Bearer realm="{realm}",service="hostile"'
    assert upload.status_code == 401 and upload.headers["WWW-Authenticate"].endswith(f',error="Bearer {ECHOED_TOKEN}"')
