"""A registry with per-account actions on HTTP Basic auth, in front of the real distribution.

Why this exists: Nexus, Artifactory, Harbor with Basic auth, GitLab deploy tokens without
``write_registry`` and many self-hosted registries let an account log in (``GET /v2/`` answers
200) and pull, but refuse it the push: ``POST /v2/<name>/blobs/uploads/`` answers 401 or 403
depending on the product. distribution's htpasswd cannot express that (every user may do
everything), so the hook's upload-session proof had no registry that refuses it. This stand-in
is the gate; distribution (auth ``none``, on loopback) behind it stores what is allowed through.

* No or unknown credentials: 401 with ``WWW-Authenticate: Basic realm=...`` on every path.
* A known account: ``GET /v2/`` answers 200 (login works); a repository request needs the
  action it implies (``GET``/``HEAD`` pull; ``POST``/``PATCH``/``PUT`` on uploads and ``PUT``
  of manifests push; ``DELETE`` of an upload push, since cancelling an upload is part of
  pushing; ``DELETE`` of a manifest or blob delete), granted per repository glob
  (:func:`fnmatch`); refused with ``denied_status`` (401 ``UNAUTHORIZED`` with a Basic challenge,
  or 403 ``DENIED``) and a distribution-style error body.
* ``echo_authorization``: the refusal body quotes the request's ``Authorization`` header, as
  some registries and proxies in front of them do; tests use it to prove it never reaches output.
* ``accounts=None``: no gate at all, a recording pass-through (e.g. in front of a token registry).

Every request is recorded as :class:`SeenRequest` (method, path, account, status; never a
password), so tests assert what the registry saw, not what the hook printed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Literal
from urllib.parse import urlsplit

import httpx

from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

Action = Literal["pull", "push", "delete"]
Grants = list[tuple[str, set[str]]]  # (repository glob, actions)
REPOSITORY_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs|tags)(?P<rest>/.*)?$")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "content-length", "accept-encoding"})


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    account: str | None
    status: int

    def is_upload_start(self, repository: str) -> bool:
        return self.method == "POST" and self.path == f"/v2/{repository}/blobs/uploads/"

    def is_upload_cancel(self, repository: str) -> bool:
        return self.method == "DELETE" and self.path.startswith(f"/v2/{repository}/blobs/uploads/") and \
            len(self.path) > len(f"/v2/{repository}/blobs/uploads/")


def required_action(method: str, path: str) -> tuple[str, Action] | None:
    """(repository, action) a request needs, or None for paths outside any repository."""
    match = REPOSITORY_PATH.match(path)
    if match is None:
        return None
    name, kind, rest = match["name"], match["kind"], match["rest"] or ""
    if method in ("GET", "HEAD"):
        return name, "pull"
    if kind == "blobs" and rest.startswith("/uploads"):
        return name, "push"  # start, chunk, finish or cancel an upload
    if method == "DELETE":
        return name, "delete"
    return name, "push"


class BasicAuthRegistryProxy(LoopbackHttpServer):
    thread_name = "basic-auth-registry-proxy"

    def __init__(self, upstream: str, accounts: dict[str, tuple[str, Grants]] | None, *,
                 denied_status: Literal[401, 403] = 403, echo_authorization: bool = False,
                 realm: str = "Registry Realm", projects: list[str] | None = None) -> None:
        super().__init__()
        # Like Harbor or GitLab: repositories outside these globs (projects that do not exist)
        # answer 404 NAME_UNKNOWN to an authorised request; None: every repository may exist.
        self.projects = projects
        self.upstream = upstream.rstrip("/")
        self.accounts = accounts
        self.denied_status = denied_status
        self.echo_authorization = echo_authorization
        self.realm = realm
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, timeout=10, follow_redirects=False)

    def handler_class(self) -> type[LoopbackHandler]:
        return type("Handler", (_Handler,), {"owner": self})

    def on_stop(self) -> None:
        self._client.close()

    def seen(self, method: str | None = None) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    def record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def account(self, authorization: str | None) -> str | None:
        """The account the Basic credentials log in as, or None."""
        if self.accounts is None or not authorization or not authorization.lower().startswith("basic "):
            return None
        try:
            username, _, password = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        entry = self.accounts.get(username)
        return username if entry is not None and entry[0] == password else None

    def allowed(self, account: str, repository: str, action: Action) -> bool:
        assert self.accounts is not None
        return any(fnmatch(repository, glob) and action in actions for glob, actions in self.accounts[account][1])

    def refusal(self, status: int, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        code, message = ("UNAUTHORIZED", "authentication required") if status == 401 else (
            "DENIED", "requested access to the resource is denied")
        if self.echo_authorization:
            message += f" (request had Authorization: {authorization or 'none'})"
        headers = {"Content-Type": "application/json", "Docker-Distribution-Api-Version": "registry/2.0"}
        if status == 401:
            headers["WWW-Authenticate"] = f'Basic realm="{self.realm}"'
        return status, headers, json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


class _Handler(LoopbackHandler):
    owner: BasicAuthRegistryProxy

    def _handle(self) -> None:
        proxy = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        authorization = self.headers.get("Authorization")
        account = proxy.account(authorization)
        if proxy.accounts is not None and account is None:
            answer = proxy.refusal(401, authorization)
        else:
            needed = required_action(self.command, path)
            if proxy.accounts is not None and account is not None and needed is not None \
                    and not proxy.allowed(account, *needed):
                answer = proxy.refusal(proxy.denied_status, authorization)
            elif needed is not None and proxy.projects is not None and not any(fnmatch(needed[0], g) for g in proxy.projects):
                answer = 404, {"Content-Type": "application/json", "Docker-Distribution-Api-Version": "registry/2.0"}, json.dumps(
                    {"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry", "detail": None}]}).encode()
            else:
                answer = self._forward(body, keep_authorization=proxy.accounts is None)
        proxy.record(SeenRequest(self.command, path, account, answer[0]))
        status, headers, content = answer
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() != "content-length":
                self.send_header(key, value)
        head_length = next((v for k, v in headers.items() if k.lower() == "content-length"), "0")
        self.send_header("Content-Length", head_length if self.command == "HEAD" else str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    def _forward(self, body: bytes, keep_authorization: bool) -> tuple[int, dict[str, str], bytes]:
        dropped = HOP_BY_HOP if keep_authorization else HOP_BY_HOP | {"authorization"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        upstream = self.owner._client.request(self.command, self.path, headers=headers, content=body)
        out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP - {"content-length"}}
        return upstream.status_code, out, upstream.content

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815
