"""`binderhub-registry serve` as the helper's container runs it: a process configured by the same
values file as the hook, its token from a file, JSON lines on stdout; on SIGTERM it reports
not-ready while still serving, finishes requests in flight, and exits 0."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.helper_service import server
from binderhub_registry.helper_service.app import HelperApp
from binderhub_registry.helper_service.config import from_values
from binderhub_registry.values import load_values

from tests.fixtures_google import BUILDER, PROJECT, google_values
from tests.fixtures_workload_identity import HELPER_KSA, HELPER_NAMESPACE, keyless_values
from tests.helper.conftest import helper_config
from tests.helpers import run_cli, write_values
from tests.stand_ins.google_workload_identity import grant_on_account, workload_identity_member

TOKEN = "serve-test-token-0123456789abcdef"


class ServeProcess:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "binderhub_registry", "serve", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.raw: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        listening = self.wait_for("listening")
        self.url = f"http://127.0.0.1:{listening['port']}"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            if line.startswith("{"):
                self.lines.put(json.loads(line))
        self.lines.put({"event": "eof"})

    def wait_for(self, event: str) -> dict[str, Any]:
        while True:
            line = self.lines.get(timeout=30)
            if line["event"] in (event, "eof"):
                assert line["event"] == event, "".join(self.raw) + (self.proc.stderr.read() if self.proc.stderr else "")
                return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def serve(google_cloud, iam_credentials, builder, make_metadata, ar_registry, tmp_path) -> Iterator[Any]:
    grant_on_account(google_cloud.state, BUILDER, workload_identity_member(PROJECT, HELPER_NAMESPACE, HELPER_KSA),
                     "roles/iam.workloadIdentityUser")
    metadata = make_metadata()
    values = keyless_values(google_cloud, ar_registry, iam_credentials)
    values_file = write_values(tmp_path / "values.yaml", values)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    started: list[ServeProcess] = []

    def start(*extra: str, helper: dict[str, Any] | None = None) -> ServeProcess:
        files = [str(values_file)]
        if helper:
            files.append(str(write_values(tmp_path / f"helper-{len(started)}.yaml", {"registryHelper": helper})))
        args = [arg for path in files for arg in ("--values", path)]
        process = ServeProcess([*args, "--listen", "127.0.0.1:0", "--auth-token-file", str(token_file), *extra],
                               {"GCE_METADATA_HOST": metadata.host})
        started.append(process)
        return process

    yield start, metadata
    for process in started:
        process.stop()


def _post_token(url: str, results: list[int]) -> None:
    reply = httpx.post(f"{url}/token/{PROJECT}/binder/binder-x:t", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    results.append(reply.status_code)


def test_sigterm_drains_then_finishes_requests_in_flight_and_exits_0(serve):
    start, metadata = serve
    helper = start("--drain-seconds", "600")
    assert httpx.get(f"{helper.url}/healthz/ready").status_code == 200
    metadata.hold_tokens = threading.Event()
    results: list[int] = []
    in_flight = threading.Thread(target=_post_token, args=(helper.url, results))
    in_flight.start()
    assert metadata.token_request_arrived.wait(30)
    helper.proc.send_signal(signal.SIGTERM)
    helper.wait_for("draining")
    assert httpx.get(f"{helper.url}/healthz/ready").status_code == 503  # out of the Service...
    assert httpx.get(f"{helper.url}/healthz/live").status_code == 200  # ...but alive and serving
    helper.proc.send_signal(signal.SIGTERM)  # the drain is over early: stop accepting
    assert helper.wait_for("shutting_down")["connections"] >= 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{helper.url}/healthz/live")
    metadata.hold_tokens.set()
    in_flight.join(30)
    assert results == [200]
    assert helper.proc.wait(30) == 0
    assert helper.wait_for("stopped")["mints"] == 1


def test_every_request_is_one_json_line_without_secrets(serve):
    start, _ = serve
    helper = start()
    _post_token(helper.url, results := [])
    httpx.get(f"{helper.url}/repo/{PROJECT}/binder/binder-x", headers={"Authorization": "Bearer nope-0123456789abcdef"})
    helper.proc.send_signal(signal.SIGINT)
    helper.proc.send_signal(signal.SIGINT)
    assert helper.proc.wait(30) == 0
    requests = [json.loads(line) for line in helper.raw if '"event": "request"' in line]
    assert [(r["method"], r["status"]) for r in requests] == [("POST", 200), ("GET", 403)]
    assert results == [200]
    output = "".join(helper.raw)
    assert TOKEN not in output and "ya29." not in output


def test_serve_refuses_key_mode_values_and_a_missing_token_file(google_cloud, ar_registry, iam_credentials, tmp_path):
    values = write_values(tmp_path / "values.yaml", {"registry": {"type": "dockerhub", "dockerhub": {"username": "u", "password": "p"}}})
    result = run_cli("serve", "--values", str(values), "--listen", "127.0.0.1:0", "--auth-token-file", str(tmp_path / "token"))
    assert result.code == 2 and "registry.type gcr, artifact-registry or ecr" in result.last_line
    values = write_values(tmp_path / "key.yaml", google_values(google_cloud, ar_registry))
    result = run_cli("serve", "--values", str(values), "--listen", "127.0.0.1:0", "--auth-token-file", str(tmp_path / "token"))
    assert result.code == 2 and "registry.google.credential workload-identity" in result.last_line
    values = write_values(tmp_path / "google.yaml", keyless_values(google_cloud, ar_registry, iam_credentials))
    result = run_cli("serve", "--values", str(values), "--listen", "127.0.0.1:0", "--auth-token-file", str(Path(tmp_path / "absent")))
    assert result.code == 2 and "mount its Secret there" in result.last_line


@pytest.mark.parametrize("min_remaining", [3599, 3600, 3601])
def test_a_token_must_be_served_for_less_than_its_lifetime(google_cloud, ar_registry, iam_credentials, min_remaining, tmp_path):
    """registryHelper.tokenMinRemainingSeconds at or above tokenLifetimeSeconds would refuse every token as too short."""
    values = keyless_values(google_cloud, ar_registry, iam_credentials)
    values["registryHelper"] |= {"tokenLifetimeSeconds": 3600, "tokenMinRemainingSeconds": min_remaining}
    merged = load_values([str(write_values(tmp_path / "values.yaml", values))])  # as `serve --values` reads them
    if min_remaining < 3600:
        assert from_values(merged).min_remaining_seconds == min_remaining
        return
    with pytest.raises(InvalidConfiguration, match="must be below tokenLifetimeSeconds"):
        from_values(merged)


def test_requests_beyond_the_concurrency_bound_get_503_at_once(serve):
    """registryHelper.maxConcurrentRequests bounds requests in flight; health still answers."""
    start, metadata = serve
    helper = start(helper={"maxConcurrentRequests": 1})
    metadata.hold_tokens = threading.Event()
    results: list[int] = []
    in_flight = threading.Thread(target=_post_token, args=(helper.url, results))
    in_flight.start()
    assert metadata.token_request_arrived.wait(30)  # one request is being served
    assert httpx.get(f"{helper.url}/healthz/live", timeout=10).status_code == 200
    beyond = httpx.post(f"{helper.url}/token/{PROJECT}/binder/binder-x:t", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert beyond.status_code == 503 and beyond.headers["retry-after"] == "1"
    metadata.hold_tokens.set()
    in_flight.join(30)
    assert results == [200]
    assert httpx.get(f"{helper.url}/healthz/live", timeout=10).status_code == 200


def test_a_helper_that_cannot_start_exits_non_zero(google_cloud, iam_credentials, make_metadata, ar_registry):
    """Start-up failing (the lifespan start-up raises) ends in exit 3 (uvicorn's own SystemExit),
    so that Kubernetes restarts the container and counts the failure, never in 0 as after a
    drained shutdown."""

    class Unstartable(HelperApp):
        async def start(self) -> None:
            raise RuntimeError("no start")

    app = Unstartable(helper_config(google_cloud, iam_credentials, make_metadata(), ar_registry), TOKEN)
    with pytest.raises(SystemExit) as exited:
        server.serve(app, server.bind("127.0.0.1:0"), drain_seconds=0, graceful_seconds=1)
    assert exited.value.code == 3
    assert not app.ready


def test_serve_that_cannot_listen_exits_3(google_cloud, ar_registry, iam_credentials, tmp_path):
    """A port already taken: the helper never served, so its pod must not look like it ended well."""
    values = write_values(tmp_path / "values.yaml", keyless_values(google_cloud, ar_registry, iam_credentials))
    token = tmp_path / "token"
    token.write_text("t" * 32)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--values", str(values), "--listen", f"127.0.0.1:{port}", "--auth-token-file", str(token))
    assert result.code == 3, result.last_line
