"""Progress lines on stderr: one line per step, text for people or JSON for machines.

Every line passes through redaction: secrets registered with ``Progress.add_secret`` (passwords,
key JSON, tokens) or ``add_credentials`` (also base64 of ``username:password``, as in an
``Authorization: Basic`` header or a docker config ``auth``) are replaced by ``***``, so no code
path can log them. Redaction works on the message and field values *before* they are encoded as
JSON (escaping would otherwise hide a password with ``"``, ``\\`` or non-ASCII characters, and
every line of a key file, from it), and it masks each form a secret takes in text: raw,
JSON-escaped, URL-encoded, Python repr, and each line of a multi-line secret.

Values are redacted where they stand, not as substrings of other words: a secret is masked where
it is not glued to letters or digits on a side where it starts or ends with one (``-``, ``.`` or
``/`` between two word characters glue too). So password ``x`` leaves ``registry.example.org`` alone and
password ``binder`` leaves ``binder-push-check`` alone, while ``password x`` or ``user:binder@``
are masked.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from typing import IO, Any
from urllib.parse import quote, quote_plus

REDACTED = "***"
# Lines of a multi-line secret shorter than this (braces, short JSON fields) are not secrets on their own.
MIN_LINE_LENGTH = 8
# Between two word characters these join them into one word (host names, paths, image names).
GLUE = "-./"


def secret_forms(value: str) -> set[str]:
    """The forms ``value`` takes when it is written into text: raw, JSON-escaped (with and without
    ASCII escapes), Python repr, URL-encoded (path and form style)."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1]}
    forms |= {quote(value, safe=""), quote_plus(value, safe="")}
    return {form for form in forms if form}


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _glued_left(text: str, start: int) -> bool:
    """Whether the character before ``text[start]`` continues a word into it."""
    if start == 0 or not _word(text[start]):
        return False
    before = text[start - 1]
    return _word(before) or (before in GLUE and start >= 2 and _word(text[start - 2]))


def _glued_right(text: str, end: int) -> bool:
    """Whether the character after ``text[end - 1]`` continues a word out of it."""
    if end >= len(text) or not _word(text[end - 1]):
        return False
    after = text[end]
    return _word(after) or (after in GLUE and end + 1 < len(text) and _word(text[end + 1]))


def redact_text(text: str, secrets: set[str]) -> str:
    """``text`` with every standing occurrence of each secret replaced by ``***`` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret not in text:
            continue
        pieces: list[str] = []
        position = 0
        for match in re.finditer(re.escape(secret), text):
            start, end = match.span()
            if start < position or _glued_left(text, start) or _glued_right(text, end):
                continue
            pieces += [text[position:start], REDACTED]
            position = end
        text = "".join(pieces) + text[position:]
    return text


class Progress:
    def __init__(self, log_format: str = "text", stream: IO[str] | None = None) -> None:
        self.log_format = log_format
        self.stream = stream if stream is not None else sys.stderr
        self._secrets: set[str] = set()

    def add_secret(self, value: str | None) -> None:
        """Never print ``value`` in any of its forms, nor any line of a multi-line secret such as
        key JSON (nor, for key JSON, its private key or any line of it)."""
        if not value:
            return
        values = {value, value.strip()}
        for part in [*value.splitlines(), *_private_key(value).splitlines()]:
            part = part.strip().rstrip(",").strip()
            if len(part) >= MIN_LINE_LENGTH:
                values.add(part)
        for secret in values:
            if secret:
                self._secrets |= secret_forms(secret)

    def add_credentials(self, username: str, password: str | None) -> None:
        """``password``, and ``username:password`` in base64 as Basic auth and docker configs carry it."""
        if not password:
            return
        self.add_secret(password)
        self._secrets.add(base64.b64encode(f"{username}:{password}".encode()).decode())

    def redact(self, text: str) -> str:
        return redact_text(text, self._secrets)

    def redact_fields(self, value: Any) -> Any:
        """A JSON-ready copy of ``value`` (fields of a JSON line) with every string redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact(str(k)): self.redact_fields(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_fields(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.redact(str(value))

    def step(self, message: str, **fields: Any) -> None:
        self._emit("info", message, fields)

    def warn(self, message: str, **fields: Any) -> None:
        self._emit("warning", message, fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("error", message, fields)

    def result(self, message: str, **fields: Any) -> None:
        """The final summary line of a successful command."""
        self._emit("result", message, fields)

    def _emit(self, level: str, message: str, fields: dict[str, Any]) -> None:
        if self.log_format == "json":
            record = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "level": level, "message": message, **fields}
            line = json.dumps(self.redact_fields(record), sort_keys=False)
        else:
            prefix = {"warning": "warning: ", "error": "error: "}.get(level, "")
            line = self.redact(prefix + message)
        print(line, file=self.stream, flush=True)


def _private_key(value: str) -> str:
    """The ``private_key`` of a service account key JSON (PEM, real newlines), or ""."""
    if '"private_key"' not in value:
        return ""
    try:
        key = json.loads(value).get("private_key", "")
    except (ValueError, AttributeError):
        return ""
    return key if isinstance(key, str) else ""
