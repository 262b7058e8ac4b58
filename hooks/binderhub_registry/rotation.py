"""When to replace a credential the tool minted: pure decisions, no I/O.

Policies (values ``rotation.policy``):

* ``every-upgrade`` (default): rotate once per Helm release revision. The chart passes
  ``.Release.Revision`` as ``rotation.revision``; the revision a credential was made at is kept in
  the Secret's annotations, so a retried or resumed hook of the same revision converges instead of
  rotating twice. (``helm template``-based tools such as Argo CD always render revision 1: they
  rotate with ``interval`` or ``trigger``.)
* ``interval``: rotate when the current credential is at least ``rotation.interval`` old
  (``720h``, ``30d``, ``90m``; exactly one interval old counts, so a tool syncing every interval
  rotates on each sync instead of every other one): safe for tools that run pre-upgrade hooks on
  every sync.
* ``never``.

Changing ``rotation.trigger`` to any new value forces one rotation, whatever the policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.state import CREATED_AT, ROTATION_REVISION, ROTATION_TRIGGER, parse_time

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class RotationPolicy:
    policy: str = "every-upgrade"
    interval: timedelta = timedelta(days=30)
    trigger: str = ""
    revision: str = ""

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> RotationPolicy:
        rotation = values.get("rotation") or {}
        return cls(
            policy=str(rotation.get("policy") or "every-upgrade"),
            interval=parse_duration(str(rotation.get("interval") or "720h")),
            trigger=str(rotation.get("trigger") or ""),
            revision=str(rotation.get("revision") or ""),
        )


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise InvalidConfiguration(f"rotation.interval must be a number with a unit s, m, h or d, such as 720h (got {text!r}).")
    try:
        return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    except OverflowError:
        raise InvalidConfiguration(f"rotation.interval is longer than Python can count ({text!r}); use at most 999999999d.") from None


def should_rotate(policy: RotationPolicy, annotations: dict[str, str], now: datetime | None = None) -> tuple[bool, str]:
    """Whether to replace the current credential, and why, in words for the progress line."""
    now = now or datetime.now(UTC)
    if policy.trigger and annotations.get(ROTATION_TRIGGER, "") != policy.trigger:
        return True, f"rotation.trigger changed to {policy.trigger!r}"
    if policy.policy == "never":
        return False, "rotation.policy is never"
    if policy.policy == "every-upgrade":
        if not policy.revision:
            return False, "no release revision given (rotation happens on helm upgrade)"
        done = annotations.get(ROTATION_REVISION, "")
        if done == policy.revision:
            return False, f"already rotated for release revision {policy.revision}"
        return True, f"release revision {policy.revision} (the credential is from revision {done or 'unknown'})"
    created = parse_time(annotations.get(CREATED_AT, ""))
    if created is None:
        return True, "the credential's creation time is unknown"
    age = now - created
    if age >= policy.interval:
        return True, f"the credential is {_human(age)} old, rotation.interval is {_human(policy.interval)}"
    return False, f"the credential is {_human(age)} old, younger than rotation.interval {_human(policy.interval)}"


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
