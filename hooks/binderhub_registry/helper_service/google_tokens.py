"""Access tokens for the builder service account, with no key anywhere.

The pod's identity comes from the metadata server (on GKE with Workload Identity, the GKE
metadata server answers for the pod's Kubernetes ServiceAccount):

* when that ServiceAccount is annotated with the builder (``iam.gke.io/gcp-service-account``),
  the metadata server's token already is the builder's: GKE minted it with IAM Credentials
  ``generateAccessToken``, allowed by the ``roles/iam.workloadIdentityUser`` binding;
* otherwise the pod's own (federated) identity calls ``generateAccessToken`` for the builder,
  allowed by the same binding, and chooses the token's lifetime.

Google's protocols are small and documented, so they are spoken here on httpx's async client
rather than through google-auth, whose transports would block the event loop.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from binderhub_registry.helper_service.config import HelperConfig
from binderhub_registry.retry import backoff

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_METADATA = "/computeMetadata/v1/instance/service-accounts/default"
_TRANSIENT = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_at: float  # seconds since the epoch

    def __repr__(self) -> str:  # never print the token itself
        return f"AccessToken(expires_at={self.expires_at:.0f})"


class UpstreamError(Exception):
    """A call the helper depends on failed; ``message`` is safe to log and to return."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class BuilderTokens:
    """Mints one access token for the builder per call of :meth:`mint` (cache them elsewhere)."""

    def __init__(self, config: HelperConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.http = http
        self._email = ""

    async def mint(self) -> AccessToken:
        email = await self.identity()
        source = await self._metadata_token()
        if email == self.config.builder:
            return source
        return await self._generate(source, email)

    async def identity(self) -> str:
        """The e-mail of the pod's identity, as the metadata server names it."""
        if not self._email:
            response = await self._send("GET", self._metadata_url("/email"), "the metadata server", headers=_FLAVOR)
            self._email = response.text.strip()
        return self._email

    async def _metadata_token(self) -> AccessToken:
        response = await self._send(
            "GET", self._metadata_url("/token"), "the metadata server", headers=_FLAVOR, params={"scopes": CLOUD_PLATFORM}
        )
        body = _json(response, "the metadata server")
        try:
            return AccessToken(str(body["access_token"]), time.time() + float(body["expires_in"]))
        except (KeyError, TypeError, ValueError):
            raise UpstreamError("The metadata server answered without access_token and expires_in.") from None

    async def _generate(self, source: AccessToken, email: str) -> AccessToken:
        url = f"{self.config.iam_credentials_endpoint}/v1/projects/-/serviceAccounts/{self.config.builder}:generateAccessToken"
        body = {"scope": [CLOUD_PLATFORM], "lifetime": f"{self.config.token_lifetime_seconds}s"}
        response = await self._send(
            "POST", url, "IAM Credentials", json=body, headers={"Authorization": f"Bearer {source.value}"}, who=email
        )
        reply = _json(response, "IAM Credentials")
        try:
            expires = datetime.fromisoformat(str(reply["expireTime"]).replace("Z", "+00:00")).timestamp()
            return AccessToken(str(reply["accessToken"]), expires)
        except (KeyError, ValueError):
            raise UpstreamError("IAM Credentials answered without accessToken and expireTime.") from None

    def _metadata_url(self, path: str) -> str:
        return f"http://{self.config.metadata_host}{_METADATA}{path}"

    async def _send(self, method: str, url: str, what: str, *, who: str = "", **kwargs: Any) -> httpx.Response:
        for attempt in range(1, 4):
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TimeoutException:
                last = f"{what} did not answer in time"
            except httpx.TransportError as exc:
                last = f"cannot reach {what} ({type(exc).__name__})"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code not in _TRANSIENT:
                    raise _refused(what, response, who or "the helper's identity", self.config.builder)
                last = f"{what} answered {response.status_code}"
            if attempt < 3:
                await asyncio.sleep(backoff(attempt, cap=2.0))
        raise UpstreamError(f"{last[0].upper()}{last[1:]}; the helper will try again on the next request.", 503)


_FLAVOR = {"Metadata-Flavor": "Google"}


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamError(f"{what} answered with something other than a JSON object.")
    return body


def _refused(what: str, response: httpx.Response, who: str, builder: str) -> UpstreamError:
    detail = _google_message(response)
    if what == "IAM Credentials" and response.status_code in (401, 403):
        return UpstreamError(
            f"{who} may not mint tokens for {builder} ({detail}); run `helm upgrade` so the hook restores the "
            "Workload Identity binding (roles/iam.workloadIdentityUser), or enable iamcredentials.googleapis.com."
        )
    if what == "the metadata server":
        return UpstreamError(
            f"The metadata server refused a token ({detail}); check Workload Identity on the node pool "
            "and the binding of the helper's ServiceAccount."
        )
    return UpstreamError(f"{what} answered {detail}.")


def _google_message(response: httpx.Response) -> str:
    """What Google's error says, in a form safe to repeat: its ``error.status`` (an enum such as
    PERMISSION_DENIED) or the HTTP status, never the body's free text, which may echo a credential."""
    try:
        body = response.json()
        status = body.get("error", {}).get("status") if isinstance(body, dict) else None
    except (ValueError, AttributeError):
        status = None
    if isinstance(status, str) and _ENUM.fullmatch(status):
        return f"{response.status_code} {status}"
    return str(response.status_code)


_ENUM = re.compile(r"[A-Z][A-Z_]{0,63}")
