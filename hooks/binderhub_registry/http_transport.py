"""The HTTP transport of the registry client (oci.py): httpx's own, made per scheme on first use."""

from __future__ import annotations

from collections.abc import Callable

import httpx


class TransportPerScheme(httpx.BaseTransport):
    """httpx's transport, made on first use per scheme: only https:// loads the CA bundle (certifi,
    ~20 ms). Used without proxies (with one, httpx's default transports do it all)."""

    def __init__(self, prepare: Callable[[httpx.HTTPTransport], None] = lambda transport: None) -> None:
        self._transports: dict[str, httpx.HTTPTransport] = {}
        self._prepare = prepare  # called with each transport it makes (bounded_http bounds it)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        if scheme not in self._transports:
            self._transports[scheme] = httpx.HTTPTransport(verify=scheme == "https")
            self._prepare(self._transports[scheme])
        return self._transports[scheme].handle_request(request)

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
