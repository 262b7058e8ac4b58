"""Waiting, bounded, while IAM's eventual consistency holds a step up (a new service account,
binding or key takes minutes to be seen everywhere)."""

from __future__ import annotations

import time

from binderhub_registry.errors import Unreachable
from binderhub_registry.progress import Progress
from binderhub_registry.retry import backoff, first_delay, pause


class Propagation:
    """One wait of at most ``timeout`` seconds (registry.google.propagationTimeoutSeconds),
    started when the object is made, over as many tries as it takes."""

    def __init__(self, progress: Progress, timeout: float) -> None:
        self.progress = progress
        self.timeout = timeout
        self.started = time.monotonic()
        self.attempt = 0

    def waited(self) -> float:
        return time.monotonic() - self.started

    def expired(self) -> bool:
        return self.waited() >= self.timeout

    def sleep(self, why: str) -> None:
        """Sleep before the next try; say why."""
        self.attempt += 1
        waited = self.waited()
        delay = min(backoff(self.attempt, cap=15 * first_delay()), max(self.timeout - waited, 0.01))
        self.progress.step(
            f"waiting for IAM to propagate: {why} ({waited:.0f}s of at most {self.timeout:g}s; next check in {delay:.1f}s)"
        )
        pause(delay)

    def wait(self, why: str) -> None:
        """Sleep before the next try; give up with exit 3 once the timeout is spent."""
        if self.expired():
            raise Unreachable(
                f"{why} after {self.timeout:g}s; IAM changes can take 7 minutes or more: run the install or upgrade again, "
                f"or raise registry.google.propagationTimeoutSeconds."
            )
        self.sleep(why)
