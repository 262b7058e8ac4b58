"""One JSON object per line on stdout, the container log. Callers pass only non-secret fields;
the helper never logs tokens or request headers."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


def log_line(event: str, level: str = "info", **fields: Any) -> None:
    record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"), "level": level, "event": event}
    record.update(fields)
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


class JsonLogHandler(logging.Handler):
    """Routes the server library's own log records (start-up, errors) into the same JSON lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = record.levelname.lower()
            log_line("server", level, message=record.getMessage(), logger=record.name)
        except Exception:  # noqa: BLE001  (logging must never take the server down)
            self.handleError(record)
