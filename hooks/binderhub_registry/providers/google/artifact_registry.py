"""The five Artifact Registry calls the hook makes, on its REST API (v1) through google-auth's
``AuthorizedSession``: the same requests, authentication and error types as the generated
client's REST transport (``google.api_core.exceptions.from_http_response``), without importing
the generated client and its protobuf modules (about 0.2 s and 13 MiB at every Google run).
Resources, policies and operations are the API's JSON objects."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from binderhub_registry.errors import Unreachable
from binderhub_registry.retry import backoff

DEFAULT_ENDPOINT = "artifactregistry.googleapis.com"
REQUEST_TIMEOUT = 60.0
DOCKER = "DOCKER"


class ArtifactRegistry:
    def __init__(self, credentials: Any, endpoint: str = "") -> None:
        """``endpoint``: ``host[:port]`` (https) or a URL with its scheme (http:// is for loopback test servers)."""
        from google.auth.transport.requests import AuthorizedSession  # noqa: PLC0415

        endpoint = endpoint or DEFAULT_ENDPOINT
        self._base = (endpoint if "://" in endpoint else f"https://{endpoint}").rstrip("/") + "/v1/"
        self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]

    def _call(self, method: str, path: str, *, params: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> Any:
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
                f"Cannot reach Artifact Registry at {urlsplit(url).netloc} ({type(reason).__name__}); "
                f"check the cluster's egress to Google, or registry.google.endpoints.artifactRegistry."
            ) from None
        if response.status_code >= 400:
            from google.api_core import exceptions  # noqa: PLC0415

            raise exceptions.from_http_response(response)  # type: ignore[no-untyped-call]
        return response.json() if response.content else {}

    def get_repository(self, name: str) -> dict[str, Any]:
        return dict(self._call("GET", name))

    def create_repository(self, parent: str, repository_id: str, repository: dict[str, Any]) -> dict[str, Any]:
        """The long-running operation that creates it."""
        return dict(self._call("POST", f"{parent}/repositories", params={"repositoryId": repository_id}, body=repository))

    def wait(self, operation: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The operation's response once done; its error raised as the matching API exception."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while not operation.get("done"):
            if time.monotonic() >= deadline:
                from google.api_core import exceptions  # noqa: PLC0415

                raise exceptions.DeadlineExceeded(f"operation {operation.get('name')} did not finish within {timeout:g}s")  # type: ignore[no-untyped-call]
            attempt += 1
            time.sleep(backoff(attempt, cap=5.0))
            operation = self._call("GET", str(operation["name"]))
        error = operation.get("error")
        if error:
            from google.api_core import exceptions  # noqa: PLC0415

            raise exceptions.from_grpc_status(int(error.get("code", 2)), str(error.get("message", "")))  # type: ignore[no-untyped-call]
        return dict(operation.get("response") or {})

    def get_iam_policy(self, resource: str) -> dict[str, Any]:
        return dict(self._call("GET", f"{resource}:getIamPolicy"))

    def set_iam_policy(self, resource: str, policy: dict[str, Any]) -> dict[str, Any]:
        return dict(self._call("POST", f"{resource}:setIamPolicy", body={"policy": policy}))

    def test_iam_permissions(self, resource: str, permissions: list[str]) -> list[str]:
        """Those of ``permissions`` the caller holds on ``resource``."""
        return list(self._call("POST", f"{resource}:testIamPermissions", body={"permissions": permissions}).get("permissions") or [])
