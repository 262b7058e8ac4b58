"""HTTP exchanges bounded in time and memory, whatever the server does.

A registry is reached over the network from inside ``helm install``: a server that trickles one
byte every few seconds, sends an endless body, redirects in a loop or answers with a web page must
end the hook with one sentence and a documented exit code, within a known time and memory.

* **Time**: every operation (one request and its retries and redirects) has a total deadline,
  ``BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS`` (default 60). Each socket connect, read and
  write waits at most the time left, so no pace of trickling outlives it.
* **Memory**: a response body is read up to ``BODY_LIMIT`` (the registry's answers the hook reads
  are a few kilobytes), and everything received for one exchange, redirects included, up to
  ``WIRE_LIMIT``.
* **Redirects**: at most ``MAX_REDIRECTS``; a ``Location`` that is not an http(s) URL ends the
  operation.
* **Retries**: connection errors, timeouts, 429 and 5xx are retried with the one backoff of
  ``retry.py`` (honouring ``Retry-After``), within the deadline; then ``Unreachable`` (exit 3).
"""

from __future__ import annotations

import math
import os
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from binderhub_registry.errors import Unreachable
from binderhub_registry.progress import Progress
from binderhub_registry.retry import backoff, pause

DEADLINE_VARIABLE = "BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS"
DEFAULT_DEADLINE = 60.0
BODY_LIMIT = 1024 * 1024
WIRE_LIMIT = 4 * 1024 * 1024
MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "binderhub-registry"


def operation_deadline() -> float:
    """Seconds one operation (request, redirects, retries) may take in all."""
    try:
        seconds = float(os.environ.get(DEADLINE_VARIABLE, DEFAULT_DEADLINE))
    except ValueError:
        return DEFAULT_DEADLINE
    return seconds if math.isfinite(seconds) and seconds > 0 else DEFAULT_DEADLINE


class DeadlineExceeded(Exception):
    """The operation's total deadline passed while connecting, sending or receiving."""


class TooLarge(Exception):
    """The server sent more than the exchange may receive."""


class Budget:
    """What the exchange under way may still spend: time until ``deadline``, bytes received."""

    def __init__(self) -> None:
        self.deadline = math.inf
        self.received = 0

    def start(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.received = 0

    def timeout(self, timeout: float | None) -> float:
        """The socket timeout for one wait: the caller's, but never past the deadline."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded
        return left if timeout is None else min(timeout, left)

    def receive(self, size: int) -> None:
        self.received += size
        if self.received > WIRE_LIMIT:
            raise TooLarge

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline


class _BoundedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, budget: Budget) -> None:
        self._stream = stream
        self._budget = budget

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = _within(self._budget, lambda: self._stream.read(max_bytes, self._budget.timeout(timeout)))
        self._budget.receive(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        _within(self._budget, lambda: self._stream.write(buffer, self._budget.timeout(timeout)))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        tls = _within(self._budget, lambda: self._stream.start_tls(ssl_context, server_hostname, self._budget.timeout(timeout)))
        return _BoundedStream(tls, self._budget)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _BoundedBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend, budget: Budget) -> None:
        self._backend = backend
        self._budget = budget

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = _within(self._budget, lambda: self._backend.connect_tcp(
            host, port, self._budget.timeout(timeout), local_address, socket_options))
        return _BoundedStream(stream, self._budget)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = _within(self._budget, lambda: self._backend.connect_unix_socket(path, self._budget.timeout(timeout), socket_options))
        return _BoundedStream(stream, self._budget)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _within(budget: Budget, call: Any) -> Any:
    """``call()``, with a socket timeout that hit the deadline reported as ``DeadlineExceeded``."""
    try:
        return call()
    except httpcore.TimeoutException:
        if budget.expired():
            raise DeadlineExceeded from None
        raise


def bounded_client(timeout: float, budget: Budget) -> httpx.Client:
    """An httpx client whose every connection (direct or through a proxy from the environment)
    spends ``budget``. httpx has no total deadline, so the network backend of each of its
    connection pools is wrapped: the one private attribute this package touches."""

    def bound(transport: Any) -> None:
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            pool._network_backend = _BoundedBackend(pool._network_backend, budget)

    client = httpx.Client(
        timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )
    for transport in [client._transport, *client._mounts.values()]:
        bound(transport)
    return client


@dataclass(frozen=True)
class Exchange:
    """One operation on a server: its client, budget, and the words its sentences use."""

    client: httpx.Client
    budget: Budget
    progress: Progress
    url_hint: str  # the value to check, e.g. registry.generic.url
    attempts: int = 4

    def send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """The response (body read, at most ``BODY_LIMIT``) of the first attempt that is not a
        transient failure; ``Unreachable`` after ``attempts`` or when the deadline passes."""
        seconds = operation_deadline()
        deadline = time.monotonic() + seconds
        last, tried, answered = "", 0, False
        for attempt in range(1, self.attempts + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            tried = attempt
            try:
                response = self._once(method, url, left, what=what, **kwargs)
            except httpx.TransportError as exc:
                last, answered, retry_after, now = self._transient(exc), False, None, ""
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                status = response.status_code
                last = "kept answering 429 (rate limited)" if status == 429 else f"kept answering {status}"
                answered, retry_after, now = True, response.headers.get("Retry-After"), f"answered {status}"
            if attempt == self.attempts:
                break
            delay = min(retry_delay(attempt, retry_after), max(deadline - time.monotonic(), 0.0))
            self.progress.warn(f"{what}: {origin(url)} {now or last}; retrying in {delay:.3g}s (attempt {attempt + 1} of {self.attempts})")
            pause(delay)
        if not last:
            last = f"did not answer within the {seconds:g}s deadline"
        advice = "try again later or check the registry's status" if answered else (
            f"check {self.url_hint} and that it is reachable from where this runs (the cluster for the hook)")
        raise Unreachable(f"{what} failed: {origin(url)} {last} after {tried} attempt{'s' if tried != 1 else ''}; {advice}.")

    def _once(self, method: str, url: str, seconds: float, *, what: str, **kwargs: Any) -> httpx.Response:
        where = f"{what} failed: {origin(url)}"
        if not url.startswith(("http://", "https://")):
            raise Unreachable(f"{what} failed: the server named a URL that is not http(s); check {self.url_hint}.")
        self.budget.start(seconds)
        try:
            with self.client.stream(method, url, **kwargs) as response:
                body = bytearray()
                for chunk in response.iter_raw():
                    body += chunk
                    if len(body) > BODY_LIMIT:
                        raise TooLarge
        except DeadlineExceeded:
            raise Unreachable(
                f"{where} did not finish answering within the {operation_deadline():g}s deadline (it answers too slowly or never ends)"
                f"; check {self.url_hint} and the registry's health."
            ) from None
        except TooLarge:
            raise Unreachable(
                f"{where} sent more than {BODY_LIMIT // 1024} KiB in answer to {method}, which no registry does; check {self.url_hint}."
            ) from None
        except httpx.TooManyRedirects:
            raise Unreachable(f"{where} redirected more than {MAX_REDIRECTS} times (a redirect loop); check {self.url_hint}.") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise Unreachable(f"{where} redirected to a Location that is not an http(s) URL; check {self.url_hint}.") from None
        except httpx.RemoteProtocolError as exc:
            if "location" in str(exc).lower():
                raise Unreachable(f"{where} answered with a malformed Location header; check {self.url_hint}.") from None
            raise
        except httpx.ConnectError as exc:
            raise_if_tls(exc, what, url, self.url_hint)
            raise
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=response.request)

    def _transient(self, exc: Exception) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"did not answer within {self.client.timeout.read:g}s"
        if isinstance(exc, httpx.ConnectError):
            return f"cannot be reached ({connect_reason(exc)})"
        return f"failed ({type(exc).__name__}: {connect_reason(exc)})"


def raise_if_tls(exc: Exception, what: str, url: str, url_hint: str) -> None:
    """A TLS failure as one sentence that says which: the server's certificate was not trusted
    (it spoke TLS), or there was no TLS handshake at all (e.g. https:// to a plain-HTTP port)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or "certificate verify failed"
            raise Unreachable(
                f"{what} failed: TLS verification failed for {origin(url)} ({why}); the registry needs a certificate "
                f"from a trusted CA for its host name, or check {url_hint}."
            ) from None
        if isinstance(cause, ssl.SSLError):
            raise Unreachable(
                f"{what} failed: {origin(url)} did not complete a TLS handshake ({cause.reason or 'TLS error'}), so it may not "
                f"speak TLS on that port; check the scheme and port of {url_hint}."
            ) from None
        cause = cause.__cause__ or cause.__context__


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """``Retry-After`` seconds when the server gives a usable number (at most 60), else backoff."""
    if retry_after is not None:
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = math.nan
        if math.isfinite(seconds):
            return min(max(seconds, 0.0), 60.0)
    return backoff(attempt, cap=30.0)


def origin(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "the server"
    return f"{parsed.scheme}://{parsed.netloc.decode(errors='replace')}"


def connect_reason(exc: Exception) -> str:
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    while cause is not None and not text:
        text = str(cause)
        cause = cause.__cause__
    return text.splitlines()[0][:200] if text else type(exc).__name__
