"""The registry protocol (OCI distribution / Docker Registry HTTP API v2) on httpx: what the hook
needs from a registry (its challenge, a token, proof of push), and nothing else.

Transient failures (connection errors, timeouts, 429 and 5xx) are retried with bounded backoff,
honouring ``Retry-After``; then they end in ``Unreachable`` (exit 3).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

from binderhub_registry.bounded_http import Budget, Exchange, bounded_client, origin
from binderhub_registry.errors import (
    CredentialsRejected,
    InvalidConfiguration,
    Unreachable,
)
from binderhub_registry.progress import Progress
from binderhub_registry.registry_answers import answer, is_html, json_object
from binderhub_registry.registry_auth import Challenge, Token, jwt_access, jwt_claims, parse_www_authenticate


@dataclass(frozen=True)
class Hints:
    """Value names that error messages tell the user to change."""

    url: str = "the registry url"
    credentials: str = "the username and password"
    # Clauses (lowercase, no final period) added in parentheses to the one-sentence messages:
    rejected_extra: str = ""  # to "credentials rejected" messages
    # A provider's own sentence for "no push", given the repository and the granted actions.
    cannot_push: Callable[[str, frozenset[str]], str] | None = None


@dataclass
class PushProof:
    repository: str
    granted_actions: list[str] | None = None
    upload_cancelled: bool = False
    methods: list[str] = field(default_factory=list)


class RegistryClient(AbstractContextManager["RegistryClient"]):
    def __init__(
        self,
        url: str,
        username: str = "",
        password: str = "",
        *,
        progress: Progress,
        hints: Hints = Hints(),
        challenge: Challenge | None = None,
        timeout: float = 15.0,
        attempts: int = 4,
    ) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.progress = progress
        self.hints = hints
        progress.add_credentials(username, password)
        self._http = bounded_client(timeout, budget := Budget())
        self._exchange = Exchange(self._http, budget, progress, hints.url, attempts)
        self._challenge: Challenge | None = challenge

    def close(self) -> None:
        self._http.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests, bounded in time and memory (bounded_http.py) -----------------------------

    def send(self, method: str, url: str, *, what: str, **kwargs: object) -> httpx.Response:
        return self._exchange.send(method, url, what=what, **kwargs)

    def basic_auth(self) -> httpx.BasicAuth | None:
        return httpx.BasicAuth(self.username, self.password) if self.username else None

    # -- protocol ---------------------------------------------------------------------------

    def challenge(self) -> Challenge:
        """How the registry authenticates, from an anonymous ``GET /v2/``."""
        if self._challenge is not None:
            return self._challenge
        response = self.send("GET", f"{self.url}/v2/", what="Checking the registry API")
        if response.status_code == 200 and is_html(response):
            raise InvalidConfiguration(
                f"{self.url} answered GET /v2/ with a web page, not the registry API (a web server or ingress answers "
                f"instead of the registry); check {self.hints.url}."
            )
        if response.status_code == 200:
            self._challenge = Challenge("none")
        elif response.status_code == 401:
            self._challenge = parse_www_authenticate(response.headers.get("WWW-Authenticate", ""))
            if self._challenge is None:
                raise InvalidConfiguration(
                    f"{self.url} answered 401 to GET /v2/ without a usable WWW-Authenticate header; check {self.hints.url}."
                )
        else:
            raise InvalidConfiguration(
                f"{self.url} does not serve the registry API (GET /v2/ answered {response.status_code}); check {self.hints.url}."
            )
        return self._challenge

    def request_token(self, scopes: list[str]) -> Token:
        """A Bearer token for ``scopes``, with the actions granted when it is a JWT (``access`` claim)."""
        challenge = self.challenge()
        params: list[tuple[str, str | int | float | bool | None]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params += [("scope", scope) for scope in scopes]
        if self.username:
            params.append(("account", self.username))
        # The realm's own query (a tenant, ...) stays: httpx's params= would replace it.
        url = str(httpx.URL(challenge.realm).copy_merge_params(params))
        response = self.send("GET", url, what="Requesting a registry token", auth=self.basic_auth())
        if response.status_code == 401:
            raise self._rejected("the token service answered 401")
        if response.status_code == 403:
            raise self._rejected("the token service answered 403")
        if response.status_code != 200:
            raise Unreachable(
                f"The token service at {origin(challenge.realm)} answered {response.status_code}"
                f"; check {self.hints.url} or try again later."
            )
        body = json_object(response)
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            what = "a web page" if is_html(response) else "JSON" if body else "a body that is not JSON"
            raise Unreachable(
                f"The token service at {origin(challenge.realm)} answered with {what} without a token; check {self.hints.url}."
            )
        self.progress.add_secret(value)
        claims = jwt_claims(value)
        expires = claims.get("exp") if claims else None
        return Token(value=value, access=jwt_access(value), expires_at=expires if isinstance(expires, int | float) else None)

    def check_login(self) -> None:
        """Fail with ``CredentialsRejected`` unless a Basic-auth registry accepts the credentials (asked
        after an upload session was refused: a wrong password, or an account that may not push?)."""
        response = self.send("GET", f"{self.url}/v2/", what="Logging in", auth=self.basic_auth())
        if response.status_code == 401:
            raise self._rejected("the registry answered 401")
        if response.status_code != 200:
            raise InvalidConfiguration(f"{self.url} answered {response.status_code} to an authenticated GET /v2/; check {self.hints.url}.")

    def prove_push(self, repository: str) -> PushProof:
        """Start an upload session (what a push does first) and cancel it: Basic ``GET /v2/``, POST,
        DELETE; token ``GET /v2/``, token, POST, and DELETE when the token grants ``delete`` (which
        distribution needs to cancel; registries purge empty sessions by themselves). A JWT's granted
        actions are read first (token services grant what is both asked and allowed); the upload
        session is the proof that counts where tokens are opaque or auth is Basic."""
        challenge = self.challenge()
        proof = PushProof(repository=repository)
        headers: dict[str, str] = {}
        auth = None
        may_cancel = True
        if challenge.scheme == "bearer":
            token = self.push_token(repository, proof, actions="pull,push,delete")
            headers["Authorization"] = f"Bearer {token.value}"
            granted = token.actions_for(repository)
            may_cancel = granted is None or "delete" in granted
        elif challenge.scheme == "basic":
            auth = self.basic_auth()
        response = self.send(
            "POST", f"{self.url}/v2/{repository}/blobs/uploads/", what="Starting an upload session", headers=headers, auth=auth
        )
        if response.status_code == 401 and challenge.scheme == "bearer":
            self._token_refused(response, token)
        if response.status_code in (401, 403):
            if challenge.scheme == "basic":
                self.check_login()
            raise self._cannot_push(repository, None, detail=f"the registry answered {answer(response)} to starting an upload")
        if response.status_code == 404:
            raise InvalidConfiguration(
                f"The registry has no repository path {repository!r} to push to (it answered {answer(response)} to starting an upload); "
                f"create it (e.g. the Harbor project or GitLab project) or change {self.hints.url}."
            )
        location = response.headers.get("Location")
        if response.status_code != 202 or not location:
            raise Unreachable(
                f"The registry answered {response.status_code} to an upload session for {repository}; a registry must answer 202 "
                f"with a Location; check {self.hints.url}."
            )
        upload = upload_url(self.url, location)
        if upload is None:
            raise Unreachable(
                f"The registry answered the upload session for {repository} with a Location that is not an http(s) URL; "
                f"a registry must answer with one; check {self.hints.url}."
            )
        proof.methods.append("upload-session")
        if not may_cancel:
            self.progress.step("the token may not delete, so the empty upload session stays; registries purge such sessions by themselves")
            return proof
        if origin(upload) != origin(self.url):  # credentials go to the registry only
            headers, auth = {}, None
        cancel = self.send("DELETE", upload, what="Cancelling the upload session", headers=headers, auth=auth)
        proof.upload_cancelled = cancel.status_code in (200, 202, 204)
        if not proof.upload_cancelled:
            self.progress.step(
                f"the registry kept the empty upload session (DELETE answered {cancel.status_code})"
                f"; registries purge such sessions by themselves"
            )
        return proof

    def push_token(self, repository: str, proof: PushProof, actions: str = "pull,push") -> Token:
        """A token for ``actions`` on ``repository``; fails unless a JWT grants ``push``
        (an opaque token is returned as is, for the upload session to prove)."""
        token = self.request_token([f"repository:{repository}:{actions}"])
        granted = token.actions_for(repository)
        if granted is not None:
            proof.granted_actions = sorted(granted)
            proof.methods.append("token-scope")
            if "push" not in granted:
                raise self._cannot_push(repository, granted)
        return token

    # -- errors -----------------------------------------------------------------------------

    def _token_refused(self, response: httpx.Response, token: Token) -> None:
        """Raise when a 401 to the upload is about the token itself, not about push permission
        (distribution says ``error="insufficient_scope"`` for the latter)."""
        error = dict(re.findall(r'(\w+)="([^"]*)"', response.headers.get("WWW-Authenticate", ""))).get("error", "")
        if error == "insufficient_scope":
            return
        if token.expires_at is not None and token.expires_at <= time.time():
            raise Unreachable(
                "The registry refused the token its token service issued because it had already expired "
                f"(the token service's clock or token lifetime is wrong); check the token service of {self.hints.url}."
            )
        raise Unreachable(
            f"The registry refused the token its own token service issued (401 {error or 'without insufficient_scope'}); "
            f"the registry and its token service do not agree (service name, signing key or issuer): check {self.hints.url}."
        )

    def _rejected(self, why: str) -> CredentialsRejected:
        who = f"user {self.username!r}" if self.username else "anonymous access"
        extra = f" ({self.hints.rejected_extra.rstrip('.')})" if self.hints.rejected_extra else ""
        return CredentialsRejected(f"The registry rejected the login of {who} ({why}); check {self.hints.credentials}{extra}.")

    def _cannot_push(self, repository: str, granted: frozenset[str] | None, detail: str = "") -> CredentialsRejected:
        who = f"User {self.username!r}" if self.username else "Anonymous access"
        if self.hints.cannot_push is not None:
            return CredentialsRejected(self.hints.cannot_push(repository, granted or frozenset()))
        if granted:
            can = " and ".join(sorted(granted))
            return CredentialsRejected(
                f"{who} can {can} but not push to {repository} (the token service granted only {can}); "
                f"give the account write (push) access to {repository}."
            )
        why = f" ({detail})" if detail else ""
        return CredentialsRejected(f"{who} cannot push to {repository}{why}; give the account write (push) access to it.")


def upload_url(registry: str, location: str) -> str | None:
    """The absolute upload URL a ``Location`` names, or None when it is not an http(s) URL."""
    try:
        url = httpx.URL(urljoin(f"{registry}/", location.strip()))
    except (ValueError, httpx.InvalidURL):
        return None
    return str(url) if url.scheme in ("http", "https") and url.host else None
