"""Prove the registry stand-ins behave like the real services they stand in for.

Why this exists: tests of the hook are only as good as what they run against. These tests pin
the behaviour measured on distribution 2.8.2 and on Docker's token protocol (intersection of
scopes, 401 on bad credentials, insufficient_scope on upload without push, delete needed to
cancel an upload, first-value query parameters, throttling) so a stand-in that drifts fails here
rather than silently weakening the product tests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import ssl
import subprocess
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fixtures_registry import MakeRegistry, MakeTokenServer, random_password
from tests.stand_ins.registry import Registry, RegistryStartError
from tests.stand_ins.token_server import TokenServer, libtrust_key_id

REPO = "team/probe"


def token_response(ts: TokenServer, user: str | None, *scopes: str,
                   service: str | list[str] | None = None,
                   password: str | None = None) -> httpx.Response:
    services = [service] if isinstance(service, str) else service or [ts.service]
    params: list[tuple[str, str | int | float | bool | None]] = []
    params += [("service", s) for s in services]
    params += [("scope", s) for s in scopes]
    auth = None if user is None else (user, ts.password(user) if password is None else password)
    return httpx.get(ts.realm, params=params, auth=auth)


def access_of(ts: TokenServer, user: str | None, *scopes: str) -> list[dict[str, Any]]:
    resp = token_response(ts, user, *scopes)
    assert resp.status_code == 200, resp.text
    access: list[dict[str, Any]] = ts.decode(resp.json()["token"])["access"]
    return access


def bearer(ts: TokenServer, user: str, *scopes: str) -> dict[str, str]:
    resp = token_response(ts, user, *scopes)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


# -- token server --------------------------------------------------------------------------

def test_token_is_signed_with_the_libtrust_kid_of_the_bundle_cert(
        token_server: TokenServer) -> None:
    body = token_response(token_server, "pusher", f"repository:{REPO}:pull").json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300 and body["issued_at"].endswith("Z")

    cert = x509.load_pem_x509_certificate(token_server.cert_path.read_bytes())
    der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    expected_kid = ":".join(b32[i:i + 4] for i in range(0, 48, 4))
    assert "=" not in b32 and len(expected_kid) == 59
    assert jwt.get_unverified_header(body["token"])["kid"] == expected_kid
    assert libtrust_key_id(cert.public_key()) == expected_kid

    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    claims = jwt.decode(body["token"], public_key, algorithms=["ES256"],
                        audience=token_server.service, issuer=token_server.issuer)
    assert claims["sub"] == "pusher"
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] <= claims["iat"]
    assert claims["jti"]


def test_rsa_keys_work_too(make_token_server: MakeTokenServer, make_registry: MakeRegistry) -> None:
    ts = make_token_server(key_type="RSA")
    registry = make_registry("token", token_server=ts)
    assert jwt.get_unverified_header(token_response(ts, "puller").json()["token"])["alg"] == "RS256"
    resp = httpx.get(f"{registry.url}/v2/", headers=bearer(ts, "puller"))
    assert resp.status_code == 200


def test_access_is_the_intersection_of_requested_and_granted(token_server: TokenServer) -> None:
    assert access_of(token_server, "puller", f"repository:{REPO}:pull,push,delete") == [
        {"type": "repository", "name": REPO, "actions": ["pull"]}]
    assert access_of(token_server, "pusher", f"repository:{REPO}:pull,push") == [
        {"type": "repository", "name": REPO, "actions": ["pull", "push"]}]

    token_server.users["alice"] = {"password": random_password(),
                                   "grants": [("alice/*", {"pull", "push"})]}
    assert access_of(token_server, "alice", "repository:alice/app:push",
                     "repository:bob/app:pull,push") == [
        {"type": "repository", "name": "alice/app", "actions": ["push"]},
        {"type": "repository", "name": "bob/app", "actions": []},  # Docker Hub keeps the entry
    ]


def test_an_omitting_token_server_leaves_ungranted_repositories_out_and_the_registry_refuses_them(
        make_token_server: MakeTokenServer, make_registry: MakeRegistry) -> None:
    """``ungranted="omitted"`` (distribution's token server, GitLab): a repository the account may
    do nothing asked on is absent from the access claim, and the real registry refuses it as no
    action (401 insufficient_scope to an upload), the same as an entry with no actions."""
    ts = make_token_server({"alice": {"password": random_password(), "grants": [("alice/*", {"pull", "push"})]}},
                           ungranted="omitted")
    registry = make_registry("token", token_server=ts)
    assert access_of(ts, "alice", "repository:alice/app:push", "repository:bob/app:pull,push") == [
        {"type": "repository", "name": "alice/app", "actions": ["push"]}]
    assert access_of(ts, "alice", "repository:bob/app:pull,push") == []
    resp = httpx.post(f"{registry.url}/v2/bob/app/blobs/uploads/", headers=bearer(ts, "alice", "repository:bob/app:pull,push"))
    assert resp.status_code == 401
    assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]
    resp = httpx.post(f"{registry.url}/v2/alice/app/blobs/uploads/", headers=bearer(ts, "alice", "repository:alice/app:pull,push"))
    assert resp.status_code == 202


def test_bad_password_and_unknown_user_get_401(token_server: TokenServer) -> None:
    for user, password in [("pusher", "wrong"), ("nobody", random_password())]:
        resp = token_response(token_server, user, f"repository:{REPO}:pull", password=password)
        assert resp.status_code == 401
        assert resp.json() == {"details": "incorrect username or password"}


def test_anonymous_gets_only_what_the_anonymous_entry_grants(token_server: TokenServer) -> None:
    assert access_of(token_server, None, f"repository:{REPO}:pull") == [
        {"type": "repository", "name": REPO, "actions": []}]
    token_server.users["anonymous"] = {"grants": [("*", {"pull"})]}
    assert access_of(token_server, None, f"repository:{REPO}:pull,push") == [
        {"type": "repository", "name": REPO, "actions": ["pull"]}]
    # the anonymous entry has no password, so nobody can log in as "anonymous"
    resp = token_response(token_server, "anonymous", password="")
    assert resp.status_code == 401


def test_users_can_change_at_runtime(token_server: TokenServer) -> None:
    old = token_server.password("puller")
    token_server.users = {"puller": {"password": "pw-new-" + random_password(),
                                     "grants": [("*", {"pull", "push"})]}}
    assert token_response(token_server, "puller", password=old).status_code == 401
    assert access_of(token_server, "puller", f"repository:{REPO}:push")[0]["actions"] == ["push"]


def test_first_service_value_wins(token_registry: Registry) -> None:
    ts = token_registry.token_server
    assert ts is not None
    first = token_response(ts, "pusher", service=[ts.service, "appended-by-binderhub"])
    assert ts.decode(first.json()["token"])["aud"] == ts.service
    ok = httpx.get(f"{token_registry.url}/v2/",
                   headers={"Authorization": f"Bearer {first.json()['token']}"})
    assert ok.status_code == 200

    other = token_response(ts, "pusher", service=["wrong-service", ts.service])
    claims = jwt.decode(other.json()["token"], options={"verify_signature": False})
    assert claims["aud"] == "wrong-service"
    rejected = httpx.get(f"{token_registry.url}/v2/",
                         headers={"Authorization": f"Bearer {other.json()['token']}"})
    assert rejected.status_code == 401
    assert ts.requests[0].query["service"] == [ts.service, "appended-by-binderhub"]


def test_injected_failures_then_recovery_and_requests_are_recorded(
        token_server: TokenServer) -> None:
    token_server.fail_next(429, count=2, retry_after=7)
    for _ in range(2):
        resp = token_response(token_server, "pusher", f"repository:{REPO}:push")
        assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    token_server.fail_next(503)
    resp = token_response(token_server, "pusher")
    assert resp.status_code == 503 and "Retry-After" not in resp.headers
    assert token_response(token_server, "pusher", f"repository:{REPO}:push").status_code == 200

    assert [r.status for r in token_server.requests] == [429, 429, 503, 200]
    last = token_server.requests[-1]
    assert (last.path, last.username) == ("/token", "pusher")
    assert last.query == {"service": [token_server.service], "scope": [f"repository:{REPO}:push"]}
    assert token_server.password("pusher") not in repr(token_server.requests)


# -- distribution in token mode ------------------------------------------------------------

def test_token_registry_challenges_with_realm_and_service(token_registry: Registry) -> None:
    ts = token_registry.token_server
    assert ts is not None
    resp = httpx.get(f"{token_registry.url}/v2/")
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == f'Bearer realm="{ts.realm}",service="{ts.service}"'
    assert httpx.get(f"{token_registry.url}/v2/", headers=bearer(ts, "puller")).status_code == 200


def test_pull_only_token_gets_401_insufficient_scope_on_upload(token_registry: Registry) -> None:
    ts = token_registry.token_server
    assert ts is not None
    headers = bearer(ts, "puller", f"repository:{REPO}:pull,push")
    resp = httpx.post(f"{token_registry.url}/v2/{REPO}/blobs/uploads/", headers=headers)
    assert resp.status_code == 401  # never 403 on distribution 2.8
    challenge = resp.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    # distribution lists the actions in Go map order: "pull,push" or "push,pull" at random
    match = re.search(r'scope="repository:([^:"]+):([^"]+)"', challenge)
    assert match and match[1] == REPO and set(match[2].split(",")) == {"pull", "push"}


def test_push_token_opens_upload_and_cancelling_needs_delete(token_registry: Registry) -> None:
    ts = token_registry.token_server
    assert ts is not None
    resp = httpx.post(f"{token_registry.url}/v2/{REPO}/blobs/uploads/",
                      headers=bearer(ts, "pusher", f"repository:{REPO}:pull,push"))
    assert resp.status_code == 202
    location = resp.headers["Location"]
    assert location.startswith(f"{token_registry.url}/v2/{REPO}/blobs/uploads/")

    without_delete = httpx.delete(location,
                                  headers=bearer(ts, "pusher", f"repository:{REPO}:pull,push"))
    assert without_delete.status_code == 401
    assert f'scope="repository:{REPO}:delete"' in without_delete.headers["WWW-Authenticate"]

    with_delete = httpx.delete(location,
                               headers=bearer(ts, "pusher", f"repository:{REPO}:pull,push,delete"))
    assert with_delete.status_code == 204


def test_custom_user_table_through_the_factory(make_registry: MakeRegistry) -> None:
    registry = make_registry("token", users={
        "ci": {"password": random_password(), "grants": [("ci/*", {"pull", "push"})]}})
    ts = registry.token_server
    assert ts is not None and set(registry.credentials) == {"ci"}
    own = httpx.post(f"{registry.url}/v2/ci/app/blobs/uploads/",
                     headers=bearer(ts, "ci", "repository:ci/app:pull,push"))
    other = httpx.post(f"{registry.url}/v2/other/app/blobs/uploads/",
                       headers=bearer(ts, "ci", "repository:other/app:pull,push"))
    assert (own.status_code, other.status_code) == (202, 401)


# -- htpasswd, TLS, open -------------------------------------------------------------------

def test_htpasswd_registry_401_then_200(htpasswd_registry: Registry) -> None:
    url = f"{htpasswd_registry.url}/v2/"
    assert htpasswd_registry.url.startswith("http://127.0.0.1:")
    assert htpasswd_registry.host == htpasswd_registry.url.removeprefix("http://")
    resp = httpx.get(url)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == f'Basic realm="{htpasswd_registry.realm}"'
    assert httpx.get(url, auth=("alice", "wrong")).status_code == 401
    assert httpx.get(url, auth=("bob", htpasswd_registry.password("alice"))).status_code == 401
    assert httpx.get(url, auth=("alice", htpasswd_registry.password("alice"))).status_code == 200
    assert htpasswd_registry.password("alice") not in htpasswd_registry.log_text()


def test_tls_registry_rejects_unverified_and_accepts_its_ca(tls_registry: Registry) -> None:
    assert tls_registry.url.startswith("https://127.0.0.1:") and tls_registry.ca_cert_path
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_registry.url}/v2/")
    ctx = ssl.create_default_context(cafile=str(tls_registry.ca_cert_path))
    with httpx.Client(verify=ctx) as client:
        assert client.get(f"{tls_registry.url}/v2/").status_code == 401
        resp = client.get(f"{tls_registry.url}/v2/", auth=("alice", tls_registry.password("alice")))
        assert resp.status_code == 200


def test_open_registry_answers_200(open_registry: Registry) -> None:
    assert httpx.get(f"{open_registry.url}/v2/").status_code == 200


def test_start_failure_reports_the_registry_log(token_server: TokenServer) -> None:
    token_server.cert_path.unlink()
    registry = Registry("token", token_server=token_server)
    with pytest.raises(RegistryStartError, match="root certificate bundle"):
        registry.start()
    assert registry.process is None


def test_stop_ends_the_process(make_registry: MakeRegistry) -> None:
    registry = make_registry()
    process = registry.process
    assert process is not None
    registry.stop()
    assert process.returncode is not None and not registry.workdir.exists()


# -- Helm and kubectl ----------------------------------------------------------------------

def test_pinned_helm_and_kubectl(helm_binaries: dict[str, Any], kubectl_binary: Any) -> None:
    def run(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    assert run(str(helm_binaries["4"]), "version", "--short").startswith("v4.1.4")
    assert run(str(helm_binaries["3"]), "version", "--short").startswith("v3.19.0")
    assert "v1.35.2" in run(str(kubectl_binary), "version", "--client")


def test_a_realm_with_a_query_string_is_advertised_and_required(make_token_server, make_registry) -> None:
    ts = make_token_server(realm_query="tenant=binder")
    registry = make_registry("token", token_server=ts)
    challenge = httpx.get(f"{registry.url}/v2/").headers["WWW-Authenticate"]
    assert challenge == f'Bearer realm="{ts.url}/token?tenant=binder",service="{ts.service}"'
    asked = {"service": ts.service, "scope": "repository:x:pull"}
    assert httpx.get(f"{ts.url}/token", params=asked, auth=("pusher", ts.password("pusher"))).status_code == 404
    assert httpx.get(f"{ts.url}/token", params={"tenant": "binder", **asked}, auth=("pusher", ts.password("pusher"))).status_code == 200


def test_an_oauth2_style_token_server_answers_only_access_token(make_token_server) -> None:
    ts = make_token_server(token_fields=("access_token",))
    body = token_response(ts, "pusher", "repository:x:pull").json()
    assert "token" not in body and body["access_token"].count(".") == 2
