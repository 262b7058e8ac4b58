"""How BinderHub uses a registry helper service, emulated on httpx: ``ExternalRegistryHelper``
(``binderhub/registry.py``), the launch's use of it (``binderhub/builder.py``), and what the build
pod does with the credentials (``binderhub/build.py`` -> env ``CONTAINER_ENGINE_REGISTRY_CREDENTIALS``
-> repo2docker ``docker login --username U --password-stdin REGISTRY`` -> ``docker push``).

Read upstream: jupyterhub/binderhub ``b9fad995`` (``registry.py`` ``ExternalRegistryHelper``,
``builder.py`` L425-506, ``build.py`` L480-533) and jupyterhub/repo2docker ``engine.py``
(``registry_credentials`` needs exactly the keys registry, username and password) and
``docker.py`` (``docker_login``). Written from that reading; nothing copied.

Behaviours reproduced:

* every call carries ``Authorization: Bearer <auth_token>``; a non-2xx answer raises (tornado's
  ``HTTPClientError``) except where 404 is expected;
* ``get_image_manifest``: ``GET /repo/NAME``; 404 or a falsy JSON body -> ``POST /repo/NAME``
  (body "") and "image missing"; otherwise ``GET /image/NAME:TAG``, 404 -> missing;
* ``get_credentials``: ``POST /token/NAME:TAG`` (body ""); 404 -> None; only ``username``,
  ``password`` and ``registry`` are kept;
* the build pod: credentials as JSON in the environment; repo2docker refuses them unless all three
  keys are there; docker logs in to ``registry`` and pushes, authenticating at the registry's
  token service with those credentials (docker treats 127.0.0.0/8 registries as plain HTTP).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from binderhub_registry.registry_auth import parse_www_authenticate

from tests.helpers import push_image
from tests.stand_ins.binderhub_emulation import image_basename_and_tag

CREDENTIALS_ENV = "CONTAINER_ENGINE_REGISTRY_CREDENTIALS"


class HelperHTTPError(Exception):
    def __init__(self, code: int, url: str, body: str) -> None:
        super().__init__(f"HTTP {code} from {url}: {body[:800]}")
        self.code = code


@dataclass
class LaunchOutcome:
    image_found: bool
    calls: list[str]


class ExternalRegistryHelperClient:
    def __init__(self, service_url: str, auth_token: str, timeout: float = 20.0) -> None:
        self.service_url = service_url.rstrip("/")
        self.auth_token = auth_token
        self.calls: list[str] = []
        self._http = httpx.Client(timeout=timeout)

    @classmethod
    def from_binderhub_config(cls, config: Any, env: dict[str, str] | None = None,
                              route: Callable[[str], str] = lambda url: url) -> ExternalRegistryHelperClient:
        """As BinderHub builds its registry at start (``registry_class(parent=self)``) from its
        traitlets configuration: the class must be ExternalRegistryHelper; ``service_url`` and
        ``auth_token`` come from its section, the token's default from the environment.
        ``route`` stands in for cluster DNS (a Service name to a loopback address)."""
        registry_class = config["BinderHub"].get("registry_class") if "BinderHub" in config else None
        if registry_class != "binderhub.registry.ExternalRegistryHelper":
            raise ValueError(f"BinderHub's registry_class is {registry_class!r}, not ExternalRegistryHelper")
        section = config["ExternalRegistryHelper"] if "ExternalRegistryHelper" in config else {}
        service_url = section.get("service_url", "http://binderhub-container-registry-helper:8080")
        token = section.get("auth_token") or (env or {}).get("BINDERHUB_CONTAINER_REGISTRY_HELPER_AUTH_TOKEN")
        if not token:
            raise ValueError("BinderHub has no auth_token for the registry helper")
        return cls(route(service_url), token)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExternalRegistryHelperClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, endpoint: str, method: str = "GET") -> Any:
        url = f"{self.service_url}{endpoint}"
        self.calls.append(f"{method} {endpoint}")
        body = b"" if method == "POST" else None
        response = self._http.request(method, url, content=body, headers={"Authorization": f"Bearer {self.auth_token}"})
        if response.status_code >= 300:
            raise HelperHTTPError(response.status_code, url, response.text)
        return json.loads(response.content.decode("utf-8"))

    def get_image_manifest(self, image: str, tag: str) -> Any:
        try:
            repo_json = self._request(f"/repo/{image}")
        except HelperHTTPError as exc:
            if exc.code != 404:
                raise
            repo_json = None
        if not repo_json:
            self._request(f"/repo/{image}", method="POST")
            return None
        try:
            return self._request(f"/image/{image}:{tag}")
        except HelperHTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def get_credentials(self, image: str, tag: str) -> dict[str, str] | None:
        try:
            token_json = self._request(f"/token/{image}:{tag}", method="POST")
        except HelperHTTPError as exc:
            if exc.code == 404:
                return None
            raise
        return {k: v for k, v in token_json.items() if k in ("username", "password", "registry")}

    def launch(self, image_spec: str) -> tuple[bool, dict[str, str] | None]:
        """What a launch does before building: look the image up; if missing, ask for push
        credentials. Returns (found, credentials or None)."""
        name, tag = image_basename_and_tag(image_spec)
        found = bool(self.get_image_manifest(name, tag))
        return found, (None if found else self.get_credentials(name, tag))


def build_pod_environment(credentials: dict[str, str]) -> dict[str, str]:
    return {CREDENTIALS_ENV: json.dumps(credentials)}


def build_pod_push(environment: dict[str, str], image_spec: str) -> str:
    """repo2docker's push with ``CONTAINER_ENGINE_REGISTRY_CREDENTIALS``: ``docker login`` into
    ``registry``, then ``docker push`` of a real image. Returns the pushed digest."""
    credentials = json.loads(environment[CREDENTIALS_ENV])
    if len({"registry", "username", "password"} & credentials.keys()) != 3:
        raise ValueError("repo2docker: registry_credentials must have registry, username and password")
    registry = credentials["registry"]
    host = registry.split("://", 1)[-1].rstrip("/")
    url = f"http://{host}" if host.startswith(("127.", "localhost")) else f"https://{host}"
    name, tag = image_basename_and_tag(image_spec)
    if image_spec.split("/", 1)[0] != host:
        raise ValueError(f"docker: no credentials for {image_spec}: logged in to {host}")
    token = _docker_token(url, credentials["username"], credentials["password"], name)
    return push_image(url, name, tag, token=token)


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
            raise HelperHTTPError(reply.status_code, parsed.realm, "docker login failed: unauthorized")
        body = reply.json()
        return str(body.get("token") or body.get("access_token"))


def build_and_relaunch(binderhub: ExternalRegistryHelperClient, image_spec: str) -> str:
    """A first launch (image missing: the repository is made ready and credentials handed out), the
    build pod's push with those credentials, and a second launch, which must find the image.
    Returns the pushed digest."""
    found, credentials = binderhub.launch(image_spec)
    if found or not credentials:
        raise AssertionError(f"first launch of {image_spec}: found={found}, credentials={bool(credentials)}")
    digest = build_pod_push(build_pod_environment(credentials), image_spec)
    if not binderhub.launch(image_spec)[0]:
        raise AssertionError(f"{image_spec} was pushed but the next launch does not find it")
    return digest
