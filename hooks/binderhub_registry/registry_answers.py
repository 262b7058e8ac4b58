"""What the hook reads of a registry's answers: JSON objects, web pages where the API should be,
and the status with the distribution spec's error code, never a body's text (some registries echo
the request, Authorization header included)."""

from __future__ import annotations

from typing import Any

import httpx


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def is_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("Content-Type", "").lower() or response.content.lstrip()[:1] == b"<"


# Error codes of the distribution spec: the only words of an error body copied into a message.
ERROR_CODES = frozenset(
    "BLOB_UNKNOWN BLOB_UPLOAD_INVALID BLOB_UPLOAD_UNKNOWN DIGEST_INVALID MANIFEST_BLOB_UNKNOWN MANIFEST_INVALID "
    "MANIFEST_UNKNOWN MANIFEST_UNVERIFIED NAME_INVALID NAME_UNKNOWN SIZE_INVALID TAG_INVALID UNAUTHORIZED DENIED "
    "UNSUPPORTED TOOMANYREQUESTS".split()
)


def answer(response: httpx.Response) -> str:
    """The status and what it means (``403 DENIED``, ``404 Not Found``), never the body's text."""
    try:
        code = str(response.json()["errors"][0]["code"])
    except (ValueError, KeyError, IndexError, TypeError):
        code = ""
    return f"{response.status_code} {code if code in ERROR_CODES else response.reason_phrase}".strip()
