"""BinderHub's build pod pushing an image: what remains of the BinderHub emulation, because it is
repo2docker driving docker inside a pod, which cannot run here (no docker daemon, no images).
BinderHub's own registry client, which CAN run here, is tests/binderhub_client.py.

Held to upstream (jupyterhub/binderhub b9fad995 ``build.py`` ``KubernetesBuildExecutor``, read, not
copied; jupyterhub/repo2docker ``engine.py`` and ``docker.py``):

* With ``push_secret`` and no ``registry_credentials``, the build pod mounts the Secret's key
  ``config.json`` with ``subPath`` at ``/root/.docker/config.json``; without that key the pod
  never starts (``CreateContainerConfigError``). Docker then picks the ``auths`` entry for the
  image's registry with its own lookup (docker-py's ``docker.auth``, repo2docker's client):
  :func:`build_pod_docker_config`, :func:`docker_push_credentials`.
* With ``registry_credentials`` (what ``ExternalRegistryHelper.get_credentials`` hands a launch),
  they are JSON in the pod's ``CONTAINER_ENGINE_REGISTRY_CREDENTIALS``; repo2docker refuses them
  unless ``registry``, ``username`` and ``password`` are all there, runs ``docker login`` into
  ``registry`` and pushes; docker authenticates at the token service the registry's challenge
  names (plain HTTP for 127.0.0.0/8): :func:`build_pod_environment`, :func:`build_pod_push`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import docker.auth
import httpx
from binderhub_registry.registry_auth import parse_www_authenticate

from tests.binderhub_client import BinderHubRegistry, image_basename_and_tag
from tests.helpers import push_image

CREDENTIALS_ENV = "CONTAINER_ENGINE_REGISTRY_CREDENTIALS"
BUILD_POD_SECRET_KEY = "config.json"
BUILD_POD_DOCKER_CONFIG_PATH = "/root/.docker/config.json"


class BuildPodStartError(Exception):
    """The build pod cannot start: the push Secret has no key to mount."""


def build_pod_docker_config(secret_data: Mapping[str, bytes]) -> dict[str, Any]:
    """The parsed ``/root/.docker/config.json`` a build pod sees for the push Secret's data."""
    if BUILD_POD_SECRET_KEY not in secret_data:
        raise BuildPodStartError(f"push Secret has no key {BUILD_POD_SECRET_KEY!r} (keys: {sorted(secret_data)}); BinderHub mounts "
                                 f"it with subPath at {BUILD_POD_DOCKER_CONFIG_PATH}, so the build pod would not start")
    parsed = json.loads(secret_data[BUILD_POD_SECRET_KEY].decode())
    if not isinstance(parsed, dict):
        raise ValueError(f"{BUILD_POD_DOCKER_CONFIG_PATH} is not a JSON object")
    return parsed


def docker_push_credentials(config_json: Mapping[str, Any], image: str) -> tuple[str, str]:
    """(username, password) docker in a build pod pushes ``image`` with: docker-py's lookup of the
    image's registry in ``auths``. LookupError when none fits (the push would be anonymous)."""
    if not config_json.get("auths"):
        # load_config({}) would read this machine's own ~/.docker/config.json
        raise LookupError("docker config has no auths; the push would be anonymous")
    if config_json.get("credsStore") or config_json.get("credHelpers"):
        raise ValueError("credsStore/credHelpers need helper binaries a build pod does not have")
    registry, _ = docker.auth.resolve_repository_name(image)
    entry = docker.auth.resolve_authconfig(docker.auth.load_config(config_dict=copy.deepcopy(dict(config_json))), registry)
    if not entry:
        raise LookupError(f"no auths entry for registry {registry!r} (image {image!r}); keys: {sorted(config_json['auths'])}")
    return entry["username"], entry["password"]


def build_pod_environment(credentials: dict[str, str]) -> dict[str, str]:
    return {CREDENTIALS_ENV: json.dumps(credentials)}


def build_pod_push(environment: dict[str, str], image_spec: str) -> str:
    """repo2docker's push with ``CONTAINER_ENGINE_REGISTRY_CREDENTIALS``: ``docker login`` into
    ``registry``, then ``docker push`` of a real image. Returns the pushed digest."""
    credentials = json.loads(environment[CREDENTIALS_ENV])
    if len({"registry", "username", "password"} & credentials.keys()) != 3:
        raise ValueError("repo2docker: registry_credentials must have registry, username and password")
    host = credentials["registry"].split("://", 1)[-1].rstrip("/")
    url = f"http://{host}" if host.startswith(("127.", "localhost")) else f"https://{host}"
    if image_spec.split("/", 1)[0] != host:
        raise ValueError(f"docker: no credentials for {image_spec}: logged in to {host}")
    name, tag = image_basename_and_tag()(image_spec)
    return push_image(url, name, tag, token=_docker_token(url, credentials["username"], credentials["password"], name))


def _docker_token(url: str, username: str, password: str, repository: str) -> str:
    """docker's token dance: the challenge of GET /v2/, then the token service with Basic auth."""
    with httpx.Client(timeout=10) as client:
        challenge = client.get(f"{url}/v2/")
        if challenge.status_code != 401:
            raise ValueError(f"registry did not ask for credentials ({challenge.status_code})")
        parsed = parse_www_authenticate(challenge.headers["WWW-Authenticate"])
        if parsed is None or parsed.scheme != "bearer":
            raise ValueError("registry did not name a token service")
        reply = client.get(parsed.realm, params={"service": parsed.service, "scope": f"repository:{repository}:push,pull"},
                           auth=(username, password))
        if reply.status_code != 200:
            raise PermissionError(f"docker login failed: the token service answered {reply.status_code}")
        body = reply.json()
        return str(body.get("token") or body.get("access_token"))


def build_and_relaunch(binderhub: BinderHubRegistry, image_spec: str) -> str:
    """A first launch (image missing: the helper makes the repository ready and hands out push
    credentials), the build pod's push with them, and a second launch, which must find the image.
    Returns the pushed digest."""
    found, credentials = binderhub.launch(image_spec)
    if found or not credentials:
        raise AssertionError(f"first launch of {image_spec}: found={found}, credentials={bool(credentials)}")
    digest = build_pod_push(build_pod_environment(credentials), image_spec)
    if not binderhub.launch(image_spec)[0]:
        raise AssertionError(f"{image_spec} was pushed but the next launch does not find it")
    return digest
