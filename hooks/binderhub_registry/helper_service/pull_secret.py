"""registry.ecr.pullSecret helper: the registry helper keeps the pull Secret user pods pull with
(``<output.secretName>-pull``) holding a live ECR token.

The token is the token cache's (the one builds get): the keeper asks the cache, writes the Secret
when the cache holds a token it has not written yet, and waits until the cache renews (6 hours
before the token's 12 end); so the Secret always holds a token with hours to live, and each
renewal costs one ``GetAuthorizationToken`` for builds and pull Secret together. It only
patches (server-side apply) a Secret the hook created: its Role allows get and patch of that one
name, never create. A failure (AWS, or Kubernetes refusing: 403) is one log line and a metric,
and the keeper tries again after ``RETRY_SECONDS``; the helper keeps serving."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from binderhub_registry import dockerconfig
from binderhub_registry.errors import RegistrySetupError
from binderhub_registry.helper_service.google_tokens import UpstreamError
from binderhub_registry.helper_service.logs import log_line
from binderhub_registry.helper_service.metrics import HelperMetrics
from binderhub_registry.helper_service.token_cache import TokenCache

FIELD_MANAGER = "binderhub-registry-helper"
RETRY_SECONDS = 60.0
# Never wait less than this between two writes (a cache that renews at once must not spin).
MIN_WAIT_SECONDS = 1.0

# (document) -> None: a server-side apply (KubeWriter.apply), raising RegistrySetupError.
Apply = Callable[[dict[str, object]], None]


class PullSecretKeeper:
    def __init__(self, name: str, registry_url: str, username: str, tokens: TokenCache, apply: Apply, metrics: HelperMetrics) -> None:
        self.name = name
        self.registry_url = registry_url
        self.username = username
        self.tokens = tokens
        self._apply = apply
        self.metrics = metrics
        self.written_expiry: float | None = None  # when the token in the Secret expires (None: none written)
        self.problem = ""  # the last failure's sentence, "" after a success
        self._written = ""
        metrics.pull_secret_seconds_left.set_function(
            lambda: max(0.0, self.written_expiry - tokens.clock()) if self.written_expiry is not None else 0.0)

    @property
    def status(self) -> str:
        """For /healthz/ready: what the Secret holds, or why it was not renewed."""
        if self.problem:
            return f"not renewed: {self.problem}"
        if self.written_expiry is None:
            return "not written yet"
        return f"holds a token until {_iso(self.written_expiry)}"

    async def refresh(self) -> float:
        """Write the cache's token when it is new; seconds until the next refresh is due."""
        try:
            token = await self.tokens.get()
            if token.value != self._written:
                await asyncio.to_thread(self._apply, self._document(token.value))
                self._written, self.written_expiry = token.value, token.expires_at
                self.metrics.pull_secret_writes.labels("written").inc()
                log_line("pull-secret", "info", secret=self.name, expires=_iso(token.expires_at))
        except (UpstreamError, RegistrySetupError) as exc:
            return self._failed(exc.message)
        except Exception as exc:  # noqa: BLE001  (a bug must not end the keeper: one line, and another try)
            return self._failed(f"internal error ({type(exc).__name__})")
        self.problem = ""
        renews_at = self.tokens.renews_at
        return max(MIN_WAIT_SECONDS, (renews_at if renews_at is not None else 0.0) - self.tokens.clock())

    def _failed(self, reason: str) -> float:
        self.problem = f"The registry helper could not renew the pull Secret {self.name}: {reason}"
        self.metrics.pull_secret_writes.labels("failed").inc()
        log_line("pull-secret", "warning", secret=self.name, error=self.problem)
        return RETRY_SECONDS

    async def run(self, first: Awaitable[float], wait: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """Forever: wait for the refresh ``first`` (started by the helper at start), then refresh
        whenever the last one said."""
        delay = await first
        while True:
            await wait(delay)
            delay = await self.refresh()

    def _document(self, password: str) -> dict[str, object]:
        config = base64.b64encode(dockerconfig.dumps(dockerconfig.build(self.registry_url, self.username, password)).encode()).decode()
        return {  # the keys the hook writes (templates/secret.yaml.j2): the kubelet reads the first
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self.name},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": config, "config.json": config},
        }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
