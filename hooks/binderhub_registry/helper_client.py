"""Asking the registry helper for push credentials exactly as BinderHub's
``ExternalRegistryHelper`` does (``GET /repo/NAME``, ``POST /repo/NAME`` when missing, then
``POST /token/NAME:TAG``), for `check` (`helm test`) to prove that those credentials push."""

from __future__ import annotations

from typing import Any

import httpx

from binderhub_registry.errors import CredentialsRejected, RegistrySetupError, Unreachable


def credentials_from_helper(url: str, token: str, repository: str, tag: str = "push-check") -> dict[str, str]:
    """The helper's push credentials for ``repository`` (a path without host), asked like BinderHub."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30) as client:
        if _call(client, "GET", f"/repo/{repository}", missing_ok=True) is None:
            _call(client, "POST", f"/repo/{repository}")
        reply = _call(client, "POST", f"/token/{repository}:{tag}")
    if not isinstance(reply, dict) or not all(isinstance(reply.get(k), str) and reply.get(k) for k in ("username", "password", "registry")):
        raise Unreachable(f"The registry helper at {url} answered without username, password and registry; check its version.")
    return {k: str(reply[k]) for k in ("username", "password", "registry")}


def _call(client: httpx.Client, method: str, path: str, missing_ok: bool = False) -> Any:
    try:
        response = client.request(method, path, content=b"" if method == "POST" else None)
    except httpx.TimeoutException:
        raise Unreachable(f"The registry helper at {client.base_url} did not answer {method} {path} in time; check its pods.") from None
    except httpx.TransportError as exc:
        raise Unreachable(
            f"Cannot reach the registry helper at {client.base_url} ({type(exc).__name__}); check its Deployment and Service."
        ) from None
    if response.status_code == 404 and missing_ok:
        return None
    if response.status_code >= 300:
        raise _refusal(response, method, path)
    try:
        return response.json()
    except ValueError:
        raise Unreachable(f"The registry helper answered {method} {path} with something other than JSON.") from None


def _refusal(response: httpx.Response, method: str, path: str) -> RegistrySetupError:
    try:
        detail = str(response.json().get("error") or "")
    except (ValueError, AttributeError):
        detail = ""
    if response.status_code in (401, 403):
        return CredentialsRejected(
            f"The registry helper refused {method} {path} ({response.status_code}: {detail or 'no detail'}); "
            "check that the token Secret is the helper's and the image path is the one BinderHub pushes to."
        )
    if response.status_code == 502:
        return CredentialsRejected(f"The registry helper cannot get push credentials: {detail}")
    return Unreachable(f"The registry helper answered {response.status_code} to {method} {path}: {detail or 'no detail'}")
