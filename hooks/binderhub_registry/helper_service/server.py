"""Serving the helper with uvicorn (HTTP/1.1 on h11, one asyncio process).

Why uvicorn: the helper must parse HTTP robustly, bound concurrency (``limit_concurrency``
answers 503 beyond it), time out idle keep-alive connections and shut down gracefully, which
the standard library's ``http.server`` does not do; uvicorn does all of it with two small
pure-Python dependencies (h11, click), and the application stays a plain ASGI callable.
It is imported only by `serve`.

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


def bind(listen: str) -> socket.socket:
    """A listening socket for ``HOST:PORT`` (port 0 picks a free one)."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104  (the pod's address; Kubernetes routes to it)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
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

    return uvicorn.Config(
        app,
        http="h11",
        loop="asyncio",
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        # uvicorn counts the connection asking too: +1 lets exactly max_concurrent_requests in
        limit_concurrency=app.config.max_concurrent_requests + 1,
        timeout_keep_alive=15,
        timeout_graceful_shutdown=graceful_seconds,
    )


def _uvicorn_server() -> Any:
    import uvicorn  # noqa: PLC0415

    return uvicorn.Server


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
