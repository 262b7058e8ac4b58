"""The helper's log lines: the server library's own records keep their level, so a log pipeline
that alerts on warnings and errors sees uvicorn's (a crashed request, a failed start-up)."""

from __future__ import annotations

import json
import logging

import pytest
from binderhub_registry.helper_service.logs import JsonLogHandler


@pytest.mark.parametrize(("level", "name"), [(logging.ERROR, "error"), (logging.WARNING, "warning"), (logging.INFO, "info")])
def test_the_server_librarys_records_keep_their_level(capsys, level, name):
    logger = logging.getLogger(f"test-helper-logs-{name}")
    logger.handlers, logger.propagate = [JsonLogHandler()], False
    logger.setLevel(logging.DEBUG)
    logger.log(level, "Exception in ASGI application %s", "x")
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert (record["event"], record["level"], record["message"]) == ("server", name, "Exception in ASGI application x")
