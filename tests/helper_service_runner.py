"""Run the registry helper (``binderhub_registry.helper_service``) in a thread of the test process,
on uvicorn with a loopback socket, so tests can reach it over real HTTP and read its state (the
token cache's mint count) directly. Process-level behaviour (signals, exit codes) is tested by
running `binderhub-registry serve` as a process instead."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from binderhub_registry.helper_service.app import HelperApp
from binderhub_registry.helper_service.config import HelperConfig
from binderhub_registry.helper_service.server import bind, uvicorn_config

AUTH_TOKEN = "test-helper-token-0123456789abcdef"


@dataclass
class RunningHelper:
    app: HelperApp
    url: str
    auth_token: str
    server: Any  # the uvicorn.Server (its server_state holds the open connections)
    metadata: Any = None  # the metadata server stand-in it asks, when a fixture sets it


@contextmanager
def running_helper(
    config: HelperConfig, auth_token: str = AUTH_TOKEN, clock: Any = None, pull_secret: Any = None
) -> Iterator[RunningHelper]:
    app = HelperApp(config, auth_token, clock, pull_secret) if clock is not None else HelperApp(config, auth_token, pull_secret=pull_secret)
    sock = bind("127.0.0.1:0")
    started = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            started.set()

    server = Server(uvicorn_config(app, graceful_seconds=5))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), name="registry-helper", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the registry helper did not start")
    try:
        yield RunningHelper(app, f"http://127.0.0.1:{sock.getsockname()[1]}", auth_token, server)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
