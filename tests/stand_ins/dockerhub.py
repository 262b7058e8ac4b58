"""A stand-in Docker Hub: the real distribution registry behind a Docker Hub-like token service
and a reverse proxy that answers like Docker Hub's registry.

Why this exists: the dockerhub provider and the BinderHub settings it writes must be proven
against something that enforces what Docker Hub enforces, and Docker Hub is not reachable from
the test machines. Three parts, all on 127.0.0.1 with ephemeral ports:

* :class:`DockerHubTokenServer` (a :class:`~tests.stand_ins.token_server.TokenServer` with
  service ``registry.docker.io``) plays ``auth.docker.io/token``. Like Docker Hub, one Docker ID
  logs in with its account password *or* with any of several personal access tokens, each with
  its own permission level; the grants are worked out per request from that level and from
  organisation membership:

  - the account password and ``read-write-delete`` tokens: pull, push, delete;
    ``read-write`` tokens: pull, push; ``read-only`` tokens: pull;
  - on ``<username>/*`` (the user's own namespace) that level as is;
  - on ``<org>/*`` for an organisation the user is a member of: the member's role
    (``read`` -> pull, ``write`` -> pull, push, ``admin`` -> pull, push, delete) intersected
    with the credential's level; nothing on organisations the user is not a member of.

  Granted = asked ∩ allowed, and an empty intersection is still a 200 with ``"actions": []``
  (as on Docker Hub); a wrong password or token is 401 ``{"details": "incorrect username or
  password"}``; ``fail_next`` injects 429 (with ``Retry-After``) or 5xx answers. Requests are
  recorded (never a secret). Only the grant decision differs from the base token server
  (:meth:`DockerHubTokenServer.access_for_credentials`).
* :class:`~tests.stand_ins.registry.Registry`: the real ``docker-registry`` (distribution 2.8.2)
  in token mode, trusting that token server.
* :class:`NotFound401Proxy` in front of it (stdlib ``http.server`` + httpx): Docker Hub's
  registry answers a manifest ``GET``/``HEAD`` for a repository that does not exist with 401
  ``UNAUTHORIZED`` and a Bearer challenge even when the token is valid (BinderHub's
  ``DockerRegistry.not_found_401`` exists for this), while a missing tag in an existing
  repository stays a 404 ``MANIFEST_UNKNOWN``. The proxy asks distribution for the repository's
  tag list with the same token to tell the two apart. Everything else passes through unchanged
  (the ``Host`` header is forwarded, so upload ``Location`` URLs point at the proxy).

:class:`DockerHub` starts and stops the three together; ``registry_url`` (the proxy) and
``auth_url`` (the token endpoint) are what ``registry.dockerhub.registryUrl`` and ``authUrl``
point at in tests.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from tests.stand_ins.loopback import LOOPBACK, LoopbackHandler, LoopbackHttpServer
from tests.stand_ins.registry import Registry
from tests.stand_ins.token_server import ALL_ACTIONS, TokenServer, UserEntry

DOCKER_HUB_SERVICE = "registry.docker.io"
DOCKER_HUB_ISSUER = "auth.docker.io"

Permission = Literal["password", "read-write-delete", "read-write", "read-only"]
Role = Literal["read", "write", "admin"]

PERMISSION_ACTIONS: dict[str, frozenset[str]] = {
    "password": ALL_ACTIONS,
    "read-write-delete": ALL_ACTIONS,
    "read-write": frozenset({"pull", "push"}),
    "read-only": frozenset({"pull"}),
}
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"pull"}),
    "write": frozenset({"pull", "push"}),
    "admin": ALL_ACTIONS,
}


def random_secret(prefix: str) -> str:
    """A long random password or token that cannot appear in output by coincidence."""
    return prefix + secrets.token_urlsafe(32)


@dataclass
class Account:
    """One Docker ID: its secrets (the password and access tokens) and their permission."""

    username: str
    credentials: dict[str, Permission] = field(default_factory=dict)  # secret -> permission

    def secret(self, permission: Permission) -> str:
        """The first secret with that permission (``"password"`` is the account password)."""
        return next(s for s, p in self.credentials.items() if p == permission)

    @property
    def password(self) -> str:
        return self.secret("password")


class DockerHubTokenServer(TokenServer):
    """Docker Hub's token service: accounts with several secrets, organisations with members.

    ``users`` of the base class is not used for logins (it stays empty); see the module
    docstring for how grants are worked out.
    """

    thread_name = "dockerhub-token-server"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("service", DOCKER_HUB_SERVICE)
        kwargs.setdefault("issuer", DOCKER_HUB_ISSUER)
        super().__init__({}, **kwargs)
        self.accounts: dict[str, Account] = {}
        self.organisations: dict[str, dict[str, Role]] = {}  # org -> username -> role

    # -- the table -------------------------------------------------------------------------
    def add_account(self, username: str, password: str | None = None) -> Account:
        account = Account(username, {password or random_secret("pw-"): "password"})
        self.accounts[username] = account
        return account

    def add_token(self, username: str, permission: Permission) -> str:
        """A new personal access token of ``username`` with that permission level."""
        token = random_secret("dckr_pat_")
        self.accounts[username].credentials[token] = permission
        return token

    def add_organisation(self, name: str, members: Mapping[str, Role]) -> None:
        self.organisations[name] = dict(members)

    def grants_for(self, username: str, secret: str) -> UserEntry | None:
        """The grants of one login, or None if the username or the secret is wrong."""
        account = self.accounts.get(username)
        if account is None:
            return None
        permission = next((p for s, p in account.credentials.items()
                           if secrets.compare_digest(s.encode(), secret.encode())), None)
        if permission is None:
            return None
        level = PERMISSION_ACTIONS[permission]
        grants: list[tuple[str, Iterable[str]]] = [(f"{username}/*", level)]
        for org, members in self.organisations.items():
            if username in members:
                grants.append((f"{org}/*", ROLE_ACTIONS[members[username]] & level))
        return {"password": secret, "grants": grants}

    def access_for_credentials(self, username: str | None, password: str | None,
                               scopes: list[str]) -> list[dict[str, Any]] | None:
        if username is None:  # anonymous: the base class's ``anonymous`` entry
            return super().access_for_credentials(username, password, scopes)
        entry = self.grants_for(username, password) if password is not None else None
        return None if entry is None else self.access_for(entry, scopes)


# -- the registry's reverse proxy ------------------------------------------------------------

MANIFEST_PATH = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade", "content-length", "content-encoding"})


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str
    upstream_status: int
    status: int


class NotFound401Proxy(LoopbackHttpServer):
    """Reverse proxy in front of distribution that answers 401 for manifests of repositories
    that do not exist, like Docker Hub's registry."""

    thread_name = "dockerhub-registry-proxy"

    def __init__(self, upstream: str, realm: str, service: str) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.realm = realm
        self.service = service
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, timeout=10, follow_redirects=False)

    def handler_class(self) -> type[LoopbackHandler]:
        return type("Handler", (_ProxyHandler,), {"owner": self})

    def on_stop(self) -> None:
        self._client.close()

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def repository_missing(self, name: str, authorization: str | None) -> bool:
        """True if distribution does not know the repository (tag list: 404 NAME_UNKNOWN)."""
        headers = {"Authorization": authorization} if authorization else {}
        response = self._client.get(f"/v2/{name}/tags/list", headers=headers)
        if response.status_code != 404:
            return False
        try:
            codes = {e.get("code") for e in response.json().get("errors", [])}
        except (ValueError, AttributeError):
            return False
        return "NAME_UNKNOWN" in codes

    def unauthorized(self, name: str) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps({"errors": [{
            "code": "UNAUTHORIZED",
            "message": "authentication required",
            "detail": [{"Type": "repository", "Class": "", "Name": name, "Action": "pull"}],
        }]}).encode() + b"\n"
        challenge = (f'Bearer realm="{self.realm}",service="{self.service}",'
                     f'scope="repository:{name}:pull",error="insufficient_scope"')
        headers = {"Content-Type": "application/json", "WWW-Authenticate": challenge,
                   "Docker-Distribution-Api-Version": "registry/2.0"}
        return 401, headers, body


class _ProxyHandler(LoopbackHandler):
    owner: NotFound401Proxy

    def _forward(self) -> None:
        proxy = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "accept-encoding"}
        upstream = proxy._client.request(self.command, self.path, headers=headers, content=body)
        status = upstream.status_code
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        content = upstream.content
        match = MANIFEST_PATH.match(urlsplit(self.path).path)
        if (status == 404 and match is not None and self.command in ("GET", "HEAD")
                and proxy.repository_missing(match["name"], self.headers.get("Authorization"))):
            status, out_headers, content = proxy.unauthorized(match["name"])
        proxy._record(ProxiedRequest(self.command, self.path, upstream.status_code, status))

        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", upstream.headers.get("Content-Length", "0")
                             if status == upstream.status_code else str(len(content)))
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815


# -- the three together ----------------------------------------------------------------------

class DockerHub:
    """Token service + distribution + 401-for-missing proxy. ``start()``/``stop()`` or ``with``."""

    def __init__(self, address: str = LOOPBACK) -> None:
        self.address = address  # all three listen there (the test cluster's node address for pods)
        self.token_server = DockerHubTokenServer()
        self.token_server.address = address
        self.registry: Registry | None = None
        self.proxy: NotFound401Proxy | None = None

    def start(self) -> DockerHub:
        try:
            self.token_server.start()
            self.registry = Registry("token", token_server=self.token_server, address=self.address).start()
            self.proxy = NotFound401Proxy(self.registry.url, self.token_server.realm, self.token_server.service)
            self.proxy.address = self.address
            self.proxy.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.registry is not None:
            self.registry.stop()
            self.registry = None
        self.token_server.stop()

    def __enter__(self) -> DockerHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests point the values at ----------------------------------------------------
    @property
    def registry_url(self) -> str:
        """The registry API as clients see it (the proxy), for ``registryUrl``."""
        assert self.proxy is not None
        return self.proxy.url

    @property
    def auth_url(self) -> str:
        """The token endpoint, for ``authUrl``."""
        return self.token_server.realm

    # -- shortcuts -------------------------------------------------------------------------
    def add_account(self, username: str, password: str | None = None) -> Account:
        return self.token_server.add_account(username, password)

    def add_token(self, username: str, permission: Permission) -> str:
        return self.token_server.add_token(username, permission)

    def add_organisation(self, name: str, members: Mapping[str, Role]) -> None:
        self.token_server.add_organisation(name, members)

    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        self.token_server.fail_next(status, count, retry_after)

    def token(self, username: str, secret: str, repository: str, actions: str = "pull,push") -> str:
        """A registry token for ``repository`` from the token service, as ``docker login`` gets one."""
        response = httpx.get(self.auth_url, params={"service": self.token_server.service,
                                                    "scope": f"repository:{repository}:{actions}"},
                             auth=(username, secret), timeout=10)
        response.raise_for_status()
        return str(response.json()["token"])


__all__ = ["Account", "DOCKER_HUB_SERVICE", "DockerHub", "DockerHubTokenServer", "NotFound401Proxy",
           "PERMISSION_ACTIONS", "ProxiedRequest", "ROLE_ACTIONS", "random_secret"]
