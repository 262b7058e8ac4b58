"""A forward HTTP proxy on loopback that records every request it carries and can add latency.

Why this exists: how many round trips a provision makes is behaviour (each one is latency a user
waits for inside `helm install`, and a request that fails by design is noise in registry logs and
alerts). The hook's HTTP client honours ``HTTP_PROXY`` like any other, so pointing it at this
proxy (``proxy.environment()``) shows every request it sends to the registry and its token
service, in order, with the answer's status and whether it carried credentials. ``latency``
(seconds) is added before each request is forwarded, as a far-away registry would (benchmarks).

Plain ``http://`` only (no CONNECT): the registries in tests and benchmarks run on loopback.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade"})


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    url: str
    status: int
    authenticated: bool  # it carried an Authorization header

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def failed_authenticated(self) -> bool:
        """Credentials were sent and refused (401/403)."""
        return self.authenticated and self.status in (401, 403)


class CountingProxy(LoopbackHttpServer):
    thread_name = "counting-proxy"

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__()
        self.latency = latency
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()

    def environment(self) -> dict[str, str]:
        """Environment variables that send a process's HTTP requests through this proxy."""
        return {"HTTP_PROXY": self.url, "http_proxy": self.url, "NO_PROXY": "", "no_proxy": ""}

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def taken(self) -> list[ProxiedRequest]:
        """The requests recorded so far, and a fresh record."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _ForwardHandler(LoopbackHandler):
    owner: CountingProxy

    def _forward(self) -> None:
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.hostname:
            self.send_error(400, "absolute http:// URL expected")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if self.owner.latency:
            time.sleep(self.owner.latency)
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path or "/", body=body, headers=headers)
            response = upstream.getresponse()
            payload = response.read()
        finally:
            upstream.close()
        self.owner.record(ProxiedRequest(self.command, self.path, response.status, "authorization" in {k.lower() for k in headers}))
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP | {"content-length", "date", "server"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward  # noqa: N815 - http.server naming


CountingProxy.request_handler = _ForwardHandler
