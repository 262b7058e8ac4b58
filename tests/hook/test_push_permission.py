"""Accounts that may log in but not push, on registries that enforce per-account actions on
HTTP Basic auth (Nexus, Artifactory, deploy tokens) and answer the upload with 401 or 403: the
upload-session proof must refuse them (exit 1, one sentence), and it is asserted by the requests
the registry saw, not by what the hook printed."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.fixtures_registry import random_password
from tests.helpers import generic_values, run_cli, secret_docker_config, write_values
from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

PROBE = "binder/binder-push-check"
ALL = {"pull", "push", "delete"}


def provision(tmp_path: Path, url: str, username: str, password: str):
    values = write_values(tmp_path / "values.yaml", generic_values(url, username, password))
    return run_cli("provision", "--values", str(values), "--output", "-")


@pytest.mark.parametrize(("status", "code"), [(401, "UNAUTHORIZED"), (403, "DENIED")])
def test_an_account_that_may_log_in_and_pull_but_not_push_exits_1(tmp_path, make_basic_auth_registry, status, code):
    password = random_password()
    registry = make_basic_auth_registry({"reader": (password, [("*", {"pull"})])}, denied_status=status)
    result = provision(tmp_path, registry.url, "reader", password)
    assert result.code == 1, result.stderr
    assert result.last_line == (
        f"error: User 'reader' cannot push to {PROBE} (the registry answered {status} {code} to starting an upload); "
        f"give the account write (push) access to it."
    )
    assert result.stdout == ""
    seen = registry.seen()
    assert any(r.method == "GET" and r.path == "/v2/" and r.account == "reader" and r.status == 200 for r in seen)
    assert [r.status for r in seen if r.is_upload_start(PROBE)] == [status]
    assert not any(r.is_upload_cancel(PROBE) for r in seen)


def test_push_on_another_repository_only_is_not_push_access_here(tmp_path, make_basic_auth_registry):
    password = random_password()
    registry = make_basic_auth_registry({"ci": (password, [("other/*", ALL), ("binder/*", {"pull"})])})
    result = provision(tmp_path, registry.url, "ci", password)
    assert result.code == 1
    assert f"cannot push to {PROBE}" in result.last_line


def test_an_account_with_push_access_proves_it_with_an_upload_session_it_cancels(tmp_path, make_basic_auth_registry):
    password = random_password()
    registry = make_basic_auth_registry({"builder": (password, [("binder/*", {"pull", "push"})])})
    result = provision(tmp_path, registry.url, "builder", password)
    assert result.code == 0, result.stderr
    started = [r for r in registry.seen() if r.is_upload_start(PROBE)]
    cancelled = [r for r in registry.seen() if r.is_upload_cancel(PROBE)]
    assert [(r.account, r.status) for r in started] == [("builder", 202)]
    assert [(r.account, r.status) for r in cancelled] == [("builder", 204)]


def test_a_wrong_password_is_a_rejected_login_not_missing_push_access(tmp_path, make_basic_auth_registry):
    registry = make_basic_auth_registry({"builder": (random_password(), [("*", ALL)])})
    result = provision(tmp_path, registry.url, "builder", "not-the-password-123")
    assert result.code == 1
    assert "rejected the login of user 'builder'" in result.last_line
    assert [r.status for r in registry.seen() if r.is_upload_start(PROBE)] == [401]  # refused, then the login is checked


@pytest.mark.parametrize("status", [401, 403])
def test_check_refuses_a_docker_config_whose_account_cannot_push(tmp_path, make_basic_auth_registry, status):
    password = random_password()
    registry = make_basic_auth_registry({"reader": (password, [("*", {"pull"})]), "builder": (password + "b", [("*", ALL)])},
                                        denied_status=status)
    written = provision(tmp_path, registry.url, "builder", password + "b")
    assert written.code == 0, written.stderr
    config = secret_docker_config(written.document("Secret"))
    entry = config["auths"][registry.url]
    entry["auth"] = base64.b64encode(f"reader:{password}".encode()).decode()
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    checked = run_cli("check", "--values", str(tmp_path / "values.yaml"), "--docker-config", str(config_path))
    assert checked.code == 1, checked.stderr
    assert "User 'reader' cannot push to" in checked.last_line


def test_a_token_registry_is_also_proven_by_an_upload_session(tmp_path, token_registry, token_server, make_basic_auth_registry):
    """Token registries grant actions in the token; the upload session is still started and
    cancelled (distribution wants the `delete` action for any DELETE, which the token asks for)."""
    recorder = make_basic_auth_registry(None, upstream=token_registry)
    result = provision(tmp_path, recorder.url, "pusher", token_server.password("pusher"))
    assert result.code == 0, result.stderr
    assert [r.status for r in recorder.seen() if r.is_upload_start(PROBE)] == [202]
    assert [r.status for r in recorder.seen() if r.is_upload_cancel(PROBE)] == [204]


def test_a_repository_path_the_registry_does_not_have_is_invalid_configuration_not_an_outage(tmp_path, make_basic_auth_registry):
    """Harbor or GitLab answer 404 NAME_UNKNOWN for a project that does not exist: exit 2, naming
    the path to create or the value to change (not exit 3, which says try again later)."""
    password = random_password()
    registry = make_basic_auth_registry({"builder": (password, [("*", ALL)])}, projects=["team/*"])
    result = provision(tmp_path, registry.url, "builder", password)
    assert result.code == 2, result.stderr
    assert f"no repository path {PROBE!r}" in result.last_line
    assert [r.status for r in registry.seen() if r.is_upload_start(PROBE)] == [404]


@pytest.mark.parametrize("ungranted", ["listed", "omitted"])
def test_a_token_granting_nothing_on_the_repository_is_no_push_without_an_upload(tmp_path, make_token_server, make_registry,
                                                                                make_basic_auth_registry, ungranted):
    """A JWT that grants nothing on the repository, whether the token service lists it with no
    actions (Docker Hub, Harbor) or leaves it out of the access claim (distribution's token
    server, GitLab): no push, told from the token alone (not an opaque token whose rights an
    upload session must find out), with no upload session tried."""
    password = random_password()
    token_server = make_token_server({"ci": {"password": password, "grants": [("other/*", {"pull", "push", "delete"})]}},
                                     ungranted=ungranted)
    recorder = make_basic_auth_registry(None, upstream=make_registry("token", token_server=token_server))
    result = provision(tmp_path, recorder.url, "ci", password)
    assert result.code == 1, result.stderr
    assert [r for r in recorder.seen() if r.is_upload_start(PROBE)] == []
    assert result.last_line == f"error: User 'ci' cannot push to {PROBE}; give the account write (push) access to it."


def test_a_deadline_that_is_not_a_positive_number_falls_back_to_the_default(tmp_path, htpasswd_registry):
    """BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS of 0, a negative number or nan would end every
    operation at once: the default (60 s) applies instead."""
    values = write_values(tmp_path / "values.yaml", generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))
    for deadline in ("0", "-5", "nan"):
        env = {"BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS": deadline}
        result = run_cli("provision", "--values", str(values), "--output", "-", env=env)
        assert result.code == 0, f"{deadline}: {result.stderr}"


class _NoLocationHandler(LoopbackHandler):
    """An open registry that answers the upload with 201 and no Location (a broken proxy in front)."""

    def _answer(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in {**headers, "Content-Length": "0"}.items():
            self.send_header(key, value)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, {"Docker-Distribution-Api-Version": "registry/2.0"})

    def do_POST(self) -> None:  # noqa: N802
        self.owner.posts += 1
        self._answer(201, {})


class NoLocationRegistry(LoopbackHttpServer):
    request_handler = _NoLocationHandler

    def __init__(self) -> None:
        super().__init__()
        self.posts = 0


def test_an_upload_answered_without_202_and_a_location_is_no_proof(tmp_path):
    with NoLocationRegistry() as registry:
        result = provision(tmp_path, registry.url, "builder", random_password())
    assert result.code == 3, result.stderr
    assert registry.posts == 1
    assert "a registry must answer 202 with a Location" in result.last_line
    assert "Unexpected error" not in result.stderr


def test_a_token_url_without_a_service_is_the_realm_itself():
    from binderhub_registry.registry_auth import Challenge  # noqa: PLC0415

    assert Challenge("bearer", realm="https://auth.example.org/token").token_url == "https://auth.example.org/token"
    with_query = Challenge("bearer", realm="https://a.example.org/t?x=1", service="r")
    assert with_query.token_url == "https://a.example.org/t?x=1&service=r"
    assert Challenge("basic").token_url == ""
