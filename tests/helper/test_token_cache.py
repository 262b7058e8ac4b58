"""The token cache's clock edges: a token is handed out while it has at least ``min_remaining``
seconds left and renewed at that instant exactly; a short-lived token is reused for 30 s at most
and never handed out with less than a minute left."""

from __future__ import annotations

import asyncio

import pytest
from binderhub_registry.helper_service.google_tokens import AccessToken, UpstreamError
from binderhub_registry.helper_service.token_cache import MIN_SERVED_SECONDS, SHORT_TOKEN_REUSE_SECONDS, TokenCache

NOW = 1_000_000.0
MIN_REMAINING = 900.0


class Minter:
    """Mints tokens that live ``lifetime`` seconds from the clock's now, numbered."""

    def __init__(self, clock: dict[str, float], lifetime: float = 3600.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.minted = 0

    async def __call__(self) -> AccessToken:
        self.minted += 1
        return AccessToken(f"token-{self.minted}", self.clock["now"] + self.lifetime)


def cache_at(lifetime: float = 3600.0) -> tuple[TokenCache, Minter, dict[str, float]]:
    clock = {"now": NOW}
    minter = Minter(clock, lifetime)
    return TokenCache(minter, MIN_REMAINING, lambda: clock["now"]), minter, clock


def get(cache: TokenCache) -> str:
    return asyncio.run(cache.get()).value


def test_renewed_exactly_when_min_remaining_is_left():
    cache, minter, clock = cache_at()
    assert get(cache) == "token-1"
    clock["now"] = NOW + 3600 - MIN_REMAINING - 0.001  # a millisecond more than min_remaining left
    assert get(cache) == "token-1"
    clock["now"] = NOW + 3600 - MIN_REMAINING  # exactly min_remaining left: no longer handed out
    assert get(cache) == "token-2"
    assert minter.minted == 2


def test_a_short_lived_token_is_reused_30_seconds_at_most():
    cache, minter, clock = cache_at(lifetime=MIN_REMAINING - 1)  # a metadata server's cached token
    assert get(cache) == "token-1"
    clock["now"] = NOW + SHORT_TOKEN_REUSE_SECONDS - 0.001
    assert get(cache) == "token-1"
    clock["now"] = NOW + SHORT_TOKEN_REUSE_SECONDS
    assert get(cache) == "token-2"


def test_a_short_lived_token_is_not_served_in_its_last_minute():
    """With 80 s to live, it is reused for 20 s (until a minute is left), not 30."""
    cache, minter, clock = cache_at(lifetime=MIN_SERVED_SECONDS + 20)
    assert get(cache) == "token-1"
    clock["now"] = NOW + 19.999
    assert get(cache) == "token-1"
    clock["now"] = NOW + 20
    assert get(cache) == "token-2"


@pytest.mark.parametrize("lifetime", [MIN_SERVED_SECONDS, MIN_SERVED_SECONDS - 1, 1.0, 0.0, -10.0])
def test_a_token_about_to_expire_is_refused_not_served_nor_cached(lifetime):
    cache, minter, clock = cache_at(lifetime=lifetime)
    with pytest.raises(UpstreamError) as refused:
        get(cache)
    assert refused.value.status == 503 and "token-1" not in refused.value.message
    assert cache.expires_at is None
    minter.lifetime = 3600.0
    assert get(cache) == "token-2"  # asked again on the next request


def test_a_token_with_just_over_a_minute_is_served():
    cache, _, _ = cache_at(lifetime=MIN_SERVED_SECONDS + 0.5)
    assert get(cache) == "token-1"


def test_forget_drops_the_cached_token():
    cache, minter, _ = cache_at()
    assert get(cache) == "token-1"
    cache.forget()
    assert get(cache) == "token-2" and cache.expires_at == NOW + 3600


class GatedMinter(Minter):
    """Mints only once ``gate`` is set, so that requests can pile up behind one mint."""

    def __init__(self, clock: dict[str, float]) -> None:
        super().__init__(clock)
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self) -> AccessToken:
        self.started.set()
        await self.gate.wait()
        return await super().__call__()


def test_a_waiter_giving_up_does_not_cancel_the_mint_for_the_others():
    """A request that times out while the mint is under way (its task cancelled, as
    asyncio.timeout does) leaves the mint running: the other waiter gets its token, minted once."""

    async def scenario() -> tuple[str, int]:
        clock = {"now": NOW}
        minter = GatedMinter(clock)
        cache = TokenCache(minter, MIN_REMAINING, lambda: clock["now"])
        impatient = asyncio.ensure_future(cache.get())
        patient = asyncio.ensure_future(cache.get())
        await minter.started.wait()
        impatient.cancel()
        with pytest.raises(asyncio.CancelledError):
            await impatient
        minter.gate.set()
        return (await patient).value, minter.minted

    assert asyncio.run(scenario()) == ("token-1", 1)
