"""Progress lines on stderr: one line per step, text for people or JSON for machines.

Every line passes through redaction: secrets registered with ``Progress.add_secret`` (passwords,
key JSON, tokens) are replaced by ``***`` wherever they appear, so no code path can log them.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any

REDACTED = "***"


class Progress:
    def __init__(self, log_format: str = "text", stream: IO[str] | None = None) -> None:
        self.log_format = log_format
        self.stream = stream if stream is not None else sys.stderr
        self._secrets: set[str] = set()

    def add_secret(self, value: str | None) -> None:
        """Never print ``value`` (or any of its lines, for multi-line secrets such as key JSON)."""
        if not value:
            return
        self._secrets.add(value)
        for part in value.splitlines():
            part = part.strip()
            if len(part) >= 8:
                self._secrets.add(part)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

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
            line = json.dumps(record, sort_keys=False, default=str)
        else:
            prefix = {"warning": "warning: ", "error": "error: "}.get(level, "")
            line = prefix + message
        print(self.redact(line), file=self.stream, flush=True)
