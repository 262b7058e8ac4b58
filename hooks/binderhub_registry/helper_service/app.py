"""The HTTP application (ASGI) BinderHub's ``ExternalRegistryHelper`` talks to.

Endpoints, as ``binderhub/registry.py`` calls them (``Authorization: Bearer <token>``)::

    GET  /repo/NAME          200 {...} when the docker repository exists, else 404
    POST /repo/NAME          200 {...}: ready for a first push (Google: the Artifact Registry repository
                             exists; ECR: the repository NAME, created now if missing)
    GET  /image/NAME:TAG     200 {...} when the image exists, else 404
    POST /token/NAME:TAG     200 {"username", "password", "registry", "expires"}: push credentials

plus ``GET /healthz/live``, ``GET /healthz/ready`` (with ECR's pull Secret kept: what it holds, or
why it was not renewed) and ``GET /metrics`` (Prometheus) without authentication (``HEAD`` too).
Any other method on a known path is 405 with ``Allow``.

NAME and TAG follow distribution's reference grammar (``references``), else 400; names outside
the repository path BinderHub pushes to are refused (403) on every endpoint. Exactly one
``Authorization`` header, else 400. At most ``max_concurrent_requests`` requests are served at
once; the excess gets 503 with ``Retry-After`` at once, while health and metrics always answer.
A request body must arrive within ``body_timeout_seconds`` (else 408, connection closed).
Every request ends in one JSON log line; tokens, the Authorization header and upstream bodies
never appear in it or in an answer.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from binderhub_registry.helper_service.config import HelperConfig
from binderhub_registry.helper_service.google_tokens import BuilderTokens, UpstreamError
from binderhub_registry.helper_service.logs import log_line
from binderhub_registry.helper_service.metrics import CONTENT_TYPE, HelperMetrics, MeasuredTransport, UpstreamNames
from binderhub_registry.helper_service.pull_secret import Apply, PullSecretKeeper
from binderhub_registry.helper_service.references import InvalidReference, image_name, name_and_tag
from binderhub_registry.helper_service.registry_checks import RegistryChecks
from binderhub_registry.helper_service.token_cache import TokenCache

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
MAX_BODY = 64 * 1024
RETRY_AFTER_SECONDS = 1
# The methods each path answers; anything else there is 405.
UNAUTHENTICATED = {"/healthz/live": ("GET", "HEAD"), "/healthz/ready": ("GET", "HEAD"), "/metrics": ("GET", "HEAD")}
AUTHENTICATED = {"repo": ("GET", "POST"), "image": ("GET",), "token": ("POST",)}


@dataclass
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    raw: bytes | None = None  # sent as is (the metrics), instead of ``body`` as JSON
    content_type: bytes = b"application/json"


def _error(status: int, message: str, *headers: tuple[bytes, bytes]) -> Answer:
    return Answer(status, {"error": message}, list(headers))


class Lookups(Protocol):
    """What the registry is asked: Google's through the registry API (``registry_checks``), ECR's
    through ECR's API (``ecr_backend``)."""

    async def repository_exists(self, name: str) -> bool: ...
    async def ensure_repository(self, name: str) -> str: ...
    async def image(self, name: str, tag: str) -> dict[str, Any] | None: ...


class HelperApp:
    def __init__(self, config: HelperConfig, auth_token: str, clock: Callable[[], float] = time.time,
                 pull_secret: tuple[str, Apply] | None = None) -> None:
        """``pull_secret``: with ECR, the name of the pull Secret to keep holding a live token and
        how to write it (``pull_secret``)."""
        self.config = config
        self._auth = auth_token.encode()
        self.clock = clock
        self.ready = False
        self.in_flight = 0
        self.metrics = HelperMetrics()
        self.http: httpx.AsyncClient | None = None
        self.tokens: TokenCache | None = None
        self.checks: Lookups | None = None
        self._pull_secret = pull_secret
        self.pull_secret: PullSecretKeeper | None = None
        self._keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        timeout = httpx.Timeout(self.config.upstream_timeout_seconds)
        limits = httpx.Limits(max_connections=self.config.max_upstream_calls * 2)
        transport = MeasuredTransport(httpx.AsyncHTTPTransport(limits=limits), self.metrics, UpstreamNames(self.config))
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport, headers={"User-Agent": "binderhub-registry-helper"})
        if self.config.ecr is not None:
            from binderhub_registry.helper_service.ecr_backend import EcrBackend  # noqa: PLC0415  (boto3 only for ECR)

            backend = EcrBackend(self.config, self.metrics, self.clock)
            self.tokens = TokenCache(backend.mint, self.config.min_remaining_seconds, self.clock)
            self.checks = backend
        else:
            self.tokens = TokenCache(BuilderTokens(self.config, self.http).mint, self.config.min_remaining_seconds, self.clock)
        self.tokens.on_lookup = lambda hit: self.metrics.cache_lookup("access_token", hit)
        self.tokens.on_mint = self.metrics.token_mints.inc
        tokens = self.tokens
        self.metrics.watch_token(lambda: tokens.expires_at, lambda: tokens.clock())
        if self.config.ecr is None:
            checks = RegistryChecks(self.config, self.http, self.tokens, self.clock)
            checks.on_lookup = lambda hit: self.metrics.cache_lookup("pull_token", hit)
            self.checks = checks
        if self._pull_secret is not None and self.config.ecr is not None:
            await self._keep_pull_secret(*self._pull_secret)
        self.ready = True

    async def _keep_pull_secret(self, name: str, apply: Apply) -> None:
        """Write the pull Secret now (waiting at most request_timeout_seconds), then keep it fresh."""
        assert self.tokens is not None
        keeper = PullSecretKeeper(name, self.config.registry_url, self.config.token_user, self.tokens, apply, self.metrics)
        first = asyncio.ensure_future(keeper.refresh())
        await asyncio.wait([first], timeout=self.config.request_timeout_seconds)
        self.pull_secret, self._keeper = keeper, asyncio.create_task(keeper.run(first))

    async def stop(self) -> None:
        self.ready = False
        if self._keeper is not None:
            self._keeper.cancel()
        if self.http is not None:
            await self.http.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.monotonic()
        answer = await self._handle(scope, receive)
        payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
        headers = [(b"content-type", answer.content_type), (b"content-length", str(len(payload)).encode()), *answer.headers]
        if answer.status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="binderhub-registry-helper"'))
        seconds = time.monotonic() - started
        endpoint = scope["path"].lstrip("/").partition("/")[0]  # the only part of a path that becomes a metric label
        self.metrics.answered(endpoint, scope["method"], answer.status, seconds)
        client = (scope.get("client") or ("", 0))[0]
        fields: dict[str, Any] = {"method": scope["method"], "path": scope["path"], "status": answer.status, "client": client}
        fields["ms"] = round(seconds * 1000, 1)
        if answer.status >= 400 and "error" in answer.body:
            fields["error"] = answer.body["error"]
        log_line("request", "warning" if answer.status >= 500 else "info", **fields)  # before the answer: logged once answered
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else payload})

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

    async def _handle(self, scope: Scope, receive: Receive) -> Answer:
        method, path = scope["method"], scope["path"]
        kind, _, rest = path.lstrip("/").partition("/")
        allowed = UNAUTHENTICATED.get(path) or (AUTHENTICATED.get(kind) if path.startswith("/") else None)
        if allowed is None:
            return _error(404, "no such endpoint")
        if method not in allowed:
            return _error(405, f"{method} is not allowed here; use {' or '.join(allowed)}", (b"allow", ", ".join(allowed).encode()))
        try:
            async with asyncio.timeout(self.config.body_timeout_seconds):
                complete = await _drain_body(receive)
        except TimeoutError:
            return _error(408, f"the request body did not arrive within {self.config.body_timeout_seconds:g}s", (b"connection", b"close"))
        if not complete:
            return _error(413, f"request bodies are limited to {MAX_BODY} bytes", (b"connection", b"close"))
        if path in UNAUTHENTICATED:
            return self._unauthenticated(path)
        denied = self._authenticate(scope)
        if denied is not None:
            return denied
        try:
            name, tag = (image_name(rest), "") if kind == "repo" else name_and_tag(rest)
        except InvalidReference as exc:
            return _error(400, str(exc))
        if not self.config.allows(name):
            return _error(403, f"{name} is not under {self.config.image_path}, the path BinderHub pushes to")
        if self.in_flight >= self.config.max_concurrent_requests:
            retry = (b"retry-after", str(RETRY_AFTER_SECONDS).encode())
            return _error(503, f"{self.config.max_concurrent_requests} requests are in flight; try again", retry)
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            return await self._serve(method, kind, name, tag)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    def _unauthenticated(self, path: str) -> Answer:
        if path == "/healthz/live":
            return Answer(200, {"status": "ok"})
        if path == "/healthz/ready":
            pull = {"pullSecret": self.pull_secret.status} if self.pull_secret is not None else {}
            return Answer(200, {"status": "ready", **pull}) if self.ready else Answer(503, {"status": "not ready", **pull})
        return Answer(200, raw=self.metrics.exposition(), content_type=CONTENT_TYPE.encode())

    def _authenticate(self, scope: Scope) -> Answer | None:
        values = [value for key, value in scope.get("headers") or [] if key.lower() == b"authorization"]
        if len(values) > 1:
            return _error(400, "send one Authorization header")
        scheme, _, value = (values[0] if values else b"").partition(b" ")
        if scheme.lower() != b"bearer" or not value.strip():
            return _error(401, "send Authorization: Bearer <the helper's token>")
        if not hmac.compare_digest(value.strip(), self._auth):
            return _error(403, "not authorised")
        return None

    async def _serve(self, method: str, kind: str, name: str, tag: str) -> Answer:
        routes = {("GET", "repo"): self._get_repo, ("POST", "repo"): self._create_repo}
        routes |= {("GET", "image"): self._get_image, ("POST", "token"): self._get_token}
        try:
            async with asyncio.timeout(self.config.request_timeout_seconds):
                return await routes[(method, kind)](name, tag)
        except TimeoutError:
            return _error(504, f"no answer within {self.config.request_timeout_seconds:g}s")
        except UpstreamError as exc:
            return _error(exc.status, exc.message)
        except Exception as exc:  # noqa: BLE001  (a bug must still end in one log line, not a traceback with data)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return _error(500, f"internal error ({type(exc).__name__} at {Path(where.filename).name}:{where.lineno})")

    async def _get_repo(self, name: str, tag: str) -> Answer:
        assert self.checks is not None
        if await self.checks.repository_exists(name):
            return Answer(200, {"name": name})
        return _error(404, f"repository {name} not found")

    async def _create_repo(self, name: str, tag: str) -> Answer:
        assert self.checks is not None
        repository = await self.checks.ensure_repository(name)
        return Answer(200, {"name": name, "repository": repository})

    async def _get_image(self, name: str, tag: str) -> Answer:
        assert self.checks is not None
        found = await self.checks.image(name, tag)
        return Answer(200, found) if found else _error(404, f"image {name}:{tag} not found")

    async def _get_token(self, name: str, tag: str) -> Answer:
        assert self.tokens is not None
        token = await self.tokens.get()
        expires = datetime.fromtimestamp(token.expires_at, UTC).isoformat().replace("+00:00", "Z")
        credentials = {"username": self.config.token_user, "password": token.value, "registry": self.config.registry_host}
        return Answer(200, {**credentials, "expires": expires})


async def _drain_body(receive: Receive) -> bool:
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            return False
        if not message.get("more_body"):
            return True
