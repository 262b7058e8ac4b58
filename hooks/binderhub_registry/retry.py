"""Bounded exponential backoff: the one delay formula every retry and every wait of the hook uses,
and the pause of the waits that can last minutes.

The first delay is 1 s; ``BINDERHUB_REGISTRY_RETRY_SECONDS`` changes it (tests shorten it)."""

from __future__ import annotations

import os
import time

RETRY_SECONDS_VARIABLE = "BINDERHUB_REGISTRY_RETRY_SECONDS"


def first_delay() -> float:
    return float(os.environ.get(RETRY_SECONDS_VARIABLE, "1"))


def backoff(attempt: int, cap: float) -> float:
    """Seconds to wait after failed try ``attempt`` (1, 2, ...): doubling from the first delay,
    at most ``cap``."""
    return min(first_delay() * 2.0 ** (attempt - 1), cap)


def pause(seconds: float) -> None:
    """Wait ``seconds`` (the one sleep of the hook's retries and waits)."""
    time.sleep(seconds)
