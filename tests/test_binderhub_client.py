"""What tests/binderhub_client.py adds around BinderHub's own registry classes: the binder pod's
files and environment, and the launch's and /health's calls. BinderHub's code itself is not
tested here (it is BinderHub's)."""

from __future__ import annotations

import base64
import json
import socket
import sys

import pytest
from traitlets import TraitError

from tests.binderhub_client import BinderHubRegistry, binderhub_wheel

URL = "https://registry.example.org"


def config_json(user: str) -> bytes:
    return json.dumps({"auths": {URL: {"auth": base64.b64encode(f"{user}:pw".encode()).decode()}}}).encode()


def test_the_registry_is_binderhubs_class_from_its_wheel():
    with BinderHubRegistry({"BinderHub": {"registry_class": "binderhub.registry.GoogleArtifactRegistry"}}) as binderhub:
        assert type(binderhub.registry).__name__ == "GoogleArtifactRegistry"
        assert sys.modules[type(binderhub.registry).__module__].__file__.startswith(str(binderhub_wheel()))


def test_the_docker_config_is_read_where_the_pod_has_it():
    files = {"/root/.docker/config.json": config_json("home"), "/etc/docker-config/config.json": config_json("env"),
             "/etc/ours/config.json": config_json("configured")}
    with BinderHubRegistry({}, files) as binderhub:  # the image runs as root; BinderHub's default is ~/.docker/config.json
        assert (binderhub.url, binderhub.username) == (URL, "home")
    with BinderHubRegistry({}, files, {"HOME": "/root", "DOCKER_CONFIG": "/etc/docker-config"}) as binderhub:
        assert binderhub.username == "env"
    with BinderHubRegistry({"DockerRegistry": {"docker_config_path": "/etc/ours/config.json"}}, files) as binderhub:
        assert binderhub.username == "configured"


def test_a_path_nothing_is_mounted_at_has_no_credentials():
    config = {"DockerRegistry": {"docker_config_path": "/etc/nothing/config.json", "url": URL}}
    with BinderHubRegistry(config, {"/root/.docker/config.json": config_json("home")}) as binderhub:
        assert binderhub.username == ""
        assert any(line.startswith("No docker config at ") for line in binderhub.log)


def test_the_helpers_token_comes_from_the_pods_environment_unless_configured():
    helper = {"BinderHub": {"registry_class": "binderhub.registry.ExternalRegistryHelper"}}
    env = {"HOME": "/root", "BINDERHUB_CONTAINER_REGISTRY_HELPER_AUTH_TOKEN": "from-env"}
    with BinderHubRegistry(helper, env=env) as binderhub:
        assert binderhub.auth_token == "from-env"
    with BinderHubRegistry({**helper, "ExternalRegistryHelper": {"auth_token": "configured"}}, env=env) as binderhub:
        assert binderhub.auth_token == "configured"
    with BinderHubRegistry(helper) as binderhub, pytest.raises(TraitError):  # BinderHub's default, None, is no string
        assert binderhub.auth_token


def test_a_registry_that_cannot_be_reached_is_not_found_three_times_and_unhealthy():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    config = {"BinderHub": {"image_prefix": f"127.0.0.1:{port}/binder/binder-"},
              "DockerRegistry": {"url": f"http://127.0.0.1:{port}", "username": "u", "password": "p"}}
    with BinderHubRegistry(config) as binderhub:
        lookup = binderhub.image_found(f"127.0.0.1:{port}/binder/binder-x:v1")
        assert not lookup.found and [error.code for error in lookup.errors] == [599] * 3
        assert not binderhub.health_check()
