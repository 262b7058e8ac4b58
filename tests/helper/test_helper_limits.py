"""The helper as a service under probing: idle, slow and surplus connections, requests beyond the
bound, and TCP_NODELAY on what it accepts. Each case once took the helper down or stalled it."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import ExitStack

import httpx

from tests.fixtures_google import PROJECT
from tests.helper.raw_http import closed_by_server, connect, read_answer, request_bytes, send

TOKEN_PATH = f"/token/{PROJECT}/binder/binder-x:t"


def _auth(helper) -> str:
    return f"Authorization: Bearer {helper.auth_token}"


def test_idle_connections_leave_health_and_requests_answered(keyless):
    """257 connections that send nothing (more than the default 256 requests in flight): health
    checks and BinderHub's requests are still answered."""
    helper = keyless["helper"]
    with ExitStack() as idle:
        for _ in range(helper.app.config.max_concurrent_requests + 1):
            idle.enter_context(connect(helper.url))
        assert httpx.get(f"{helper.url}/healthz/live", timeout=30).status_code == 200
        assert send(helper.url, request_bytes("POST", TOKEN_PATH, _auth(helper)))[0] == 200


def test_requests_beyond_the_bound_get_503_with_retry_after_while_health_answers(start_helper):
    helper = start_helper(max_concurrent_requests=1)
    metadata = helper.metadata
    metadata.hold_tokens = threading.Event()
    results: list[int] = []
    in_flight = threading.Thread(target=lambda: results.append(send(helper.url, request_bytes("POST", TOKEN_PATH, _auth(helper)))[0]))
    in_flight.start()
    try:
        assert metadata.token_request_arrived.wait(30)  # one request is being served
        status, headers, _ = send(helper.url, request_bytes("GET", f"/repo/{PROJECT}/binder/binder-x", _auth(helper)))
        assert status == 503 and headers["retry-after"] == "1"
        assert send(helper.url, request_bytes("GET", "/healthz/live"))[0] == 200
        assert send(helper.url, request_bytes("GET", "/healthz/ready"))[0] == 200
    finally:
        metadata.hold_tokens.set()
        in_flight.join(30)
    assert results == [200]
    assert send(helper.url, request_bytes("GET", f"/repo/{PROJECT}/binder/binder-x", _auth(helper)))[0] == 404


def test_connections_beyond_the_bound_are_closed_and_the_others_served(start_helper):
    """A burst of more connections than allowed: the surplus is closed at once, the rest answered."""
    helper = start_helper(max_connections=3, header_timeout_seconds=600)  # only the cap can close them within the wait
    with ExitStack() as stack:
        burst = [stack.enter_context(connect(helper.url)) for _ in range(5)]
        served = burst[:3]
        for sock in served:
            sock.sendall(request_bytes("GET", "/healthz/live"))
        assert [read_answer(sock)[0] for sock in served] == [200, 200, 200]
        assert [closed_by_server(sock) for sock in burst[3:]] == [True, True]


def test_headers_trickling_in_are_cut_off(start_helper):
    """One byte at a time never extends the deadline for the headers (slowloris)."""
    helper = start_helper(header_timeout_seconds=1.0)
    request = request_bytes("GET", "/healthz/live", "X-Padding: " + "p" * 200)
    with connect(helper.url) as sock:
        sent = 0
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.05)  # the client's pace (a byte every 50 ms), not a synchronisation
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert closed_by_server(sock)
    assert sent < len(request)


def test_a_connection_that_sends_nothing_is_closed(start_helper):
    helper = start_helper(header_timeout_seconds=0.5)
    with connect(helper.url) as sock:
        assert closed_by_server(sock)


def test_a_body_that_stops_half_way_gets_408_and_the_connection_closes(start_helper):
    helper = start_helper(body_timeout_seconds=0.5)
    with connect(helper.url) as sock:
        sock.sendall(request_bytes("POST", TOKEN_PATH, _auth(helper), body=b"x" * 100)[:-90])  # 10 bytes of 100
        status, headers, body = read_answer(sock)
        assert status == 408 and headers["connection"] == "close" and b"did not arrive" in body
        assert closed_by_server(sock)


def test_an_idle_keep_alive_connection_is_closed(start_helper):
    helper = start_helper(keep_alive_seconds=1)
    with connect(helper.url) as sock:
        sock.sendall(request_bytes("GET", "/healthz/live"))
        assert read_answer(sock)[0] == 200
        assert closed_by_server(sock)


def test_accepted_connections_have_tcp_nodelay(keyless):
    """Without it Nagle's algorithm holds back every answer on a reused connection (~40 ms)."""
    helper = keyless["helper"]
    with connect(helper.url) as sock:
        sock.sendall(request_bytes("GET", "/healthz/live"))
        assert read_answer(sock)[0] == 200  # the connection is accepted and kept open
        accepted = [protocol.transport.get_extra_info("socket") for protocol in list(helper.server.server_state.connections)]
        assert accepted
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted)
