"""`provision` and `check` for registry.type=dockerhub, as a process, against the stand-in Docker
Hub (tests/stand_ins/dockerhub.py: a Docker Hub-like token service and a proxy that answers 401
for missing repositories, in front of the real distribution 2.8.2); and the output used by a
client of BinderHub's own (tests/binderhub_client.py) and by docker-py, as a build pod's docker client."""

from __future__ import annotations

import base64
import json
import re

import docker.auth
import pytest

from tests.binderhub_client import builder_image_name, image_basename_and_tag
from tests.helpers import (
    CliResult,
    binderhub_config,
    binderhub_for,
    provision_offline,
    push_image,
    run_cli,
    secret_docker_config,
    secret_files,
    write_secret_docker_config,
)
from tests.stand_ins.build_pod import build_pod_docker_config, docker_push_credentials

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


def assert_outcome(result: CliResult, code: int, *fragments: str, secrets: tuple[str, ...] = ()) -> str:
    """Exit code, the last stderr line is one sentence holding ``fragments``, no secret leaked."""
    assert result.code == code, result.stderr
    line = result.last_line
    for fragment in fragments:
        assert fragment in line, line
    message = line.removeprefix("error: ")
    assert not re.search(r"[.!?]\s+[A-Z]", message), f"more than one sentence: {line}"
    if code != 0:
        assert line.startswith("error: ") and line.endswith("."), line
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
    for secret in secrets:
        assert secret not in result.stderr
    return line


def build_pod_push(hub, result: CliResult, image: str) -> None:
    """What a build pod does: find the credentials for ``image`` in the mounted config.json with
    docker's own lookup, log in at the token service with them, push a real image."""
    username, password = docker_push_credentials(build_pod_docker_config(secret_files(result.document("Secret"))), image)
    name, _, tag = image.rpartition(":")
    registry, repository = docker.auth.resolve_repository_name(name)  # as docker parses it, not BinderHub
    assert registry == "docker.io"
    push_image(hub.registry_url, repository, tag, token=hub.token(username, password, repository))


def image_prefix(result: CliResult) -> str:
    return binderhub_config(result.document("ConfigMap"))["BinderHub"]["image_prefix"]


# -- success ----------------------------------------------------------------------------------

def test_read_write_token_gives_settings_binderhub_finds_images_with(tmp_path, dockerhub, dockerhub_values):
    dockerhub.add_account("alice")
    token = dockerhub.add_token("alice", "read-write")
    result = provision_offline(tmp_path, dockerhub_values("alice", token))
    assert_outcome(result, 0, "BinderHub pushes to alice/binder-", secrets=(token,))
    assert "token grants pull,push" in result.stderr

    secret = result.document("Secret")
    config = secret_docker_config(secret)
    assert list(config["auths"]) == [DOCKER_HUB_AUTH_KEY]
    assert base64.b64decode(config["auths"][DOCKER_HUB_AUTH_KEY]["auth"]).decode() == f"alice:{token}"
    settings = binderhub_config(result.document("ConfigMap"))
    assert settings["BinderHub"]["image_prefix"] == "alice/binder-"
    assert settings["DockerRegistry"]["url"] == dockerhub.registry_url
    assert settings["DockerRegistry"]["token_url"] == f"{dockerhub.auth_url}?service=registry.docker.io"
    assert settings["DockerRegistry"]["auth_config_url"] == DOCKER_HUB_AUTH_KEY
    assert settings["DockerRegistry"]["not_found_401"] is True

    built = builder_image_name(image_prefix(result), "repo-abc123", "v1")
    build_pod_push(dockerhub, result, built)
    with binderhub_for(result) as binderhub:
        assert (binderhub.username, binderhub.password) == ("alice", token)
        found = binderhub.image_found(built)
        assert found.found and not found.errors
        # A repository that does not exist: Docker Hub (the proxy) answers 401, which
        # not_found_401 turns into "not found" instead of a logged error.
        missing = binderhub.image_found(builder_image_name(image_prefix(result), "never-built", "v1"))
        assert not missing.found and not missing.errors
        assert "Interpreting 401 error as not found on alice/binder-never-built:v1" in binderhub.log
        # A missing tag in an existing repository stays a plain 404.
        assert not binderhub.image_found(builder_image_name(image_prefix(result), "repo-abc123", "v2")).found
        assert binderhub.health_check()
    assert any(r.path == "/v2/alice/binder-never-built/manifests/v1" and (r.upstream_status, r.status) == (404, 401)
               for r in dockerhub.proxy.requests)


def test_namespace_defaults_to_the_username(tmp_path, dockerhub, dockerhub_values):
    account = dockerhub.add_account("alice")
    result = provision_offline(tmp_path, dockerhub_values("alice", account.password))
    assert_outcome(result, 0, "BinderHub pushes to alice/binder-", secrets=(account.password,))
    assert "alice/binder-push-check" in result.stderr


def test_organisation_member_with_write_access_can_push_there(tmp_path, dockerhub, dockerhub_values):
    dockerhub.add_account("alice")
    dockerhub.add_account("bob")
    dockerhub.add_organisation("acme", {"alice": "write", "bob": "admin"})
    token = dockerhub.add_token("alice", "read-write")
    result = provision_offline(tmp_path, dockerhub_values("alice", token, namespace="acme"))
    assert_outcome(result, 0, "BinderHub pushes to acme/binder-", secrets=(token,))

    built = builder_image_name(image_prefix(result), "repo", "v1")
    build_pod_push(dockerhub, result, built)
    with binderhub_for(result) as binderhub:
        assert binderhub.image_found(built).found


@pytest.mark.parametrize("role", [None, "read"], ids=["not-a-member", "read-only-member"])
def test_organisation_without_write_access_exits_1_naming_it(tmp_path, dockerhub, dockerhub_values, role):
    dockerhub.add_account("alice")
    dockerhub.add_account("bob")
    dockerhub.add_organisation("acme", {"bob": "admin", **({"alice": role} if role else {})})
    token = dockerhub.add_token("alice", "read-write")
    result = provision_offline(tmp_path, dockerhub_values("alice", token, namespace="acme"))
    assert_outcome(result, 1, "Docker Hub user 'alice' has no write access to organisation 'acme'",
                   "registry.dockerhub.namespace", secrets=(token,))


# -- credentials that cannot push ---------------------------------------------------------------

def test_read_only_access_token_exits_1_asking_for_a_read_write_token(tmp_path, dockerhub, dockerhub_values):
    dockerhub.add_account("alice")
    token = dockerhub.add_token("alice", "read-only")
    result = provision_offline(tmp_path, dockerhub_values("alice", token))
    assert_outcome(result, 1, "read-only access token", "create a Read & Write access token",
                   "registry.dockerhub.password", secrets=(token,))


def test_wrong_password_exits_1_with_the_access_token_hint(tmp_path, dockerhub, dockerhub_values):
    account = dockerhub.add_account("alice")
    wrong = account.password + "-wrong"
    result = provision_offline(tmp_path, dockerhub_values("alice", wrong))
    assert_outcome(result, 1, "rejected the login of user 'alice'", "registry.dockerhub.username and registry.dockerhub.password",
                   "two-factor authentication or SSO", "personal access token", secrets=(wrong, account.password))
    assert [r.status for r in dockerhub.token_server.requests] == [401]  # a 401 is not retried


# -- rate limits and outages of the token service -------------------------------------------------

def test_rate_limited_twice_then_succeeds_saying_it_retried(tmp_path, dockerhub, dockerhub_values):
    dockerhub.add_account("alice")
    token = dockerhub.add_token("alice", "read-write")
    dockerhub.fail_next(429, count=2, retry_after=0)
    result = provision_offline(tmp_path, dockerhub_values("alice", token))
    assert_outcome(result, 0, "BinderHub pushes to alice/binder-", secrets=(token,))
    retries = [line for line in result.stderr.splitlines() if "answered 429; retrying in 0s" in line]  # Retry-After: 0 honoured
    assert len(retries) == 2 and all(line.startswith("warning: ") for line in retries)
    assert [r.status for r in dockerhub.token_server.requests] == [429, 429, 200]


def test_rate_limited_on_every_attempt_exits_3(tmp_path, dockerhub, dockerhub_values):
    dockerhub.add_account("alice")
    token = dockerhub.add_token("alice", "read-write")
    dockerhub.fail_next(429, count=1000, retry_after=0)
    result = provision_offline(tmp_path, dockerhub_values("alice", token))
    assert_outcome(result, 3, "kept answering 429 (rate limited) after 4 attempts", "try again later", secrets=(token,))
    assert [r.status for r in dockerhub.token_server.requests] == [429] * 4


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_token_service_5xx_then_success(tmp_path, dockerhub, dockerhub_values, status):
    """Every transient server error is retried (a proxy's 502 and 504 as much as the service's 503)."""
    dockerhub.add_account("alice")
    token = dockerhub.add_token("alice", "read-write")
    dockerhub.fail_next(status, count=1)
    result = provision_offline(tmp_path, dockerhub_values("alice", token))
    assert_outcome(result, 0, "BinderHub pushes to alice/binder-", secrets=(token,))
    assert result.stderr.count(f"answered {status}; retrying") == 1
    assert [r.status for r in dockerhub.token_server.requests] == [status, 200]


# -- the written docker config ------------------------------------------------------------------

def test_docker_clients_find_the_credentials_in_the_written_config(tmp_path, dockerhub, dockerhub_values):
    dockerhub.add_account("alice")
    token = dockerhub.add_token("alice", "read-write")
    result = provision_offline(tmp_path, dockerhub_values("alice", token))
    assert result.code == 0, result.stderr
    path = write_secret_docker_config(result, tmp_path / "config.json")
    for image in ("docker.io/alice/binder-x", "alice/binder-x"):
        registry, _ = docker.auth.resolve_repository_name(image)
        found = docker.auth.resolve_authconfig(docker.auth.load_config(str(path)), registry)
        assert (found["username"], found["password"]) == ("alice", token)
    built = builder_image_name(image_prefix(result), "x", "v1")
    assert docker_push_credentials(json.loads(path.read_text()), built) == ("alice", token)


def test_check_proves_push_with_the_written_docker_config(tmp_path, dockerhub, dockerhub_values):
    dockerhub.add_account("alice")
    token = dockerhub.add_token("alice", "read-write")
    result = provision_offline(tmp_path, dockerhub_values("alice", token))
    assert result.code == 0, result.stderr
    config_path = write_secret_docker_config(result, tmp_path / "config.json")
    checked = run_cli("check", "--values", str(tmp_path / "values.yaml"), "--docker-config", str(config_path))
    assert_outcome(checked, 0, "BinderHub can push to alice/binder-", secrets=(token,))


# -- namespaces and prefixes --------------------------------------------------------------------

def test_prefix_with_a_slash_exits_2(tmp_path, dockerhub, dockerhub_values):
    account = dockerhub.add_account("alice")
    result = provision_offline(tmp_path, dockerhub_values("alice", account.password, prefix="team/binder-"))
    assert_outcome(result, 2, "registry.prefix 'team/binder-' contains '/'", secrets=(account.password,))
    assert dockerhub.token_server.requests == []


def test_short_namespace_still_makes_binderhub_look_up_the_pushed_repository(tmp_path, dockerhub, dockerhub_values):
    """BinderHub keeps '<ns>/<name>' whole only if ns matches [a-z0-9]{4,40}; otherwise it drops
    the first path component, so for 'abc' the prefix must carry a registry to drop."""
    dockerhub.add_account("abc")
    token = dockerhub.add_token("abc", "read-write")
    result = provision_offline(tmp_path, dockerhub_values("abc", token))
    assert_outcome(result, 0, secrets=(token,))
    prefix = image_prefix(result)
    built = builder_image_name(prefix, "repo", "v1")

    build_pod_push(dockerhub, result, built)  # pushed to docker.io/abc/binder-repo
    with binderhub_for(result) as binderhub:
        assert binderhub.image_found(built).found
        assert not binderhub.image_found(builder_image_name(prefix, "other", "v1")).found
        assert binderhub.health_check()
    assert image_basename_and_tag()(built) == ("abc/binder-repo", "v1")
    assert prefix == "docker.io/abc/binder-"

    registry, _ = docker.auth.resolve_repository_name(built.rpartition(":")[0])
    config_path = write_secret_docker_config(result, tmp_path / "config.json")
    found = docker.auth.resolve_authconfig(docker.auth.load_config(str(config_path)), registry)
    assert (found["username"], found["password"]) == ("abc", token)
    assert docker_push_credentials(json.loads(config_path.read_text()), built) == ("abc", token)
