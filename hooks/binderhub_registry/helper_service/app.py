"""The HTTP application (ASGI) BinderHub's ``ExternalRegistryHelper`` talks to.

Endpoints, as ``binderhub/registry.py`` calls them (``Authorization: Bearer <token>``)::

    GET  /repo/NAME          200 {...} when the docker repository exists, else 404
    POST /repo/NAME          200 {...}: ready for a first push (the Artifact Registry repository exists)
    GET  /image/NAME:TAG     200 {...} when the image exists, else 404
    POST /token/NAME:TAG     200 {"username", "password", "registry", "expires"}: push credentials

plus ``GET /healthz/live`` and ``GET /healthz/ready`` without authentication. Names outside the
repository path BinderHub pushes to are refused (403): the tokens are for that path only.
Every request ends in one JSON log line; tokens and the Authorization header never appear.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from binderhub_registry.helper_service.config import HelperConfig
from binderhub_registry.helper_service.google_tokens import BuilderTokens, UpstreamError
from binderhub_registry.helper_service.logs import log_line
from binderhub_registry.helper_service.registry_checks import ACCESS_TOKEN_USER, RegistryChecks
from binderhub_registry.helper_service.token_cache import TokenCache

Reply = tuple[int, dict[str, Any]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
MAX_BODY = 64 * 1024


class HelperApp:
    def __init__(self, config: HelperConfig, auth_token: str, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._auth = auth_token.encode()
        self.clock = clock
        self.ready = False
        self.http: httpx.AsyncClient | None = None
        self.tokens: TokenCache | None = None
        self.checks: RegistryChecks | None = None

    async def start(self) -> None:
        timeout = httpx.Timeout(self.config.upstream_timeout_seconds)
        limits = httpx.Limits(max_connections=self.config.max_upstream_calls * 2)
        self.http = httpx.AsyncClient(timeout=timeout, limits=limits, headers={"User-Agent": "binderhub-registry-helper"})
        self.tokens = TokenCache(BuilderTokens(self.config, self.http).mint, self.config.min_remaining_seconds, self.clock)
        self.checks = RegistryChecks(self.config, self.http, self.tokens, self.clock)
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self.http is not None:
            await self.http.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.monotonic()
        status, body = await self._handle(scope, receive)
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="binderhub-registry-helper"'))
        client = (scope.get("client") or ("", 0))[0]
        fields: dict[str, Any] = {"method": scope["method"], "path": scope["path"], "status": status, "client": client}
        fields["ms"] = round((time.monotonic() - started) * 1000, 1)
        if status >= 400 and "error" in body:
            fields["error"] = body["error"]
        log_line("request", "warning" if status >= 500 else "info", **fields)  # before the answer: logged once answered
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive) -> Reply:
        if not await _drain_body(receive):
            return 413, {"error": f"request bodies are limited to {MAX_BODY} bytes"}
        method, path = scope["method"], scope["path"]
        if path == "/healthz/live":
            return 200, {"status": "ok"}
        if path == "/healthz/ready":
            return (200, {"status": "ready"}) if self.ready else (503, {"status": "not ready"})
        denied = self._authenticate(scope)
        if denied is not None:
            return denied
        try:
            async with asyncio.timeout(self.config.request_timeout_seconds):
                return await self._route(method, path)
        except TimeoutError:
            return 504, {"error": f"no answer within {self.config.request_timeout_seconds:g}s"}
        except UpstreamError as exc:
            return exc.status, {"error": exc.message}
        except Exception as exc:  # noqa: BLE001  (a bug must still end in one log line, not a traceback with data)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return 500, {"error": f"internal error ({type(exc).__name__} at {Path(where.filename).name}:{where.lineno})"}

    def _authenticate(self, scope: Scope) -> Reply | None:
        header = dict(scope.get("headers") or []).get(b"authorization", b"")
        scheme, _, value = header.partition(b" ")
        if scheme.lower() != b"bearer" or not value.strip():
            return 401, {"error": "send Authorization: Bearer <the helper's token>"}
        if not hmac.compare_digest(value.strip(), self._auth):
            return 403, {"error": "not authorised"}
        return None

    async def _route(self, method: str, path: str) -> Reply:
        kind, _, rest = path.lstrip("/").partition("/")
        routes = {("GET", "repo"): self._get_repo, ("POST", "repo"): self._create_repo}
        routes |= {("GET", "image"): self._get_image, ("POST", "token"): self._get_token}
        handler = routes.get((method, kind))
        if handler is None:
            known = kind in ("repo", "image", "token")
            return (405, {"error": f"{method} is not allowed on /{kind}/"}) if known else (404, {"error": "no such endpoint"})
        name, tag = _split_tag(rest) if kind in ("image", "token") else (rest, "")
        if not self.config.allows(name) or (kind != "repo" and not tag):
            return 403, {"error": f"{rest} is not under {self.config.image_path}, the path BinderHub pushes to"}
        return await handler(name, tag)

    async def _get_repo(self, name: str, tag: str) -> Reply:
        assert self.checks is not None
        if await self.checks.repository_exists(name):
            return 200, {"name": name}
        return 404, {"error": f"repository {name} not found"}

    async def _create_repo(self, name: str, tag: str) -> Reply:
        assert self.checks is not None
        await self.checks.ensure_artifact_repository()
        return 200, {"name": name, "repository": self.config.repository}

    async def _get_image(self, name: str, tag: str) -> Reply:
        assert self.checks is not None
        found = await self.checks.image(name, tag)
        return (200, found) if found else (404, {"error": f"image {name}:{tag} not found"})

    async def _get_token(self, name: str, tag: str) -> Reply:
        assert self.tokens is not None
        token = await self.tokens.get()
        expires = datetime.fromtimestamp(token.expires_at, UTC).isoformat().replace("+00:00", "Z")
        return 200, {"username": ACCESS_TOKEN_USER, "password": token.value, "registry": self.config.registry_host, "expires": expires}


def _split_tag(rest: str) -> tuple[str, str]:
    name, sep, tag = rest.rpartition(":")
    if not sep or "/" in tag:
        return rest, ""
    return name, tag


async def _drain_body(receive: Receive) -> bool:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            return False
        if not message.get("more_body"):
            return True
