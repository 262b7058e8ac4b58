"""HTTP/1.1 on a bare socket, for what an HTTP client library would not send (CRLF or NUL in a
path, two Authorization headers, a half-sent body) or would hide (a connection closed by the
server)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

WAIT_SECONDS = 30.0  # a bound for the test, never reached when the helper behaves


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=WAIT_SECONDS)
    return sock


def request_bytes(method: str, target: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: helper", *headers]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_answer(sock: socket.socket, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One answer: status, headers (lowercase names), body (by Content-Length; none to HEAD)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    length = 0 if head else int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def send(url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(url) as sock:
        sock.sendall(raw)
        return read_answer(sock, head=raw.startswith(b"HEAD "))


def closed_by_server(sock: socket.socket) -> bool:
    """Waits (at most WAIT_SECONDS) for the server to close: True when it did, whatever it sent before."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True
