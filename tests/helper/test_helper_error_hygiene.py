"""Error hygiene: when an upstream (IAM Credentials, the registry, its token service) fails, the
helper's answer and its log say which one and how, in its own words: no upstream body (which
may echo a credential) and no token reaches BinderHub or the log."""

from __future__ import annotations

from typing import ClassVar

import httpx
import pytest

from tests.fixtures_google import PROJECT
from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

MARKER = "upstream-body-marker"


class _EchoingHandler(LoopbackHandler):
    owner: EchoingUpstream

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self._answer()

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        echoed = self.headers.get("Authorization", "")
        body = (f'{{"error": {{"code": {self.owner.status}, "status": "{self.owner.error_status}", '
                f'"message": "{MARKER}: denied for {echoed}"}}, "token": "{MARKER}"}}').encode()
        self.send_response(self.owner.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in self.owner.headers.items():
            self.send_header(name, value.replace("SELF", self.owner.url))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class EchoingUpstream(LoopbackHttpServer):
    """Answers every request with ``status`` and a body holding a marker and the Authorization it
    got (Google's ``error.status`` is ``error_status``)."""

    request_handler: ClassVar[type[LoopbackHandler]] = _EchoingHandler

    def __init__(self, status: int, error_status: str = "PERMISSION_DENIED", **headers: str) -> None:
        super().__init__()
        self.status = status
        self.error_status = error_status
        self.headers = headers


def _assert_clean(text: str, *secrets: str) -> None:
    assert MARKER not in text
    assert "ya29." not in text  # the stand-ins' Google access tokens
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("status", [400, 403, 500])
def test_iam_credentials_refusing_leaves_its_body_out(start_helper, capfd, status):
    with EchoingUpstream(status) as iam:
        helper = start_helper(iam_credentials_endpoint=iam.url)
        reply = httpx.post(f"{helper.url}/token/{PROJECT}/binder/binder-x:t", headers={"Authorization": f"Bearer {helper.auth_token}"},
                           timeout=60)
    assert reply.status_code in (502, 503)
    error = reply.json()["error"]
    assert "IAM Credentials" in error or "may not mint tokens" in error
    _assert_clean(reply.text + capfd.readouterr().out, helper.auth_token)


@pytest.mark.parametrize("status", [401, 403])
def test_iam_credentials_refusing_the_helpers_identity_says_what_to_restore(start_helper, status):
    """401 (the pod's own token refused) and 403 alike: the binding the hook makes is what is missing."""
    with EchoingUpstream(status) as iam:
        helper = start_helper(iam_credentials_endpoint=iam.url)
        reply = httpx.post(f"{helper.url}/token/{PROJECT}/binder/binder-x:t", headers={"Authorization": f"Bearer {helper.auth_token}"},
                           timeout=60)
    assert reply.status_code == 502
    assert f"{status} PERMISSION_DENIED" in reply.json()["error"] and "roles/iam.workloadIdentityUser" in reply.json()["error"]


def test_a_google_error_status_that_is_not_an_enum_is_left_out(start_helper, capfd):
    """Only an ``error.status`` that is an enum (PERMISSION_DENIED) is repeated, not free text."""
    with EchoingUpstream(403, error_status=f"PERMISSION_DENIED {MARKER}") as iam:
        helper = start_helper(iam_credentials_endpoint=iam.url)
        reply = httpx.post(f"{helper.url}/token/{PROJECT}/binder/binder-x:t", headers={"Authorization": f"Bearer {helper.auth_token}"},
                           timeout=60)
    assert reply.status_code == 502 and "(403)" in reply.json()["error"]
    _assert_clean(reply.text + capfd.readouterr().out, helper.auth_token)


@pytest.mark.parametrize(("path", "headers"), [
    ("/image/{name}:t", {}),  # the registry itself fails
    ("/repo/{name}", {"WWW-Authenticate": 'Bearer realm="SELF/token",service="registry"'}),  # its token service fails
])
@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_a_failing_registry_leaves_its_body_out(start_helper, capfd, path, headers, status):
    with EchoingUpstream(status, **headers) as registry:
        helper = start_helper(registry_url=registry.url)
        target = path.format(name=f"{PROJECT}/binder/binder-x")
        reply = httpx.get(f"{helper.url}{target}", headers={"Authorization": f"Bearer {helper.auth_token}"}, timeout=60)
    assert reply.status_code in (404, 502, 503)
    _assert_clean(reply.text + capfd.readouterr().out, helper.auth_token)


@pytest.mark.parametrize(("status", "answered"), [(429, 503), (500, 503), (503, 503), (403, 502)])
def test_a_busy_registry_is_worth_retrying_a_refusing_one_is_not(start_helper, status, answered):
    """503 says try again (the registry throttles or is down), 502 that the registry refused."""
    with EchoingUpstream(status) as registry:
        helper = start_helper(registry_url=registry.url)
        reply = httpx.get(f"{helper.url}/image/{PROJECT}/binder/binder-x:t", headers={"Authorization": f"Bearer {helper.auth_token}"},
                          timeout=60)
    assert reply.status_code == answered, reply.text


def test_an_internal_error_names_its_place_not_its_text(keyless, capfd, monkeypatch):
    """A bug (an exception nobody expected) ends in 500 and one log line naming the exception's
    type and place; its text, which may hold what was being handled, is left out."""
    helper = keyless["helper"]

    async def broken(name: str) -> bool:
        raise RuntimeError(f"{MARKER} while handling {name}")

    monkeypatch.setattr(helper.app.checks, "repository_exists", broken)
    reply = httpx.get(f"{helper.url}/repo/{PROJECT}/binder/binder-x", headers={"Authorization": f"Bearer {helper.auth_token}"}, timeout=60)
    assert reply.status_code == 500
    assert reply.json()["error"].startswith("internal error (RuntimeError at test_helper_error_hygiene.py:")
    _assert_clean(reply.text + capfd.readouterr().out, helper.auth_token)
