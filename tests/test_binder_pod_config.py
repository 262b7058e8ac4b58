"""What BinderHub itself makes of the wiring: BinderHub's chart's own `binderhub_config.py` run (real
traitlets) in the binder pod Helm renders, with the Secret and settings the real hook wrote for a
real basic-auth and a real token registry, in one release and in companion mode; then BinderHub's
registry client, with only that configuration and the pod's files, finds an image pushed with the
Secret's credentials."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.binder_pod import BinderPod, companion_binder_pod, one_release_binder_pod
from tests.helpers import generic_values, push_image, run_cli, write_values

SECRET = "binderhub-registry"
DOCKER_CONFIG_PATH = "/etc/binderhub/registry/docker/config.json"
USER_VALUES = {"config": {"BinderHub": {"image_prefix": "theirs/binder-"}}}  # a user's own prefix: ours wins


@dataclass
class Login:
    registry: Any
    username: str
    password: str
    token_url: str | None  # what BinderHub must use; None: BinderHub's default (Basic auth)

    def push(self, repository: str, tag: str) -> None:
        if self.token_url is None:
            push_image(self.registry.url, repository, tag, auth=httpx.BasicAuth(self.username, self.password))
            return
        token = httpx.get(f"{self.token_url}&scope=repository:{repository}:pull,push", auth=(self.username, self.password)).json()["token"]
        push_image(self.registry.url, repository, tag, token=token)


@pytest.fixture(params=["basic-auth", "token"])
def login(request, make_registry, token_server) -> Login:
    if request.param == "basic-auth":
        password = "alice-password-0123456789"
        return Login(make_registry("htpasswd", users={"alice": password}), "alice", password, None)
    registry = make_registry("token", token_server=token_server)
    return Login(registry, "pusher", token_server.password("pusher"), f"{token_server.realm}?service={token_server.service}")


def hook_output(tmp_path, login: Login) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The Secret and ConfigMap the hook writes (provision, as the hook Job runs it), and the values."""
    values = generic_values(login.registry.url, login.username, login.password)
    values["output"] = {"secretName": SECRET}
    result = run_cli("provision", "--values", str(write_values(tmp_path / "hook-values.yaml", values)), "--output", "-")
    assert result.code == 0, result.stderr
    return result.documents(), values


def assert_binderhub_configured(pod: BinderPod, login: Login, hook_objects: list[dict[str, Any]]) -> None:
    binderhub, registry = pod.section("BinderHub"), pod.section("DockerRegistry")
    assert binderhub["image_prefix"] == f"{login.registry.host}/binder/binder-"
    assert registry["url"] == login.registry.url
    assert registry.get("token_url") == login.token_url
    assert registry["docker_config_path"] == DOCKER_CONFIG_PATH
    assert pod.section("KubernetesBuildExecutor")["push_secret"] == SECRET
    (secret,) = [d for d in hook_objects if d["kind"] == "Secret" and d["metadata"]["name"] == SECRET]
    assert pod.files[DOCKER_CONFIG_PATH] == base64.b64decode(secret["data"]["config.json"])


def assert_finds_what_the_secret_pushed(pod: BinderPod, login: Login) -> None:
    (entry,) = json.loads(pod.files[DOCKER_CONFIG_PATH])["auths"].values()
    assert base64.b64decode(entry["auth"]).decode() == f"{login.username}:{login.password}"
    login.push("binder/binder-repo-abc", "v1")
    with pod.registry_client() as binderhub:
        assert binderhub.image_found(pod.section("BinderHub")["image_prefix"] + "repo-abc:v1").found
        assert not binderhub.image_found(pod.section("BinderHub")["image_prefix"] + "never-built:v1").found


@pytest.mark.parametrize("version", ["3", "4"])
def test_one_release_binderhub_checks_and_pushes_with_the_hooks_secret(helm_binaries, version, login, tmp_path):
    hook_objects, values = hook_output(tmp_path, login)
    values["binderhub"] = USER_VALUES
    pod = one_release_binder_pod(helm_binaries[version], write_values(tmp_path / "values.yaml", values), hook_objects)
    assert_binderhub_configured(pod, login, hook_objects)
    assert_finds_what_the_secret_pushed(pod, login)


def test_companion_binderhub_release_reads_the_same_settings(helm_binaries, login, tmp_path):
    hook_objects, _ = hook_output(tmp_path, login)
    (configmap,) = [d for d in hook_objects if d["kind"] == "ConfigMap"]
    pod = companion_binder_pod(helm_binaries["4"], configmap["data"]["binderhub-values.yaml"], hook_objects, tmp_path,
                               own_values=USER_VALUES)
    assert_binderhub_configured(pod, login, hook_objects)
    assert_finds_what_the_secret_pushed(pod, login)


def test_without_the_settings_configmap_the_binder_pod_does_not_start(helm_binaries, login, tmp_path):
    from tests.binder_pod import PodStartError

    hook_objects, values = hook_output(tmp_path, login)
    secret_only = [d for d in hook_objects if d["kind"] == "Secret"]
    with pytest.raises(PodStartError, match=f"ConfigMap '{SECRET}-settings' does not exist"):
        one_release_binder_pod(helm_binaries["4"], write_values(tmp_path / "values.yaml", values), secret_only)
