"""A registry that misbehaves on purpose, one way per ``mode``, on loopback.

Each mode stands for a class of servers the hook meets in the wild: a proxy that trickles bytes,
a misconfigured ingress answering with a web page, a redirect loop, an endless body, a token service
whose tokens its own registry refuses. Every loop here is bounded (a number of rounds, and it stops
when the client goes away), so a hook that is not bounded is caught by the test's own bound, never
by a hang of the test run.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import ClassVar

from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

TRICKLE_SECONDS = 0.25  # a byte this often: far below any read timeout, so only a total deadline ends it
TRICKLE_ROUNDS = 2000  # ~8 minutes at most, well past any deadline the tests configure
ENDLESS_CHUNK = b"x" * 65536
ENDLESS_ROUNDS = 64 * 1024  # 4 GiB at most
RETRY_THEN_TRICKLE_AFTER = 5  # seconds: most of the deadline the test gives (6 s)
ECHOED_TOKEN = "echoed-opaque-token-5f0c2a9e71"  # what upload-refused-echoing-token hands out, then echoes


@dataclass(frozen=True)
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    host: str
    authorization: str | None


HTML = b"<!doctype html><html><head><title>Welcome</title></head><body>Sign in</body></html>"


def unsigned_jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


class HostileHandler(LoopbackHandler):
    owner: HostileRegistry

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        self.owner.requests.append(f"{self.command} {self.path}")
        self.owner.seen.append(Seen(self.command, self.path, self.headers.get("Host", ""), self.headers.get("Authorization")))
        try:
            getattr(self, "mode_" + self.owner.mode.replace("-", "_"))()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up, as it should

    # -- helpers ----------------------------------------------------------------------------

    def _answer(self, status: int, body: bytes = b"", content_type: str = "application/json", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def _bearer(self, error: str = "") -> str:
        extra = f',error="{error}"' if error else ""
        return f'Bearer realm="{self.owner.url}/token",service="hostile"{extra}'

    def _token_flow(self, token: str, upload_error: str) -> None:
        """A token registry: /v2/ challenges, /token hands out ``token``, uploads answer 401."""
        if self.path.startswith("/token"):
            self._answer(200, json.dumps({"token": token}).encode())
        else:
            self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', WWW_Authenticate=self._bearer(upload_error))

    # -- the modes --------------------------------------------------------------------------

    def mode_trickle_headers(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        for _ in range(TRICKLE_ROUNDS):
            self.wfile.write(b"a")
            self.wfile.flush()
            time.sleep(TRICKLE_SECONDS)
        self.close_connection = True

    def mode_trickle_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(TRICKLE_ROUNDS))
        self.end_headers()
        for _ in range(TRICKLE_ROUNDS):
            self.wfile.write(b"{")
            self.wfile.flush()
            time.sleep(TRICKLE_SECONDS)

    def _endless(self, status: int, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(ENDLESS_ROUNDS):
            self.wfile.write(ENDLESS_CHUNK)
        self.close_connection = True

    def mode_endless_body(self) -> None:
        self._endless(200, Content_Type="application/json")

    def mode_endless_redirect_body(self) -> None:
        """A redirect whose body never ends: httpx reads redirect bodies itself."""
        self._endless(302, Location="/v2/elsewhere")

    def mode_redirect_loop(self) -> None:
        self._answer(302, Location="/v2/" if self.path != "/v2/" else "/v2/again")

    def mode_malformed_location(self) -> None:
        self._answer(302, Location="http://[::1")

    def mode_non_http_location(self) -> None:
        self._answer(302, Location="ftp://127.0.0.1/v2/")

    def mode_html_200(self) -> None:
        self._answer(200, HTML, content_type="text/html; charset=utf-8")

    def mode_html_200_untyped(self) -> None:
        """A web page served as text/plain (a default server page without its type)."""
        self._answer(200, HTML, content_type="text/plain")

    def mode_html_token(self) -> None:
        if self.path.startswith("/token"):
            self._answer(200, HTML, content_type="text/html")
        else:
            self._answer(401, WWW_Authenticate=self._bearer())

    def mode_token_not_json(self) -> None:
        if self.path.startswith("/token"):
            self._answer(200, b"token=abc", content_type="application/json")
        else:
            self._answer(401, WWW_Authenticate=self._bearer())

    def mode_token_wrong_types(self) -> None:
        if self.path.startswith("/token"):
            self._answer(200, json.dumps({"token": 12345, "access_token": ["x"]}).encode())
        else:
            self._answer(401, WWW_Authenticate=self._bearer())

    def mode_realm_not_a_url(self) -> None:
        self._answer(401, WWW_Authenticate='Bearer realm="/token",service="hostile"')

    def mode_opaque_token_refused(self) -> None:
        self._token_flow("not-a-jwt-but-opaque", "invalid_token")

    def mode_expired_token_refused(self) -> None:
        claims = {"exp": int(time.time()) - 3600, "access": [{"type": "repository", "name": self.owner.repository,
                                                               "actions": ["pull", "push"]}]}
        self._token_flow(unsigned_jwt(claims), "invalid_token")

    def mode_jwt_with_odd_claims(self) -> None:
        self._token_flow(unsigned_jwt({"access": 5, "exp": "soon"}), "insufficient_scope")

    def mode_opaque_token_insufficient_scope(self) -> None:
        self._token_flow("not-a-jwt-but-opaque", "insufficient_scope")

    def mode_malformed_upload_location(self) -> None:
        if self.command == "POST":
            self._answer(202, Location="http://[::1")
        else:
            self._answer(200, b"{}")

    def mode_rate_limited_nan(self) -> None:
        self._answer(429, Retry_After="nan")

    def mode_rate_limited_long(self) -> None:
        self._answer(503, Retry_After="3600")

    def mode_upload_elsewhere(self) -> None:
        """A Basic registry whose upload Location names another origin (``localhost`` for
        ``127.0.0.1``: the same server, so it sees what the hook sends there): a redirecting or
        compromised registry. Credentials must go to the registry's origin only."""
        if self.headers.get("Host", "").startswith("localhost:"):
            self._answer(204)  # the other origin: cancelling needs no credentials here
        elif self.headers.get("Authorization") is None:
            self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', WWW_Authenticate='Basic realm="hostile"')
        elif self.command == "POST":
            self._answer(202, Location=f"http://localhost:{self.owner.port}/v2/{self.owner.repository}/blobs/uploads/u-1")
        else:
            self._answer(200, b"{}")

    def mode_opaque_token_registry(self) -> None:
        """A well-behaved token registry whose tokens are opaque (not JWTs: the granted actions
        cannot be read from them), so only the upload session proves push; it accepts its token
        for the upload and for cancelling it."""
        bearer = self.headers.get("Authorization") == "Bearer opaque-token-0123456789"
        if self.path.startswith("/token"):
            self._answer(200, json.dumps({"token": "opaque-token-0123456789"}).encode())
        elif not bearer:
            self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', WWW_Authenticate=self._bearer())
        elif self.command == "POST":
            self._answer(202, Location=f"/v2/{self.owner.repository}/blobs/uploads/u-1")
        else:
            self._answer(204 if self.command == "DELETE" else 200, b"" if self.command == "DELETE" else b"{}")

    def mode_token_upload_elsewhere(self) -> None:
        """The opaque-token registry whose upload Location names another origin (as upload-elsewhere):
        its bearer token must not follow the Location either."""
        if self.headers.get("Host", "").startswith("localhost:"):
            self._answer(204)
        elif self.command == "POST" and self.headers.get("Authorization") == "Bearer opaque-token-0123456789":
            self._answer(202, Location=f"http://localhost:{self.owner.port}/v2/{self.owner.repository}/blobs/uploads/u-1")
        else:
            self.mode_opaque_token_registry()

    def mode_upload_denied_echoing(self) -> None:
        """An open registry refusing the upload with a body whose error "code" is not one of the
        spec's but text it made up from the request (some proxies echo headers and addresses)."""
        if self.command == "POST":
            self._answer(403, json.dumps({"errors": [{"code": f"denied for {self.client_address[0]} via X-Internal-Route 7"}]}).encode())
        else:
            self._answer(200, b"{}")

    def mode_upload_refused_echoing_token(self) -> None:
        """A token registry (opaque tokens) refusing its own token for the upload with a challenge
        whose ``error`` echoes the request's Authorization header (``error="Bearer <token>"``), as
        servers that echo the request do; the hook names that error in its sentence."""
        authorization = self.headers.get("Authorization") or ""
        if self.path.startswith("/token"):
            self._answer(200, json.dumps({"token": ECHOED_TOKEN}).encode())
        elif self.command == "POST" and authorization.startswith("Bearer "):
            self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', WWW_Authenticate=self._bearer(authorization))
        else:
            self._answer(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', WWW_Authenticate=self._bearer())

    def mode_retry_then_trickle(self) -> None:
        """503 with Retry-After (most of the deadline away), then a response that trickles: the
        deadline is the operation's, retries included, not each attempt's."""
        if len(self.owner.requests) == 1:
            self._answer(503, Retry_After=str(RETRY_THEN_TRICKLE_AFTER))
        else:
            self.mode_trickle_headers()

    def mode_never_answers(self) -> None:
        self.rfile.read(1)  # blocks until the client closes the connection (then b"")
        self.close_connection = True


class HostileRegistry(LoopbackHttpServer):
    request_handler = HostileHandler
    modes: ClassVar[tuple[str, ...]] = tuple(
        name[len("mode_"):].replace("_", "-") for name in vars(HostileHandler) if name.startswith("mode_")
    )

    def __init__(self, mode: str, repository: str = "binder/binder-push-check") -> None:
        super().__init__()
        if mode not in self.modes:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(self.modes)}")
        self.mode = mode
        self.repository = repository
        self.requests: list[str] = []
        self.seen: list[Seen] = []
