"""A Docker-style token server for CNCF distribution's ``auth: token`` mode, for tests.

Why this exists: Docker Hub's registry hands out bearer tokens from a separate token server
(``auth.docker.io/token``). Nothing like it is reachable from the test machines, so this module
plays that part in front of a real ``docker-registry`` (distribution 2.8.2, see registry.py),
enforcing what the real one enforces:

* ``GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...]`` with optional HTTP Basic
  auth answers ``{"token", "access_token", "expires_in", "issued_at"}``. Repeated query
  parameters use the FIRST value, like Go's ``url.Values.Get`` (BinderHub appends a second
  ``service=``); ``scope`` may repeat and every value counts.
* The JWT is signed (ES256 or RS256) with a key made at start. Its header ``kid`` is the libtrust
  key id distribution 2.8 looks up in ``rootcertbundle``; ``cert_path`` is that bundle.
* Access granted = the actions asked for ∩ the union of the actions of every grant whose
  repository glob matches the name. An empty intersection is not an error: like Docker Hub the
  access entry stays, with ``"actions": []`` (Harbor's token service too); with
  ``ungranted="omitted"`` the entry is left out of the ``access`` claim instead, as
  distribution's own token server (``contrib/token-server``, ``filterAccessList``) and GitLab's
  (``ContainerRegistryAuthenticationService``, ``.compact``) do for a repository the account may
  do nothing asked on. distribution's registry refuses both alike (no entry, no action).
* Wrong password or unknown user: 401 ``{"details": "incorrect username or password"}``.
  No credentials: an anonymous token with what the ``anonymous`` entry grants (default nothing).

Knobs for tests: ``users`` may be replaced or edited at any time; ``fail_next`` injects 429/503
answers; ``requests`` records every request (never a password). Subclasses change who gets what
by overriding :meth:`TokenServer.access_for_credentials` (dockerhub.py, google_cloud.py).

Not modelled: real Docker Hub's *registry* answers 401 (not 404) for a repository that does not
exist even with a valid token; that is registry behaviour, not token-server behaviour, and
distribution does not do it.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import hashlib
import json
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

ALL_ACTIONS: frozenset[str] = frozenset({"pull", "push", "delete"})
ANONYMOUS = "anonymous"


class UserEntry(TypedDict, total=False):
    """One row of the user table. ``password`` may be absent for the ``anonymous`` entry."""

    password: str
    grants: list[tuple[str, Iterable[str]]]  # (repository glob like "alice/*" or "*", actions)


UserTable = dict[str, UserEntry]
KeyType = Literal["EC", "RSA"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class TokenRequest:
    """What one request looked like (for assertions). Passwords are never recorded."""

    method: str
    path: str
    query: dict[str, list[str]]
    username: str | None
    timestamp: float
    status: int


@dataclass
class _Failure:
    status: int
    remaining: int
    retry_after: int | None


def libtrust_key_id(public_key: Any) -> str:
    """The libtrust key id distribution 2.8 matches against a JWT's ``kid`` header.

    base32 of the first 30 bytes of sha256(DER SubjectPublicKeyInfo), no padding, in groups of
    four characters joined by ':'.
    """
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


def parse_scope(scope: str) -> tuple[str, str, list[str]]:
    """Split ``type:name:actions`` (the name may itself hold ':', e.g. a host:port)."""
    rtype, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return rtype, name, [a for a in actions.split(",") if a]


def granted_actions(entry: UserEntry | None, rtype: str, name: str) -> set[str]:
    """Union of the actions of every grant whose pattern matches a repository name."""
    if entry is None or rtype != "repository":
        return set()
    out: set[str] = set()
    for pattern, actions in entry.get("grants", []):
        if fnmatch.fnmatchcase(name, pattern):
            out |= set(actions)
    return out


class TokenServer(LoopbackHttpServer):
    """Token server on 127.0.0.1 (ephemeral port) in a daemon thread. Use as a context manager
    or call ``start()`` / ``stop()``."""

    thread_name = "token-server"

    def __init__(
        self,
        users: Mapping[str, UserEntry] | None = None,
        *,
        service: str = "registry.test",
        issuer: str = "token-server.test",
        key_type: KeyType = "EC",
        expires_in: int = 300,
        workdir: Path | None = None,
        realm_query: str = "",
        token_fields: tuple[str, ...] = ("token", "access_token"),
        ungranted: Literal["listed", "omitted"] = "listed",
    ) -> None:
        super().__init__()
        # A repository the account may do nothing asked on: listed with no actions (Docker Hub,
        # Harbor), or left out of the access claim (distribution's token server, GitLab).
        self.ungranted = ungranted
        # The fields the token is answered in: distribution's spec has both; OAuth2-style
        # services (some cloud registries) answer only access_token.
        self.token_fields = token_fields
        # A realm with a query string (``tenant=binder``), as token services behind one endpoint
        # for several tenants advertise it; requests without those parameters are answered 404.
        self.realm_query = realm_query
        self.users: UserTable = dict(users or {})
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._failure: _Failure | None = None
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="token-server-"))
        self._key: PrivateKey = (
            ec.generate_private_key(ec.SECP256R1()) if key_type == "EC"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.algorithm = "ES256" if key_type == "EC" else "RS256"
        self.kid = libtrust_key_id(self._key.public_key())
        self.cert_path = self.workdir / "token-signing-cert.pem"
        self.cert_path.write_bytes(self._self_signed_cert_pem())

    # -- lifecycle (start/stop/port/url from LoopbackHttpServer) ----------------------------
    def handler_class(self) -> type[LoopbackHandler]:
        return type("Handler", (_Handler,), {"owner": self})

    def on_stop(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def realm(self) -> str:
        """The token endpoint, as the registry advertises it in ``WWW-Authenticate``."""
        return f"{self.url}/token" + (f"?{self.realm_query}" if self.realm_query else "")

    # -- test knobs ------------------------------------------------------------------------
    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``count`` token requests with ``status`` (e.g. 429 or 503), with a
        ``Retry-After: <retry_after>`` header when given."""
        with self._lock:
            self._failure = _Failure(status, count, retry_after)

    def password(self, username: str) -> str:
        return self.users[username]["password"]

    # -- tokens ----------------------------------------------------------------------------
    def issue(self, subject: str, access: list[dict[str, Any]], audience: str | None = None,
              expires_in: int | None = None) -> str:
        """Sign a token as distribution expects it (also handy for tests to mint one directly)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service if audience is None else audience,
            "exp": now + (self.expires_in if expires_in is None else expires_in),
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm,
                          headers={"kid": self.kid, "typ": "JWT"})

    def decode(self, token: str, audience: str | None = None) -> dict[str, Any]:
        """Verify a token issued here and return its claims."""
        return jwt.decode(token, self._key.public_key(), algorithms=[self.algorithm],
                          audience=self.service if audience is None else audience,
                          issuer=self.issuer)

    def access_for_credentials(self, username: str | None, password: str | None,
                               scopes: list[str]) -> list[dict[str, Any]] | None:
        """The ``access`` claim a token for these Basic-auth credentials carries, or None for
        a 401 (wrong password or unknown user). No credentials (``username`` None): what the
        ``anonymous`` entry grants. The hook subclasses override to decide grants otherwise."""
        users = self.users  # one snapshot: the table may be swapped while we run
        if username is None:
            return self.access_for(users.get(ANONYMOUS), scopes)
        entry = users.get(username)
        if entry is None or "password" not in entry or password is None or \
                not secrets.compare_digest(entry["password"].encode(), password.encode()):
            return None
        return self.access_for(entry, scopes)

    def access_for(self, entry: UserEntry | None, scopes: list[str]) -> list[dict[str, Any]]:
        access: list[dict[str, Any]] = []
        for scope in scopes:
            rtype, name, wanted = parse_scope(scope)
            allowed = granted_actions(entry, rtype, name)
            actions = [a for a in wanted if a in allowed]
            if actions or self.ungranted == "listed":
                access.append({"type": rtype, "name": name, "actions": actions})
        return access

    # -- internals -------------------------------------------------------------------------
    def _take_failure(self) -> _Failure | None:
        with self._lock:
            failure = self._failure
            if failure is None:
                return None
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failure = None
            return failure

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _self_signed_cert_pem(self) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.issuer)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(self._key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)


class _Handler(LoopbackHandler):
    owner: TokenServer  # set on the subclass made in TokenServer.handler_class()

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        ts = self.owner
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        username, password = self._basic_auth()

        def reply(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None,
                  ) -> None:
            ts._record(TokenRequest("GET", parts.path, query, username, time.time(), status))
            self._send_json(status, body, headers or {})

        if parts.path != "/token":
            return reply(404, {"details": "not found"})
        wanted = parse_qs(ts.realm_query, keep_blank_values=True)
        if any(query.get(key, [None])[0] != values[0] for key, values in wanted.items()):
            return reply(404, {"details": "no such tenant"})
        failure = ts._take_failure()
        if failure is not None:
            headers = ({} if failure.retry_after is None
                       else {"Retry-After": str(failure.retry_after)})
            return reply(failure.status, {"details": f"injected failure {failure.status}"}, headers)

        scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
        access = ts.access_for_credentials(username, password, scopes)
        if access is None:
            return reply(401, {"details": "incorrect username or password"})
        service = query.get("service", [None])[0]  # first value, like Go's Query().Get
        token = ts.issue(username or "", access, audience=service if service is not None else "")
        issued_at = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        reply(200, {**{field: token for field in ts.token_fields}, "expires_in": ts.expires_in, "issued_at": issued_at})

    def _basic_auth(self) -> tuple[str | None, str | None]:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            return None, None
        try:
            user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", None
        return user, (password if sep else None)

    def _send_json(self, status: int, body: dict[str, Any], headers: Mapping[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


__all__ = ["ALL_ACTIONS", "ANONYMOUS", "TokenRequest", "TokenServer", "UserEntry", "UserTable",
           "libtrust_key_id", "parse_scope", "granted_actions"]
