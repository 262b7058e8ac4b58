"""One cached access token, minted at most once at a time (single flight).

A token is handed out only while it has at least ``min_remaining`` seconds to live, so a build
that receives it can still push; at ``expires_at - min_remaining`` exactly it is renewed. A token
minted with less than that (a metadata server may hand out its cached one) is reused for
``SHORT_TOKEN_REUSE_SECONDS`` at most, and never once it has less than ``MIN_SERVED_SECONDS`` left:
such a token is refused (503, try again) rather than handed to a build that could not push with it.

Requests that arrive while a mint is under way wait for that mint and share its outcome, success
or failure; a request that gives up (times out) does not cancel the mint for the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from binderhub_registry.helper_service.google_tokens import AccessToken, UpstreamError

T = TypeVar("T")


class Flights:
    """At most one call per key in flight: callers for a key that is under way wait for that
    call and share its outcome; one caller giving up (timing out) does not cancel it."""

    def __init__(self) -> None:
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    async def run(self, key: str, call: Callable[[], Awaitable[T]]) -> T:
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(call())
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._landed(key, done))
        return cast(T, await asyncio.shield(future))

    def _landed(self, key: str, done: asyncio.Future[Any]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved, even when every waiter gave up before it came


# A token shorter-lived than min_remaining (a metadata server may hand out a cached one) is still
# used, for this long at most, rather than asking again on every request.
SHORT_TOKEN_REUSE_SECONDS = 30.0
# No token is handed out with less than this to live, however it was minted.
MIN_SERVED_SECONDS = 60.0


class TokenCache:
    def __init__(
        self, mint: Callable[[], Awaitable[AccessToken]], min_remaining: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._mint = mint
        self.min_remaining = min_remaining
        self.clock = clock
        self.mints = 0  # successful mints, for the benchmark and the logs
        self.on_lookup: Callable[[bool], None] = lambda hit: None  # metrics: a hit (True) or a miss
        self.on_mint: Callable[[], None] = lambda: None
        self._token: AccessToken | None = None
        self._until = 0.0
        self._flights: Flights = Flights()

    @property
    def expires_at(self) -> float | None:
        """When the cached token expires (None: none cached)."""
        return self._token.expires_at if self._token is not None else None

    @property
    def renews_at(self) -> float | None:
        """When the cached token stops being handed out and the next ``get`` mints (None: none cached)."""
        return self._until if self._token is not None else None

    async def get(self) -> AccessToken:
        token = self._token
        if token is not None and self.clock() < self._until:
            self.on_lookup(True)
            return token
        self.on_lookup(False)
        return await self._flights.run("token", self._mint_once)

    def forget(self) -> None:
        """Drop the cached token (the registry refused it)."""
        self._token, self._until = None, 0.0

    async def _mint_once(self) -> AccessToken:
        token = await self._mint()
        self.mints += 1
        self.on_mint()
        now = self.clock()
        until = token.expires_at - self.min_remaining
        if until <= now:
            until = min(now + SHORT_TOKEN_REUSE_SECONDS, token.expires_at - MIN_SERVED_SECONDS)
        if until <= now:
            self.forget()
            expiry = datetime.fromtimestamp(token.expires_at, UTC).isoformat(timespec="seconds")
            raise UpstreamError(
                f"The builder's new token expires already at {expiry}, under {MIN_SERVED_SECONDS:g}s from now; "
                "the helper will ask again on the next request.", 503)
        self._token, self._until = token, until
        return token
