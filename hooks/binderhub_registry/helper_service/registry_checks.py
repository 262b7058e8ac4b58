"""What BinderHub asks the helper, answered with the builder's token: does a repository or an
image exist in the registry (Docker Registry HTTP API v2), and does the Artifact Registry
repository the images go to exist.

Registry calls authenticate like docker does: the registry's ``WWW-Authenticate`` challenge
names a token service, which is asked with user ``oauth2accesstoken`` and the access token as
password for a pull token scoped to one repository. Pull tokens are cached per repository
until shortly before they expire; outbound calls are bounded by a semaphore.

A repository found is remembered for ``REPOSITORY_CHECK_SECONDS``: BinderHub asks ``/repo`` before
every ``/image``, and the image lookup that follows still asks the registry, so a repository
deleted meanwhile only means its image is not found. A repository not found is never remembered
(the next push creates it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from binderhub_registry.helper_service.config import HelperConfig
from binderhub_registry.helper_service.google_tokens import UpstreamError
from binderhub_registry.helper_service.token_cache import Flights, TokenCache
from binderhub_registry.registry_auth import Challenge, parse_www_authenticate

MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
MAX_CACHED_PULL_TOKENS = 1024
REPOSITORY_CHECK_SECONDS = 300.0


class RegistryChecks:
    def __init__(
        self, config: HelperConfig, http: httpx.AsyncClient, tokens: TokenCache, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.http = http
        self.tokens = tokens
        self.clock = clock
        self._limit = asyncio.Semaphore(config.max_upstream_calls)
        self._challenge: Challenge | None = None
        self._pull_tokens: dict[str, tuple[str, float]] = {}
        self.on_lookup: Callable[[bool], None] = lambda hit: None  # metrics: a pull token from the cache (True) or not
        self._flights = Flights()
        self._repository_seen_until = 0.0
        self._repositories_found: dict[str, float] = {}

    async def image(self, name: str, tag: str) -> dict[str, Any] | None:
        response = await self._registry("HEAD", f"/v2/{name}/manifests/{tag}", name, headers={"Accept": MANIFEST_TYPES})
        if response.status_code == 404:
            return None
        self._expect_ok(response, f"the manifest of {name}:{tag}")
        return {"name": name, "tag": tag, "digest": response.headers.get("Docker-Content-Digest", "")}

    async def repository_exists(self, name: str) -> bool:
        if self.clock() < self._repositories_found.get(name, 0.0):
            return True
        response = await self._registry("GET", f"/v2/{name}/tags/list", name, params={"n": "1"})
        if response.status_code == 404:
            return False
        self._expect_ok(response, f"the tags of {name}")
        if len(self._repositories_found) >= MAX_CACHED_PULL_TOKENS:
            self._repositories_found.clear()
        self._repositories_found[name] = self.clock() + REPOSITORY_CHECK_SECONDS
        return True

    async def ensure_repository(self, name: str) -> str:
        """Ready for a first push of ``name``: the Artifact Registry repository the images go to
        exists (docker repositories in it are created by the first push). The hook creates it; the
        builder may only read it."""
        if self.clock() < self._repository_seen_until:
            return self.config.repository
        token = await self.tokens.get()
        url = f"{self.config.artifact_registry_endpoint}/v1/{self.config.repository}"
        response = await self._send("GET", url, "Artifact Registry", headers={"Authorization": f"Bearer {token.value}"})
        if response.status_code in (403, 404):  # Google answers 403 for a missing resource too
            raise UpstreamError(
                f"Artifact Registry repository {self.config.repository} does not exist or the builder may not read it; "
                "run `helm upgrade` so the hook restores the repository and the builder's role."
            )
        self._expect_ok(response, f"Artifact Registry repository {self.config.repository}")
        self._repository_seen_until = self.clock() + REPOSITORY_CHECK_SECONDS
        return self.config.repository

    # -- the registry's token dance ----------------------------------------------------------

    async def _registry(self, method: str, path: str, name: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.config.registry_url.rstrip('/')}{path}"
        headers = dict(kwargs.pop("headers", None) or {})
        for _ in range(2):  # a cached pull token the registry no longer takes: once more with a new one
            bearer = await self._pull_token(name)
            if bearer:
                headers["Authorization"] = f"Bearer {bearer}"
            response = await self._send(method, url, "the registry", headers=headers, **kwargs)
            if response.status_code != 401:
                return response
            self._pull_tokens.pop(name, None)
        raise UpstreamError(f"The registry refused the builder's token for {name}; check the builder's role on the repository.")

    async def _pull_token(self, name: str) -> str:
        if self._challenge is None:
            await self._flights.run("challenge", self._discover)
        cached = self._pull_tokens.get(name)
        if cached and self.clock() < cached[1]:
            self.on_lookup(True)
            return cached[0]
        self.on_lookup(False)
        return await self._flights.run("pull:" + name, lambda: self._new_pull_token(name))

    async def _discover(self) -> None:
        """How the registry wants to be authenticated (its ``GET /v2/`` challenge), once."""
        response = await self._send("GET", f"{self.config.registry_url.rstrip('/')}/v2/", "the registry")
        self._challenge = parse_www_authenticate(response.headers.get("WWW-Authenticate", "")) or Challenge("none")

    async def _new_pull_token(self, name: str) -> str:
        challenge = self._challenge
        if challenge is None or challenge.scheme != "bearer":
            return ""
        access = await self.tokens.get()
        params = {"scope": f"repository:{name}:pull", "service": challenge.service}
        response = await self._send("GET", challenge.realm, "the registry's token service", params=params,
                                    auth=(self.config.token_user, access.value))
        if response.status_code == 401:
            self.tokens.forget()
            raise UpstreamError("The registry's token service refused the builder's access token; it may have been revoked.")
        self._expect_ok(response, "a pull token")
        body = response.json()
        token = str(body.get("token") or body.get("access_token") or "")
        lifetime = float(body.get("expires_in") or 60)
        if len(self._pull_tokens) >= MAX_CACHED_PULL_TOKENS:
            self._pull_tokens.clear()
        self._pull_tokens[name] = (token, self.clock() + max(lifetime - 10, 0))
        return token

    async def _send(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        async with self._limit:
            try:
                return await self.http.request(method, url, **kwargs)
            except httpx.TimeoutException:
                raise UpstreamError(f"{what} did not answer within {self.config.upstream_timeout_seconds:g}s.", 504) from None
            except httpx.TransportError as exc:
                raise UpstreamError(f"Cannot reach {what} ({type(exc).__name__}).", 503) from None

    @staticmethod
    def _expect_ok(response: httpx.Response, what: str) -> None:
        if response.status_code >= 400:
            status = 503 if response.status_code in (429, 500, 502, 503, 504) else 502
            raise UpstreamError(f"Reading {what} failed: the upstream answered {response.status_code}.", status)
