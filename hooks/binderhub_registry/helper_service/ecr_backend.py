"""The registry helper's answers for Amazon ECR (registry.type ecr), from the pod's AWS identity
(IRSA, EKS Pod Identity or access keys: boto3's default chain):

* ``POST /repo/NAME`` creates the ECR repository ``NAME`` (ECR refuses a push to a repository
  nobody created) with scan on push and the lifecycle policy of values; repositories created or
  seen are remembered for ``REPOSITORY_CHECK_SECONDS``;
* ``GET /repo/NAME`` and ``GET /image/NAME:TAG`` ask ECR (``DescribeRepositories``,
  ``DescribeImages``);
* ``mint`` fetches one ``GetAuthorizationToken`` token (12 hours) for the token cache, which
  renews it ``TOKEN_RENEW_BEFORE_SECONDS`` before it ends, so one call serves every build for hours.

boto3 is synchronous: every call runs in a worker thread, at most ``max_upstream_calls`` at once,
timed and counted in the metrics under upstream ``ecr``. A failure becomes an ``UpstreamError``
whose message is the package's one sentence (AWS's error code, never its free text)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from binderhub_registry.errors import RegistrySetupError, Unreachable
from binderhub_registry.helper_service.config import HelperConfig
from binderhub_registry.helper_service.google_tokens import AccessToken, UpstreamError
from binderhub_registry.helper_service.metrics import HelperMetrics
from binderhub_registry.providers.ecr.aws import AwsCalls, clients
from binderhub_registry.providers.ecr.repositories import Repositories
from binderhub_registry.providers.ecr.target import token_credentials

REPOSITORY_CHECK_SECONDS = 300.0
MAX_REMEMBERED_REPOSITORIES = 4096
T = TypeVar("T")


class EcrBackend:
    def __init__(self, config: HelperConfig, metrics: HelperMetrics, clock: Callable[[], float] = time.time) -> None:
        assert config.ecr is not None
        self.config = config
        self.metrics = metrics
        self.clock = clock
        who = "the registry helper's AWS identity"
        _sts, ecr = clients(config.ecr.region, who)
        self.repositories = Repositories(ecr, AwsCalls(config.ecr.region, who=who), config.ecr)
        self._limit = asyncio.Semaphore(config.max_upstream_calls)
        self._seen: dict[str, float] = {}  # repository -> until when it is known to exist

    async def mint(self) -> AccessToken:
        token, expires_at, _endpoint = await self._call(self.repositories.authorization)
        _username, password = await asyncio.to_thread(token_credentials, token)
        return AccessToken(password, expires_at)

    async def repository_exists(self, name: str) -> bool:
        if self._known(name):
            return True
        exists = await self._call(lambda: self.repositories.exists(name))
        if exists:
            self._remember(name)
        return exists

    async def ensure_repository(self, name: str) -> str:
        if not self._known(name):
            await self._call(lambda: self.repositories.create(name))
            self._remember(name)
        return name

    async def image(self, name: str, tag: str) -> dict[str, Any] | None:
        digest = await self._call(lambda: self.repositories.image_digest(name, tag))
        return None if digest is None else {"name": name, "tag": tag, "digest": digest}

    def _known(self, name: str) -> bool:
        return self.clock() < self._seen.get(name, 0.0)

    def _remember(self, name: str) -> None:
        if len(self._seen) >= MAX_REMEMBERED_REPOSITORIES:
            self._seen.clear()
        self._seen[name] = self.clock() + REPOSITORY_CHECK_SECONDS

    async def _call(self, call: Callable[[], T]) -> T:
        async with self._limit:
            started = time.perf_counter()
            try:
                return await asyncio.to_thread(call)
            except RegistrySetupError as exc:
                reason = "unreachable" if isinstance(exc, Unreachable) else "refused"
                self.metrics.upstream_errors.labels("ecr", reason).inc()
                raise UpstreamError(exc.message, 503 if isinstance(exc, Unreachable) else 502) from None
            finally:
                self.metrics.upstream_seconds.labels("ecr").observe(time.perf_counter() - started)
