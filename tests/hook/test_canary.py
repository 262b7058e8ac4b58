"""The canary: one distinctive password (quotes, a backslash, non-ASCII) through every command
(provision, check, render, cleanup), every output format (text, json, --debug) and the failure
paths users and registries cause (a rejected login, push refused with 401 or 403 by a registry
that echoes the Authorization header, an unreachable registry, a missing Secret, values of the
wrong type, a docker config that cannot push). No form of it (raw, JSON-escaped, URL-encoded,
repr, base64 of user:password or of itself) may appear in stdout or stderr, nor in anything
written, except the Secret's data."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import yaml

from tests.helpers import CliResult, generic_values, run_cli, secret_docker_config, write_values
from tests.stand_ins.registry import free_port

MARKER = "Qz7nrY"
CANARY = f'Cän"ary\\{MARKER}-Ω€'
USER = "alice"
FORMATS = {"text": (), "json": ("--log-format", "json"), "debug": ("--debug",)}


def forms(username: str, password: str) -> set[str]:
    """Every form the password can take in printed text."""
    return {
        password, MARKER, json.dumps(password)[1:-1], json.dumps(password, ensure_ascii=False)[1:-1], repr(password)[1:-1],
        quote(password, safe=""), quote_plus(password), base64.b64encode(password.encode()).decode(),
        base64.b64encode(f"{username}:{password}".encode()).decode(),
    }


def without_secret_data(stdout: str) -> str:
    """stdout with the Secret's data values (the one place the password belongs) cut out."""
    for doc in yaml.safe_load_all(stdout) if stdout.strip() else []:
        if isinstance(doc, dict) and doc.get("kind") == "Secret":
            for value in (doc.get("data") or {}).values():
                stdout = stdout.replace(value, "<secret data>")
    return stdout


def assert_no_canary(result: CliResult, log_format: str, *written: Path) -> None:
    printed = without_secret_data(result.stdout) + result.stderr
    for path in written:
        printed += without_secret_data(path.read_text())
    for form in forms(USER, CANARY):
        assert form not in printed, f"{form!r} printed:\n{printed}"
    if log_format == "json":
        for line in result.stderr.splitlines():
            json.loads(line)


@pytest.fixture(params=list(FORMATS))
def log_format(request) -> str:
    return request.param


@pytest.fixture
def cli(tmp_path, log_format) -> Callable[..., CliResult]:
    def run(command: str, values: dict, *args: str, env: dict[str, str] | None = None) -> CliResult:
        path = write_values(tmp_path / "values.yaml", values)
        return run_cli(command, "--values", str(path), *FORMATS[log_format], *args, env=env)
    return run


@pytest.fixture
def canary_registry(make_registry):
    return make_registry("htpasswd", users={USER: CANARY})


def test_provision_printing_and_writing(cli, canary_registry, log_format, tmp_path):
    values = generic_values(canary_registry.url, USER, CANARY)
    printed = cli("provision", values, "--output", "-")
    assert printed.code == 0, printed.stderr
    (entry,) = secret_docker_config(printed.document("Secret"))["auths"].values()
    assert base64.b64decode(entry["auth"]).decode() == f"{USER}:{CANARY}"  # it is there, where it belongs
    assert_no_canary(printed, log_format)
    written = cli("provision", values, "--output", str(tmp_path / "out"))
    assert written.code == 0, written.stderr
    assert_no_canary(written, log_format, tmp_path / "out" / "secret.yaml", tmp_path / "out" / "settings-configmap.yaml")


def test_provision_to_a_cluster_then_check_then_cleanup(cli, canary_registry, kube_api, log_format, tmp_path):
    env = {"KUBECONFIG": str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder"))}
    values = generic_values(canary_registry.url, USER, CANARY)
    for command in ("provision", "check", "cleanup"):
        result = cli(command, values, env=env)
        assert result.code == 0, result.stderr
        assert_no_canary(result, log_format)


def test_render(cli, log_format):
    result = cli("render", generic_values("https://registry.example.org", USER, CANARY))
    assert result.code == 0, result.stderr
    assert_no_canary(result, log_format)


def test_a_rejected_login(cli, make_registry, log_format):
    registry = make_registry("htpasswd", users={USER: "another-password-1"})
    result = cli("provision", generic_values(registry.url, USER, CANARY), "--output", "-")
    assert result.code == 1, result.stderr
    assert_no_canary(result, log_format)


@pytest.mark.parametrize("status", [401, 403])
def test_push_refused_by_a_registry_that_echoes_the_authorization_header(cli, make_basic_auth_registry, log_format, status):
    registry = make_basic_auth_registry({USER: (CANARY, [("*", {"pull"})])}, denied_status=status, echo_authorization=True)
    result = cli("provision", generic_values(registry.url, USER, CANARY), "--output", "-")
    assert result.code == 1, result.stderr
    assert_no_canary(result, log_format)


def test_a_token_service_rejecting_the_password(cli, make_registry, log_format):
    registry = make_registry("token")
    result = cli("provision", generic_values(registry.url, "pusher", CANARY), "--output", "-")
    assert result.code == 1, result.stderr
    assert_no_canary(result, log_format)


def test_an_unreachable_registry(cli, log_format):
    result = cli("provision", generic_values(f"http://127.0.0.1:{free_port()}", USER, CANARY), "--output", "-")
    assert result.code == 3, result.stderr
    assert_no_canary(result, log_format)


def test_a_password_of_the_wrong_type(cli, log_format):
    result = cli("render", generic_values("https://registry.example.org", USER, [CANARY]))
    assert result.code == 2, result.stderr
    assert_no_canary(result, log_format)


def test_credentials_from_an_existing_secret_and_a_missing_one(cli, canary_registry, kube_api, log_format, tmp_path):
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "binder"},
                  "data": {"username": base64.b64encode(USER.encode()).decode(),
                           "password": base64.b64encode(CANARY.encode()).decode()}})
    env = {"KUBECONFIG": str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder"))}
    for name, code in (("creds", 0), ("missing", 2)):
        values = generic_values(canary_registry.url, USER, "")
        values["registry"]["existingSecret"] = name
        result = cli("provision", values, "--output", "-", env=env)
        assert result.code == code, result.stderr
        assert_no_canary(result, log_format)


def test_check_of_a_docker_config_that_cannot_push(cli, make_basic_auth_registry, log_format, tmp_path):
    registry = make_basic_auth_registry({USER: (CANARY, [("*", {"pull"})])}, echo_authorization=True)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"auths": {registry.url: {"auth": base64.b64encode(f"{USER}:{CANARY}".encode()).decode()}}}))
    result = cli("check", generic_values(registry.url, USER, "unused-in-check"), "--docker-config", str(config))
    assert result.code == 1, result.stderr
    assert_no_canary(result, log_format)
