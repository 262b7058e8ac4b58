"""`provision`, `check` and `render` for registry.type=generic, as a process, against the real
registry (distribution 2.8.2) with htpasswd and with token auth; and the output used by BinderHub's
own registry client (tests/binderhub_client.py)."""

from __future__ import annotations

import base64
import json
import socket
import stat

import docker.auth
import httpx
import pytest
import yaml

from tests.helpers import (
    binder_deployment,
    binderhub_config,
    binderhub_for,
    generic_values,
    provision_offline,
    push_image,
    run_cli,
    secret_docker_config,
    secret_files,
    write_secret_docker_config,
    write_values,
)
from tests.stand_ins.build_pod import build_pod_docker_config, docker_push_credentials

# -- htpasswd (Basic auth) ------------------------------------------------------------------

def test_basic_auth_registry_gets_a_secret_binderhub_and_build_pods_can_use(tmp_path, htpasswd_registry):
    password = htpasswd_registry.password("alice")
    result = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", password))
    assert result.code == 0, result.stderr

    secret = result.document("Secret")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["data"][".dockerconfigjson"] == secret["data"]["config.json"]
    config = secret_docker_config(secret)
    assert list(config["auths"]) == [htpasswd_registry.url]  # the URL with its scheme, never host:port

    settings = binderhub_config(result.document("ConfigMap"))
    assert settings["BinderHub"]["image_prefix"] == f"{htpasswd_registry.host}/binder/binder-"
    assert settings["KubernetesBuildExecutor"]["push_secret"] == secret["metadata"]["name"]
    assert "token_url" not in settings["DockerRegistry"]  # a Basic-auth registry must have none

    # Build pods mount config.json and push with docker's own credential lookup.
    image = f"{settings['BinderHub']['image_prefix']}repo-abc123:v1"
    username, pushed_password = docker_push_credentials(build_pod_docker_config(secret_files(secret)), image)
    assert (username, pushed_password) == ("alice", password)
    push_image(htpasswd_registry.url, "binder/binder-repo-abc123", "v1", auth=httpx.BasicAuth(username, pushed_password))

    # The binder pod finds the image with exactly these settings.
    with binderhub_for(result) as binderhub:
        assert binderhub.username == "alice"
        assert binderhub.get_image_manifest("binder/binder-repo-abc123", "v1") is not None
        assert binderhub.get_image_manifest("binder/binder-missing", "v1") is None


def test_a_registry_url_with_a_trailing_slash_gives_the_same_settings(tmp_path, htpasswd_registry):
    """https://registry.example.org/ is the registry at https://registry.example.org: the same auths
    key in the Secret (a docker client looks it up by the exact string) and one '/' in image names."""
    password = htpasswd_registry.password("alice")
    result = provision_offline(tmp_path, generic_values(f"{htpasswd_registry.url}/", "alice", password))
    assert result.code == 0, result.stderr
    assert list(secret_docker_config(result.document("Secret"))["auths"]) == [htpasswd_registry.url]
    settings = binderhub_config(result.document("ConfigMap"))
    assert settings["BinderHub"]["image_prefix"] == f"{htpasswd_registry.host}/binder/binder-"
    assert settings["DockerRegistry"]["url"] == htpasswd_registry.url


def test_wrong_password_exits_1_naming_the_values_to_fix(tmp_path, htpasswd_registry):
    result = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", "not-the-password-123"))
    assert result.code == 1
    assert "rejected the login of user 'alice'" in result.last_line
    assert "registry.generic.username and registry.generic.password" in result.last_line
    assert result.stdout == ""


# -- token auth -----------------------------------------------------------------------------

def test_token_registry_gets_the_token_url_binderhub_needs(tmp_path, token_registry, token_server):
    password = token_server.password("pusher")
    result = provision_offline(tmp_path, generic_values(token_registry.url, "pusher", password))
    assert result.code == 0, result.stderr
    settings = binderhub_config(result.document("ConfigMap"))
    token_url = settings["DockerRegistry"]["token_url"]
    assert token_url == f"{token_server.realm}?service={token_server.service}"
    assert "token-scope + upload-session" in result.stderr

    token = httpx.get(token_server.realm, params={"service": token_server.service, "scope": "repository:binder/binder-x:pull,push"},
                      auth=("pusher", password)).json()["token"]
    push_image(token_registry.url, "binder/binder-x", "v1", token=token)
    with binderhub_for(result) as binderhub:
        assert binderhub.get_image_manifest("binder/binder-x", "v1") is not None


def test_a_token_realm_with_a_query_string_gets_service_appended_with_an_ampersand(tmp_path, make_token_server, make_registry):
    """A realm that has a query (one token endpoint for several tenants): BinderHub's token URL is
    the realm with ``&service=``; a second ``?`` would lose the tenant, and the token service
    answers 404."""
    token_server = make_token_server(realm_query="tenant=binder")
    registry = make_registry("token", token_server=token_server)
    password = token_server.password("pusher")
    result = provision_offline(tmp_path, generic_values(registry.url, "pusher", password))
    assert result.code == 0, result.stderr
    token_url = binderhub_config(result.document("ConfigMap"))["DockerRegistry"]["token_url"]
    assert token_url == f"{token_server.url}/token?tenant=binder&service={token_server.service}"
    token = httpx.get(f"{token_server.url}/token", auth=("pusher", password), params={
        "tenant": "binder", "service": token_server.service, "scope": "repository:binder/binder-q:pull,push"}).json()["token"]
    push_image(registry.url, "binder/binder-q", "v1", token=token)
    with binderhub_for(result) as binderhub:
        assert binderhub.get_image_manifest("binder/binder-q", "v1") is not None


def test_a_token_service_answering_only_access_token_is_understood(tmp_path, make_token_server, make_registry):
    """OAuth2-style token services answer ``access_token`` without ``token`` (both are in the spec)."""
    token_server = make_token_server(token_fields=("access_token",))
    registry = make_registry("token", token_server=token_server)
    result = provision_offline(tmp_path, generic_values(registry.url, "pusher", token_server.password("pusher")))
    assert result.code == 0, result.stderr
    assert "token-scope + upload-session" in result.stderr


def test_a_token_service_answering_403_rejects_the_login(tmp_path, token_registry, token_server):
    """403 from the token service refuses these credentials (exit 1), it is not an outage to retry."""
    token_server.fail_next(403)
    result = provision_offline(tmp_path, generic_values(token_registry.url, "pusher", token_server.password("pusher")))
    assert result.code == 1, result.stderr
    assert "rejected the login of user 'pusher' (the token service answered 403)" in result.last_line


def test_a_token_url_in_values_wins_over_the_realm_the_registry_names(tmp_path, token_registry, token_server):
    """registry.generic.tokenUrl is for registries whose challenge names a realm BinderHub cannot
    reach (an internal host): the value is what BinderHub gets, whatever the registry says."""
    given = f"{token_server.url}/token?service={token_server.service}&via=values"
    values = generic_values(token_registry.url, "pusher", token_server.password("pusher"), tokenUrl=given)
    result = provision_offline(tmp_path, values)
    assert result.code == 0, result.stderr
    assert binderhub_config(result.document("ConfigMap"))["DockerRegistry"]["token_url"] == given


def test_without_token_url_binderhub_misses_images_on_a_token_registry(tmp_path, token_registry, token_server):
    """Why provision sets token_url: BinderHub's WWW-Authenticate fallback sends no Accept
    header, and distribution 2.8 then answers 404 for an OCI image that exists."""
    password = token_server.password("pusher")
    result = provision_offline(tmp_path, generic_values(token_registry.url, "pusher", password))
    token = httpx.get(token_server.realm, params={"service": token_server.service, "scope": "repository:binder/binder-y:pull,push"},
                      auth=("pusher", password)).json()["token"]
    push_image(token_registry.url, "binder/binder-y", "v1", token=token)
    with binderhub_for(result, {"DockerRegistry": {"token_url": None}}) as binderhub:
        assert binderhub.get_image_manifest("binder/binder-y", "v1") is None


def test_pull_only_credentials_exit_1_saying_they_can_pull_but_not_push(tmp_path, token_registry, token_server):
    result = provision_offline(tmp_path, generic_values(token_registry.url, "puller", token_server.password("puller")))
    assert result.code == 1
    assert "can pull but not push" in result.last_line
    assert "binder/binder-push-check" in result.last_line


def test_token_service_rejecting_the_password_exits_1(tmp_path, token_registry):
    result = provision_offline(tmp_path, generic_values(token_registry.url, "pusher", "wrong-password-abcdef"))
    assert result.code == 1
    assert "rejected the login of user 'pusher'" in result.last_line


def test_check_proves_push_with_the_written_docker_config(tmp_path, token_registry, token_server):
    values = generic_values(token_registry.url, "pusher", token_server.password("pusher"))
    result = provision_offline(tmp_path, values)
    config_path = write_secret_docker_config(result, tmp_path / "config.json")
    checked = run_cli("check", "--values", str(tmp_path / "values.yaml"), "--docker-config", str(config_path))
    assert checked.code == 0, checked.stderr
    assert "BinderHub can push to" in checked.last_line


def test_check_fails_when_binderhub_would_not_find_the_credentials(tmp_path, htpasswd_registry):
    """A host:port auths key is found by docker but not by BinderHub, which then runs silently
    without credentials; check says so."""
    values = generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice"))
    auth = base64.b64encode(f"alice:{htpasswd_registry.password('alice')}".encode()).decode()
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"auths": {htpasswd_registry.host: {"auth": auth}}}))
    checked = run_cli("check", "--values", str(write_values(tmp_path / "v.yaml", values)), "--docker-config", str(config_path))
    assert checked.code == 1
    assert "no credentials BinderHub would find" in checked.last_line


# -- failures with their exit codes ---------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_registry_exits_3_after_bounded_retries(tmp_path):
    result = provision_offline(tmp_path, generic_values(f"http://127.0.0.1:{_closed_port()}", "alice", "some-password-123"))
    assert result.code == 3
    assert "after 4 attempts" in result.last_line
    assert "registry.generic.url" in result.last_line
    assert result.stderr.count("retrying") == 3
    # The CLI runs on laptops too: where it runs, not "the cluster", must reach the registry.
    assert "reachable from where this runs (the cluster for the hook)" in result.last_line


def test_tls_verification_failure_exits_3(tmp_path, tls_registry):
    result = provision_offline(tmp_path, generic_values(tls_registry.url, "alice", tls_registry.password("alice")))
    assert result.code == 3
    assert "TLS verification failed" in result.last_line


def test_not_a_registry_exits_2(tmp_path, token_server):
    # The token server answers HTTP but is no registry: GET /v2/ is a 404.
    result = provision_offline(tmp_path, generic_values(token_server.url, "alice", "some-password-123"))
    assert result.code == 2
    assert "does not serve the registry API" in result.last_line


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (generic_values("registry.example.org", "u", "p"), "registry.generic.url must be scheme://host[:port]"),
        (generic_values("https://registry.example.org/v2/", "u", "p"), "registry.generic.url must be scheme://host[:port]"),
        ({"registry": {"type": "quay"}}, "registry.type must be one of gcr | artifact-registry | dockerhub | generic"),
        ({"registry": {"type": "generic", "generic": {"username": "u", "password": "p"}}}, "registry.generic.url must be set"),
        ({"registry": {"type": "generic", "generic": {"url": "https://r.example.org", "password": "p"}}},
         "registry.generic.username must be set"),
        ({"registry": {"type": "generic", "genric": {}}}, "Unknown value registry.genric"),
        ({"registry": {"type": "generic", "prefix": "Binder_"}}, "registry.prefix must be the start of Docker repository path"),
    ],
)
def test_invalid_values_exit_2_with_one_sentence_naming_the_field(tmp_path, values, expected):
    result = provision_offline(tmp_path, values)
    assert result.code == 2
    assert expected in result.last_line
    assert "Traceback" not in result.stderr


def test_missing_values_file_exits_2(tmp_path):
    result = run_cli("provision", "--values", str(tmp_path / "nope.yaml"), "--output", "-")
    assert result.code == 2
    assert "does not exist" in result.last_line


def test_values_file_that_is_not_yaml_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("registry: [type: generic\n")
    result = run_cli("provision", "--values", str(path), "--output", "-")
    assert result.code == 2
    assert "is not valid YAML" in result.last_line


def test_empty_password_without_existing_secret_exits_2(tmp_path, htpasswd_registry):
    result = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", ""))
    assert result.code == 2
    assert "registry.generic.password is empty" in result.last_line


# -- what the user sees -----------------------------------------------------------------------

def test_several_values_files_merge_like_helm(tmp_path, htpasswd_registry):
    base = write_values(tmp_path / "base.yaml", generic_values(htpasswd_registry.url, "alice", "wrong-one-123456", repository="first"))
    override = write_values(
        tmp_path / "secret.yaml", {"registry": {"generic": {"password": htpasswd_registry.password("alice"), "repository": "second"}}}
    )
    result = run_cli("provision", "--values", str(base), "--values", str(override), "--output", "-")
    assert result.code == 0, result.stderr
    assert binderhub_config(result.document("ConfigMap"))["BinderHub"]["image_prefix"].endswith("/second/binder-")


@pytest.mark.parametrize(("restart", "rolled"), [({}, ["binder"]), ({"deployments": None}, []), ({"deployments": []}, [])],
                         ids=["default", "null", "empty list"])
def test_null_in_a_values_file_removes_the_default_like_helm(tmp_path, kube_api, htpasswd_registry, restart, rolled):
    """Helm's rule: a key set to null removes the chart's default. `restart.deployments: null` leaves
    no Deployment to restart, like an empty list (the hook neither reads nor rolls `binder`); left
    out, the default `[binder]` rolls BinderHub's Deployment."""
    kube_api.put(binder_deployment("binder"))
    values = {**generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")), "restart": restart}
    env = {"KUBECONFIG": str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder"))}
    result = run_cli("provision", "--values", str(write_values(tmp_path / "values.yaml", values)), "--log-format", "json", env=env)
    assert result.code == 0, result.stderr
    assert json.loads(result.stderr.splitlines()[-1])["restarted"] == rolled
    assert {event.name for event in kube_api.audit if event.resource == "deployments"} == set(rolled)
    assert len(kube_api.deployment_history("binder", "binder")) == 1 + len(rolled)


def test_password_never_appears_outside_the_secret_data(tmp_path, htpasswd_registry):
    password = htpasswd_registry.password("alice")
    result = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", password), "--log-format", "json")
    assert result.code == 0
    assert password not in result.stderr
    secret = result.document("Secret")
    assert password not in json.dumps(secret["metadata"])
    assert password not in json.dumps(result.document("ConfigMap"))
    failed = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", password + "-wrong"), "--debug")
    assert failed.code == 1
    assert password not in failed.output


def test_json_log_format_prints_one_json_object_per_line(tmp_path, htpasswd_registry):
    result = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", "wrong-password-12345"), "--log-format", "json")
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records[-1]["level"] == "error"
    assert records[-1]["exitCode"] == 1


@pytest.mark.parametrize("earlier_mode", [None, 0o644], ids=["new-file", "existing-world-readable-file"])
def test_output_dir_writes_the_secret_readable_only_by_its_owner(tmp_path, htpasswd_registry, earlier_mode):
    """Also when secret.yaml is there already with a wider mode (an earlier run's copy, a checkout)."""
    values = write_values(tmp_path / "values.yaml", generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))
    secret_path = tmp_path / "out" / "secret.yaml"
    if earlier_mode is not None:
        secret_path.parent.mkdir()
        secret_path.write_text("stale\n")
        secret_path.chmod(earlier_mode)
    result = run_cli("provision", "--values", str(values), "--output", str(tmp_path / "out"))
    assert result.code == 0, result.stderr
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    assert yaml.safe_load(secret_path.read_text().split("---\n", 1)[1])["kind"] == "Secret"
    pull_secret_path = tmp_path / "out" / "pull-secret.yaml"  # user pods' copy of the credentials: as private
    assert stat.S_IMODE(pull_secret_path.stat().st_mode) == 0o600
    assert yaml.safe_load(pull_secret_path.read_text().split("---\n", 1)[1])["metadata"]["name"] == "binderhub-registry-pull"
    assert (tmp_path / "out" / "settings-configmap.yaml").exists()


def test_render_is_offline(tmp_path):
    values = generic_values(f"http://127.0.0.1:{_closed_port()}", "alice", "pw-offline-123")
    result = run_cli("render", "--values", str(write_values(tmp_path / "v.yaml", values)))
    assert result.code == 0, result.stderr
    settings = binderhub_config(result.document("ConfigMap"))
    assert settings["DockerRegistry"]["docker_config_path"] == "/etc/binderhub/registry/docker/config.json"


def test_docker_clients_find_the_credentials_for_images_under_the_prefix(tmp_path, htpasswd_registry):
    result = provision_offline(tmp_path, generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))
    config = secret_docker_config(result.document("Secret"))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    registry, _ = docker.auth.resolve_repository_name(f"{htpasswd_registry.host}/binder/binder-x")
    found = docker.auth.resolve_authconfig(docker.auth.load_config(str(path)), registry)
    assert found["username"] == "alice"


# -- malformed docker configs and existing Secrets ----------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


URL = "https://registry.example.org"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (json.dumps({"auths": {URL: {"auth": "not base64!"}}}).encode(),
         f"has an auths entry '{URL}' whose `auth` is not base64 of UTF-8 username:password"),
        (json.dumps({"auths": {URL: {"auth": _b64(b"alice:\xff\xfe")}}}).encode(),
         f"has an auths entry '{URL}' whose `auth` is not base64 of UTF-8 username:password"),
        (json.dumps({"auths": {URL: {"auth": _b64(b"no-colon-here")}}}).encode(),
         f"has an auths entry '{URL}' whose `auth` is not base64 of UTF-8 username:password"),
        (json.dumps({"auths": {URL: "alice:secret-password"}}).encode(), f"has an auths entry '{URL}' that is a JSON string"),
        (json.dumps({"auths": {URL: {"auth": 42}}}).encode(), f"has an auths entry '{URL}' whose `auth` is a JSON number"),
        (json.dumps({"auths": [URL]}).encode(), "has an `auths` that is a JSON array"),
        (b'{"auths": {"' + URL.encode() + b'": {"auth": "\xff\xfe"}}}', "is not UTF-8 text"),
    ],
    ids=["auth-not-base64", "auth-not-utf8", "auth-without-colon", "entry-not-object", "auth-not-string", "auths-not-object",
         "file-not-utf8"],
)
def test_check_of_a_malformed_docker_config_exits_2_with_one_sentence_naming_the_file(tmp_path, content, problem):
    config_path = tmp_path / "config.json"
    config_path.write_bytes(content)
    values = write_values(tmp_path / "values.yaml", generic_values(URL, "alice", "some-password-123"))
    result = run_cli("check", "--values", str(values), "--docker-config", str(config_path))
    assert result.code == 2, result.stderr
    assert result.last_line.startswith(f"error: The docker config in {config_path} {problem}")
    assert result.last_line.endswith("re-run provision.") and result.last_line.count(". ") == 0
    assert "Unexpected error" not in result.stderr and "Traceback" not in result.stderr
    assert "secret-password" not in result.stderr


def test_check_refuses_username_and_password_fields_binderhub_ignores(tmp_path, htpasswd_registry):
    """Docker reads `username`/`password` fields, BinderHub decodes only `auth`: its binder pod
    would run without credentials and rebuild every image, so check says so (null entries are fine)."""
    password = htpasswd_registry.password("alice")
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"auths": {htpasswd_registry.url: {"username": "alice", "password": password},
                                                 "https://other.example.org": None}}))
    values = write_values(tmp_path / "values.yaml", generic_values(htpasswd_registry.url, "alice", password))
    result = run_cli("check", "--values", str(values), "--docker-config", str(config_path))
    assert result.code == 1, result.stderr
    assert "has no credentials BinderHub would find" in result.last_line
    assert password not in result.stderr


def _existing_secret(kube_api, data: dict[str, bytes]) -> None:
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "my-registry-credentials", "namespace": "binder"},
                  "data": {key: _b64(value) for key, value in data.items()}})


def _provision_with_existing_secret(kube_api, tmp_path, url: str):
    values = generic_values(url, "from-values", "")
    values["registry"]["existingSecret"] = "my-registry-credentials"
    env = {"KUBECONFIG": str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder"))}
    return run_cli("provision", "--values", str(write_values(tmp_path / "values.yaml", values)), "--output", "-", env=env)


def test_a_username_from_the_existing_secret_stays_readable_in_the_sentence(tmp_path, kube_api, htpasswd_registry):
    _existing_secret(kube_api, {"username": b"admin", "password": b"wrong-password-123456\n"})
    result = _provision_with_existing_secret(kube_api, tmp_path, htpasswd_registry.url)
    assert result.code == 1, result.stderr
    assert "rejected the login of user 'admin'" in result.last_line
    assert "***" not in result.last_line
    assert "wrong-password-123456" not in result.output


def test_a_binary_value_in_the_existing_secret_does_not_stop_provision_offline(tmp_path, kube_api, htpasswd_registry):
    password = htpasswd_registry.password("alice")
    _existing_secret(kube_api, {"username": b"alice", "password": password.encode(), "ca.p12": b"\x30\x82\xff\xfe\x00binary"})
    result = _provision_with_existing_secret(kube_api, tmp_path, htpasswd_registry.url)
    assert result.code == 0, result.stderr
    (entry,) = secret_docker_config(result.document("Secret"))["auths"].values()
    assert base64.b64decode(entry["auth"]).decode() == f"alice:{password}"
    assert password not in result.stderr


def test_a_password_file_with_a_trailing_newline_in_the_existing_secret_logs_in(tmp_path, kube_api, htpasswd_registry):
    """`kubectl create secret --from-file=password=...` keeps the file's final newline: it is not
    part of the password."""
    password = htpasswd_registry.password("alice")
    _existing_secret(kube_api, {"username": b"alice\n", "password": password.encode() + b"\n"})
    result = _provision_with_existing_secret(kube_api, tmp_path, htpasswd_registry.url)
    assert result.code == 0, result.stderr
    (entry,) = secret_docker_config(result.document("Secret"))["auths"].values()
    assert base64.b64decode(entry["auth"]).decode() == f"alice:{password}"


def test_render_of_google_without_a_discovered_token_url_names_the_registry_service(tmp_path):
    """Offline, the token URL BinderHub gets for Artifact Registry is the registry's own, with its
    service (the registry's host) as Google's token service requires."""
    values = {"registry": {"type": "artifact-registry",
                           "artifactRegistry": {"project": "my-project", "location": "us-central1", "repository": "binder"},
                           "google": {"mode": "validate", "key": "{}"}}}
    result = run_cli("render", "--values", str(write_values(tmp_path / "v.yaml", values)))
    assert result.code == 0, result.stderr
    token_url = binderhub_config(result.document("ConfigMap"))["DockerRegistry"]["token_url"]
    assert token_url == "https://us-central1-docker.pkg.dev/v2/token?service=us-central1-docker.pkg.dev"
