"""The registry's authentication, as data: the challenge of ``GET /v2/`` (``WWW-Authenticate``)
and the Bearer tokens of its token service, with the actions a distribution-style JWT grants
(read, never verified: the registry enforces them). No I/O; oci.py and the helper ask."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Challenge:
    scheme: Literal["none", "basic", "bearer"]
    realm: str = ""
    service: str = ""

    @property
    def token_url(self) -> str:
        """The token URL BinderHub should use for this registry (realm plus service)."""
        if self.scheme != "bearer":
            return ""
        if not self.service:
            return self.realm
        sep = "&" if "?" in self.realm else "?"
        return f"{self.realm}{sep}service={self.service}"


@dataclass(frozen=True)
class Token:
    value: str
    # Actions granted per repository, from the JWT access claim; None when the token is opaque.
    access: dict[str, frozenset[str]] | None
    expires_at: float | None = None  # the JWT exp claim (epoch seconds), when there is one

    def actions_for(self, repository: str) -> frozenset[str] | None:
        if self.access is None:
            return None
        return self.access.get(repository, frozenset())


def parse_www_authenticate(header: str) -> Challenge | None:
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        return Challenge("basic")
    if scheme != "bearer":
        return None
    params = dict((k.lower(), v) for k, v in re.findall(r'(\w+)="([^"]*)"', rest))
    if not params.get("realm", "").startswith(("https://", "http://")):
        return None
    return Challenge("bearer", realm=params["realm"], service=params.get("service", ""))


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, without verifying it (the registry enforces them); None when the
    token is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def jwt_access(token: str) -> dict[str, frozenset[str]] | None:
    """The ``access`` claim of a distribution-style JWT: what the token service granted."""
    claims = jwt_claims(token)
    if claims is None or not isinstance(claims.get("access"), list):
        return None
    return {
        str(entry.get("name")): frozenset(str(action) for action in entry["actions"])
        for entry in claims["access"]
        if isinstance(entry, dict) and entry.get("type") == "repository" and isinstance(entry.get("actions"), list)
    }
