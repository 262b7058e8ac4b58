"""The loopback HTTP server every HTTP stand-in runs on.

A ``ThreadingHTTPServer`` on 127.0.0.1 with an ephemeral port, serving from a daemon thread.
Subclasses give the request handler (set ``request_handler``, or override :meth:`handler_class`);
each handler class is made per server with ``owner`` pointing back at it. Use as a context
manager or call ``start()`` / ``stop()``; :meth:`on_stop` is the hook for extra clean-up.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

LOOPBACK = "127.0.0.1"


class LoopbackHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, quiet, and without Nagle: a response written as headers then body
    otherwise stalls ~40 ms on loopback (Nagle waiting for the client's delayed ACK)."""

    owner: Any  # the LoopbackHttpServer; set on the subclass made by handler_class()
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep stderr quiet
        pass


class LoopbackHttpServer:
    """Base of the HTTP stand-ins: lifecycle, ``port``, ``host`` (``127.0.0.1:PORT``), ``url``."""

    request_handler: ClassVar[type[LoopbackHandler]] = LoopbackHandler
    thread_name: ClassVar[str | None] = None  # default: the class name
    # a short poll interval keeps shutdown() fast (it waits for the loop to notice)
    poll_interval: ClassVar[float] = 0.02
    server_class: ClassVar[type[ThreadingHTTPServer]] = ThreadingHTTPServer
    # The address to listen on: loopback, or the test cluster node's own address (local to this
    # machine too) when pods must reach the server. Set it before start().
    address: str = LOOPBACK
    # TLS: a server context (certificate loaded) makes it serve https; the handshake happens in
    # the request's thread, so a slow client does not hold up the others.
    tls: ssl.SSLContext | None = None

    def __init__(self) -> None:
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The handler class for one start; by default ``request_handler`` bound to ``self``."""
        return type(self.request_handler.__name__, (self.request_handler,), {"owner": self})

    def start(self) -> Self:
        self._httpd = self.server_class((self.address, 0), self.handler_class())
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        args=(self.poll_interval,),
                                        name=self.thread_name or type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.on_stop()

    def on_stop(self) -> None:
        """Extra clean-up after the server has stopped (temporary files, clients)."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"


__all__ = ["LOOPBACK", "LoopbackHandler", "LoopbackHttpServer"]
