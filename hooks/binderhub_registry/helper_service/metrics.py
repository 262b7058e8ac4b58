"""The helper's Prometheus metrics, served at ``GET /metrics`` (text format, ``prometheus-client``).

Label values are bounded: the endpoint (``repo``, ``image``, ``token``, ``healthz``, ``metrics``,
``other``), the method and status, and the upstream (``registry``, ``registry_token``,
``metadata``, ``iam_credentials``, ``artifact_registry``). Image names never become label values.
Each application has its own registry of metrics (several run in one test process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from binderhub_registry.helper_service.config import HelperConfig

ENDPOINTS = frozenset({"repo", "image", "token", "healthz", "metrics"})
CONTENT_TYPE = CONTENT_TYPE_LATEST
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HelperMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("binderhub_registry_helper_requests", "Requests answered, by endpoint, method and status.",
                                ["endpoint", "method", "status"], registry=r)
        self.request_seconds = Histogram("binderhub_registry_helper_request_seconds", "Time to answer a request, by endpoint.",
                                         ["endpoint"], buckets=_FAST, registry=r)
        self.in_flight = Gauge("binderhub_registry_helper_requests_in_flight", "Requests being served (health and metrics excluded).",
                               registry=r)
        self.upstream_seconds = Histogram("binderhub_registry_helper_upstream_seconds", "Time of calls to upstreams, by upstream.",
                                          ["upstream"], buckets=_FAST, registry=r)
        self.upstream_errors = Counter("binderhub_registry_helper_upstream_errors",
                                       "Upstream calls that failed (timeout, connection, or an answer of 429 or 5xx).",
                                       ["upstream", "reason"], registry=r)
        self.token_mints = Counter("binderhub_registry_helper_token_mints", "Builder access tokens minted.", registry=r)
        self.cache = Counter("binderhub_registry_helper_cache_lookups", "Token cache lookups, by cache and result (hit, miss).",
                             ["cache", "result"], registry=r)
        self.token_seconds_left = Gauge("binderhub_registry_helper_token_seconds_left",
                                        "Seconds until the cached builder token expires (0: none cached).", registry=r)
        self.pull_secret_writes = Counter("binderhub_registry_helper_pull_secret_writes",
                                          "Renewals of the pull Secret (registry.ecr.pullSecret helper), by result (written, failed).",
                                          ["result"], registry=r)
        self.pull_secret_seconds_left = Gauge("binderhub_registry_helper_pull_secret_seconds_left",
                                              "Seconds until the token in the pull Secret expires (0: none written).", registry=r)

    def watch_token(self, expires_at: Callable[[], float | None], clock: Callable[[], float]) -> None:
        """The token gauge reads the cache when scraped."""
        def left() -> float:
            expiry = expires_at()
            return max(0.0, expiry - clock()) if expiry is not None else 0.0

        self.token_seconds_left.set_function(left)

    def answered(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        endpoint = endpoint if endpoint in ENDPOINTS else "other"
        method = method if method in ("GET", "HEAD", "POST") else "other"
        self.requests.labels(endpoint, method, str(status)).inc()
        self.request_seconds.labels(endpoint).observe(seconds)

    def cache_lookup(self, cache: str, hit: bool) -> None:
        self.cache.labels(cache, "hit" if hit else "miss").inc()

    def exposition(self) -> bytes:
        return bytes(generate_latest(self.registry))


class UpstreamNames:
    """Names the upstream of a URL by its scheme, host and port, from the helper's settings;
    anything else (the registry's token service, named by its challenge) is ``registry_token``."""

    def __init__(self, config: HelperConfig) -> None:
        self._names = {
            _origin(config.registry_url): "registry",
            _origin(f"http://{config.metadata_host}"): "metadata",
            _origin(config.iam_credentials_endpoint): "iam_credentials",
            _origin(config.artifact_registry_endpoint): "artifact_registry",
        }

    def of(self, url: httpx.URL) -> str:
        return self._names.get((url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)), "registry_token")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS.get(parts.scheme)


class MeasuredTransport(httpx.AsyncBaseTransport):
    """httpx's transport, timing every upstream call and counting its failures."""

    def __init__(self, inner: httpx.AsyncBaseTransport, metrics: HelperMetrics, names: UpstreamNames) -> None:
        self.inner = inner
        self.metrics = metrics
        self.names = names

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        upstream = self.names.of(request.url)
        started = time.perf_counter()
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TimeoutException:
            self.metrics.upstream_errors.labels(upstream, "timeout").inc()
            raise
        except httpx.TransportError:
            self.metrics.upstream_errors.labels(upstream, "connection").inc()
            raise
        finally:
            self.metrics.upstream_seconds.labels(upstream).observe(time.perf_counter() - started)
        if response.status_code == 429 or response.status_code >= 500:
            self.metrics.upstream_errors.labels(upstream, str(response.status_code)).inc()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
