"""Serving the helper with uvicorn (HTTP/1.1 on h11, one asyncio process).

Why uvicorn: the helper must parse HTTP robustly, time out idle keep-alive connections and shut
down gracefully, which the standard library's ``http.server`` does not do; uvicorn does all of it
with two small pure-Python dependencies (h11, click), and the application stays a plain ASGI
callable. It is imported only by `serve`.

Limits: uvicorn's ``limit_concurrency`` counts connections, so idle ones would turn every request
(health checks included) into 503, and no uvicorn timeout runs before the first request or while
request headers trickle in. The helper therefore leaves it off and adds, in
:class:`BoundedH11Protocol`, what uvicorn lacks: at most ``max_connections`` open connections
(a new one beyond is closed at once, never queued) and a deadline for each request's headers.
h11 bounds the size of the headers (``h11_max_incomplete_event_size``), uvicorn's
``timeout_keep_alive`` closes idle keep-alive connections, and the application limits requests in
flight and times out request bodies (``app``).

Every accepted connection has ``TCP_NODELAY``: asyncio sets it only on sockets made with protocol
``IPPROTO_TCP``, so the listening socket is made with it (accepted sockets inherit it); without it
Nagle's algorithm delays every answer on a reused connection by up to 40 ms.

Shutdown: on SIGTERM the helper first reports not-ready for ``drain_seconds`` while still serving
(Kubernetes removes the pod from the Service meanwhile), then stops accepting connections,
lets requests in flight finish (at most ``graceful_seconds``) and exits 0. A second signal
stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Generator
from types import FrameType
from typing import Any

from binderhub_registry.helper_service.app import HelperApp
from binderhub_registry.helper_service.logs import JsonLogHandler, log_line

MAX_HEADER_BYTES = 16 * 1024  # request line and headers; BinderHub's are well under 1 KiB


def bind(listen: str) -> socket.socket:
    """A listening socket for ``HOST:PORT`` (port 0 picks a free one)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104  (the pod's address; Kubernetes routes to it)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY on what it accepts
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(app: HelperApp, sock: socket.socket, *, drain_seconds: float, graceful_seconds: int) -> int:
    handler = JsonLogHandler()
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.WARNING)
    config = uvicorn_config(app, graceful_seconds)
    server = _DrainingServer(config, app, drain_seconds)
    host, port = sock.getsockname()[:2]
    log_line("listening", host=host, port=port, registry=app.config.registry_host, path=app.config.image_path, builder=app.config.builder)
    asyncio.run(server.serve(sockets=[sock]))
    log_line("stopped", mints=app.tokens.mints if app.tokens else 0)
    return 0 if server.started else 3


def uvicorn_config(app: HelperApp, graceful_seconds: int) -> Any:
    """How the helper is served (the tests serve it the same way in a thread)."""
    import uvicorn  # noqa: PLC0415  (only `serve` needs the server)

    limits = app.config
    protocol = type("HelperH11Protocol", (BoundedH11Protocol,), {
        "max_connections": limits.max_connections, "header_timeout": limits.header_timeout_seconds,
    })
    return uvicorn.Config(
        app,
        http=protocol,
        loop="asyncio",
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        limit_concurrency=None,  # it counts connections; the application limits requests in flight
        timeout_keep_alive=int(limits.keep_alive_seconds),
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_graceful_shutdown=graceful_seconds,
    )


def _uvicorn_server() -> Any:
    import uvicorn  # noqa: PLC0415

    return uvicorn.Server


def _h11_protocol() -> Any:
    from uvicorn.protocols.http.h11_impl import H11Protocol  # noqa: PLC0415

    return H11Protocol


class BoundedH11Protocol(_h11_protocol()):  # type: ignore[misc]
    """uvicorn's HTTP/1.1 connection with what it lacks: a cap on open connections and a deadline
    for the headers of each request (from the connection's start, or from the first byte after a
    keep-alive pause), however slowly they trickle in. Both close the connection without an answer."""

    max_connections = 1024
    header_timeout = 10.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections:
            log_line("connection_refused", "warning", reason=f"{self.max_connections} connections open", client=(self.client or ("",))[0])
            transport.abort()
            return
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._waiting_for_headers():
            if self._header_deadline is None:
                self._await_headers()
        else:
            self._headers_arrived()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._waiting_for_headers() and self.conn.trailing_data[0]:  # a pipelined request is already coming in
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_arrived()
        super().connection_lost(exc)

    def _waiting_for_headers(self) -> bool:
        import h11  # noqa: PLC0415

        return bool(self.conn.their_state is h11.IDLE)

    def _await_headers(self) -> None:
        self._headers_arrived()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_timed_out)

    def _headers_arrived(self) -> None:
        deadline: asyncio.TimerHandle | None = getattr(self, "_header_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._header_deadline = None

    def _headers_timed_out(self) -> None:
        self._header_deadline = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            log_line("connection_timed_out", "warning", reason=f"no complete request headers within {self.header_timeout:g}s")
            self.transport.abort()


class _DrainingServer(_uvicorn_server()):  # type: ignore[misc]
    def __init__(self, config: Any, app: HelperApp, drain_seconds: float) -> None:
        super().__init__(config)
        self.app = app
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None
        self._stopping = False

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Like uvicorn's, without re-raising the signal afterwards: a drained shutdown exits 0."""
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_until is not None:
            self.should_exit = True
            return
        self.app.ready = False
        self.drain_until = time.monotonic() + self.drain_seconds
        log_line("draining", signal=signal.Signals(sig).name, seconds=self.drain_seconds)

    async def on_tick(self, counter: int) -> bool:
        should_exit: bool = await super().on_tick(counter)
        should_exit = should_exit or (self.drain_until is not None and time.monotonic() >= self.drain_until)
        if should_exit and not self._stopping:
            self._stopping = True
            self.app.ready = False
            connections = len(self.server_state.connections)
            log_line("shutting_down", connections=connections, graceful_seconds=self.config.timeout_graceful_shutdown)
        return should_exit
