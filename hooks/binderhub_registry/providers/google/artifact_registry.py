"""The five Artifact Registry calls the hook makes, on its REST API (v1) through google-auth's
``AuthorizedSession`` (``rest``): the same requests, authentication and error types as the generated
client's REST transport (``google.api_core.exceptions.from_http_response``), without importing
the generated client and its protobuf modules (about 0.2 s and 13 MiB at every Google run).
Resources, policies and operations are the API's JSON objects."""

from __future__ import annotations

import time
from typing import Any

from binderhub_registry.providers.google.rest import RestApi
from binderhub_registry.retry import backoff

DEFAULT_ENDPOINT = "artifactregistry.googleapis.com"


class ArtifactRegistry:
    def __init__(self, credentials: Any, endpoint: str = "") -> None:
        """``endpoint``: ``host[:port]`` (https) or a URL with its scheme (http:// is for loopback test servers)."""
        rest = RestApi(credentials, endpoint, default=DEFAULT_ENDPOINT, title="Artifact Registry",
                       value="registry.google.endpoints.artifactRegistry")
        self._call = rest.call

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
