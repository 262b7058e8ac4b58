"""The HTTP transport of the registry client (oci.py): httpx's own, made per scheme on first use."""

from __future__ import annotations

import httpx


class TransportPerScheme(httpx.BaseTransport):
    """httpx's transport, made on first use per scheme: only https:// loads the CA bundle (certifi,
    ~20 ms). Used without proxies (with one, httpx's default transports do it all)."""

    def __init__(self) -> None:
        self._transports: dict[str, httpx.HTTPTransport] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        if scheme not in self._transports:
            self._transports[scheme] = httpx.HTTPTransport(verify=scheme == "https")
        return self._transports[scheme].handle_request(request)

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
