"""The build pod's push (tests/stand_ins/build_pod.py) does what repo2docker and docker do with what
BinderHub gives it, and refuses what they refuse."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.stand_ins.build_pod import (
    BuildPodStartError,
    build_pod_docker_config,
    build_pod_environment,
    build_pod_push,
    docker_push_credentials,
)


def docker_config(key: str, userpass: str) -> dict:
    return {"auths": {key: {"auth": base64.b64encode(userpass.encode()).decode()}}}


def test_the_build_pod_reads_the_secrets_config_json_key():
    config = docker_config("https://r.example", "u:p")
    assert build_pod_docker_config({"config.json": json.dumps(config).encode(), ".dockerconfigjson": b"{}"}) == config


def test_the_build_pod_does_not_start_without_a_config_json_key():
    with pytest.raises(BuildPodStartError, match="subPath at /root/.docker/config.json"):
        build_pod_docker_config({".dockerconfigjson": b"{}"})


def test_a_registry_with_a_port_is_found_under_its_url():
    assert docker_push_credentials(docker_config("http://127.0.0.1:5000", "u:p"), "127.0.0.1:5000/proj/p-x:abc") == ("u", "p")


def test_docker_hub_images_use_the_index_docker_io_v1_key_and_no_other():
    assert docker_push_credentials(docker_config("https://index.docker.io/v1/", "hub:pw"), "hub/p-x:abc") == ("hub", "pw")
    with pytest.raises(LookupError):
        docker_push_credentials(docker_config("https://registry-1.docker.io", "hub:pw"), "hub/p-x:abc")


def test_no_auths_means_an_anonymous_push():
    with pytest.raises(LookupError):
        docker_push_credentials({}, "r.example/p:x")


def test_repo2docker_refuses_credentials_without_registry_username_and_password(token_registry, token_server):
    credentials = {"registry": token_registry.host, "username": "pusher"}
    with pytest.raises(ValueError, match="registry, username and password"):
        build_pod_push(build_pod_environment(credentials), f"{token_registry.host}/binder/x:v1")


def test_pushes_a_real_image_with_a_token_from_the_realm_the_registry_names(token_registry, token_server):
    credentials = {"registry": token_registry.host, "username": "pusher", "password": token_server.password("pusher")}
    assert build_pod_push(build_pod_environment(credentials), f"{token_registry.host}/binder/x:v1").startswith("sha256:")
    with pytest.raises(ValueError, match="logged in to"):
        build_pod_push(build_pod_environment(credentials), "other.example/binder/x:v1")


def test_the_real_registry_refuses_a_push_the_credentials_do_not_allow(token_registry, token_server):
    pull_only = {"registry": token_registry.host, "username": "puller", "password": token_server.password("puller")}
    with pytest.raises(httpx.HTTPStatusError):
        build_pod_push(build_pod_environment(pull_only), f"{token_registry.host}/binder/x:v1")
    wrong = {"registry": token_registry.host, "username": "pusher", "password": "wrong-password-0123"}
    with pytest.raises(PermissionError, match="answered 401"):
        build_pod_push(build_pod_environment(wrong), f"{token_registry.host}/binder/x:v1")
