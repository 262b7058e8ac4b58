"""One cached access token, minted at most once at a time (single flight).

A token is handed out only while it has at least ``min_remaining`` seconds to live, so a build
that receives it can still push. Requests that arrive while a mint is under way wait for that
mint and share its outcome, success or failure; a request that gives up (times out) does not
cancel the mint for the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from binderhub_registry.helper_service.google_tokens import AccessToken

# A token shorter-lived than min_remaining (a metadata server may hand out a cached one) is still
# used, for this long at most, rather than asking again on every request.
SHORT_TOKEN_REUSE_SECONDS = 30.0


class TokenCache:
    def __init__(
        self, mint: Callable[[], Awaitable[AccessToken]], min_remaining: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._mint = mint
        self.min_remaining = min_remaining
        self.clock = clock
        self.mints = 0  # successful mints, for the benchmark and the logs
        self._token: AccessToken | None = None
        self._until = 0.0
        self._inflight: asyncio.Future[AccessToken] | None = None

    async def get(self) -> AccessToken:
        token = self._token
        if token is not None and self.clock() < self._until:
            return token
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._mint_once())
            # mark a failure retrieved even when every waiter gave up before it came
            self._inflight.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(self._inflight)

    def forget(self) -> None:
        """Drop the cached token (the registry refused it)."""
        self._token, self._until = None, 0.0

    async def _mint_once(self) -> AccessToken:
        try:
            token = await self._mint()
            now = self.clock()
            until = token.expires_at - self.min_remaining
            if until <= now:
                until = min(now + SHORT_TOKEN_REUSE_SECONDS, token.expires_at - 1)
            self._token, self._until = token, until
            self.mints += 1
            return token
        finally:
            self._inflight = None
