"""One Google REST API through google-auth's ``AuthorizedSession``: the requests, authentication
and error types of a generated client's REST transport (an HTTP error is raised with
``google.api_core.exceptions.from_http_response``, as those clients do, so ``api.GoogleCalls``
and ``api.translate`` word it unchanged), without importing the generated client."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from binderhub_registry.errors import Unreachable

REQUEST_TIMEOUT = 60.0


class RestApi:
    def __init__(self, credentials: Any, endpoint: str, *, default: str, title: str, value: str) -> None:
        """``endpoint``: ``host[:port]`` (https) or a URL with its scheme (http:// is for loopback
        test servers), ``default`` when empty; ``title`` and ``value`` name the API and its
        endpoint value in the sentence for an unreachable endpoint."""
        from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415

        endpoint = endpoint or default
        self._base = (endpoint if "://" in endpoint else f"https://{endpoint}").rstrip("/") + "/v1/"
        self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
        self._title = title
        self._value = value

    def call(self, method: str, path: str, *, params: Any = None, body: dict[str, Any] | None = None) -> Any:
        """The answer's JSON; an HTTP error raised as the matching API exception (google-auth's
        TransportError when the token service is unreachable), an unreachable endpoint as Unreachable."""
        import requests  # noqa: PLC0415  (google-auth's transport has loaded it)

        url = self._base + path
        try:
            response = self._session.request(method, url, params=params, json=body, timeout=REQUEST_TIMEOUT)  # type: ignore[no-untyped-call]
        except (requests.ConnectionError, requests.Timeout) as exc:
            cause = exc.args[0] if exc.args else exc
            reason = getattr(cause, "reason", None) or cause
            raise Unreachable(
                f"Cannot reach {self._title} at {urlsplit(url).netloc} ({type(reason).__name__}); "
                f"check the cluster's egress to Google, or {self._value}."
            ) from None
        if response.status_code >= 400:
            from google.api_core import exceptions  # noqa: PLC0415

            raise exceptions.from_http_response(response)  # type: ignore[no-untyped-call]
        return response.json() if response.content else {}
