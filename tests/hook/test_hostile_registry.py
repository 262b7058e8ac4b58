"""Registries that misbehave end the hook with the documented exit code and one sentence that
names the cause, within twice the configured deadline and under 128 MiB of memory.

Each case runs the CLI as the hook Job does (a process) against a loopback server that misbehaves
one way (tests/stand_ins/hostile_registry.py). The bound is the issue's: the process is killed
after 2 x BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS, and its peak memory is read from its own
rusage. Without the total deadline, the trickling servers keep the hook alive for minutes; without
the body cap, the endless ones grow it past a gigabyte.
"""

from __future__ import annotations

import pytest

from tests.helpers import generic_values, run_cli_bounded, write_values
from tests.stand_ins.hostile_registry import ECHOED_TOKEN, RETRY_THEN_TRICKLE_AFTER, HostileRegistry

DEADLINE = 4.0  # seconds, BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS of every case
MEMORY_LIMIT_MIB = 128
PASSWORD = "hostile-Pa55word"

# mode, scheme the hook is given, exit code, words of the last sentence
CASES = [
    ("trickle-headers", "http", 3, "did not finish answering within the 4s deadline"),
    ("trickle-body", "http", 3, "did not finish answering within the 4s deadline"),
    ("never-answers", "http", 3, "did not finish answering within the 4s deadline"),
    ("endless-body", "http", 3, "sent more than 1024 KiB"),
    ("endless-redirect-body", "http", 3, "sent more than 1024 KiB"),
    ("redirect-loop", "http", 3, "redirected more than 5 times (a redirect loop)"),
    ("malformed-location", "http", 3, "answered with a malformed Location header"),
    ("non-http-location", "http", 3, "redirected to a Location that is not an http(s) URL"),
    ("html-200", "http", 2, "answered GET /v2/ with a web page, not the registry API"),
    ("html-200", "https", 3, "did not complete a TLS handshake"),
    ("html-200-untyped", "http", 2, "answered GET /v2/ with a web page, not the registry API"),
    ("html-token", "http", 3, "answered with a web page without a token"),
    ("token-not-json", "http", 3, "answered with a body that is not JSON without a token"),
    ("token-wrong-types", "http", 3, "answered with JSON without a token"),
    ("realm-not-a-url", "http", 2, "without a usable WWW-Authenticate header"),
    ("opaque-token-refused", "http", 3, "refused the token its own token service issued"),
    ("expired-token-refused", "http", 3, "because it had already expired"),
    ("jwt-with-odd-claims", "http", 1, "give the account write (push) access"),
    ("opaque-token-insufficient-scope", "http", 1, "give the account write (push) access"),
    ("malformed-upload-location", "http", 3, "with a Location that is not an http(s) URL"),
    ("rate-limited-nan", "http", 3, "kept answering 429 (rate limited) after 4 attempts"),
    ("rate-limited-long", "http", 3, "kept answering 503 after 1 attempt"),
    # a body's words are never copied, only the spec's error codes: here the status's own phrase
    ("upload-denied-echoing", "http", 1, "(the registry answered 403 Forbidden to starting an upload)"),
]


@pytest.mark.parametrize(("mode", "scheme", "code", "sentence"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_a_misbehaving_registry_ends_in_one_sentence_within_twice_the_deadline(tmp_path, mode, scheme, code, sentence):
    with HostileRegistry(mode) as registry:
        url = f"{scheme}://{registry.host}"
        values = write_values(tmp_path / "values.yaml", generic_values(url, "alice", PASSWORD))
        run = run_cli_bounded(
            "provision", "--values", str(values), "--output", "-",
            kill_after=2 * DEADLINE, env={"BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS": str(DEADLINE)},
        )
    result = run.result
    assert result.code != -9, f"{mode}: still running after 2 x the {DEADLINE:g}s deadline; stderr: {result.stderr}"
    assert (result.code, sentence in result.last_line) == (code, True), result.stderr
    assert "Unexpected error" not in result.output and "Traceback" not in result.output
    assert "trusted CA" not in result.output  # no server here has a certificate to distrust
    assert PASSWORD not in result.output
    assert run.max_rss_mib < MEMORY_LIMIT_MIB, f"{mode}: peak memory {run.max_rss_mib:.0f} MiB"
    assert run.seconds <= 2 * DEADLINE


@pytest.mark.parametrize("mode", ["upload-elsewhere", "token-upload-elsewhere"])
def test_credentials_never_follow_an_upload_location_to_another_origin(tmp_path, mode):
    """A registry (redirecting, or compromised) naming another origin for the upload session gets
    the cancel there without the Authorization header, Basic or a bearer token; the registry's own
    origin gets it."""
    with HostileRegistry(mode) as registry:
        values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", PASSWORD))
        result = run_cli_bounded("provision", "--values", str(values), "--output", "-", kill_after=2 * DEADLINE).result
    assert result.code == 0, result.stderr
    posts = [seen for seen in registry.seen if seen.method == "POST"]
    cancels = [seen for seen in registry.seen if seen.method == "DELETE"]
    assert [(seen.host.split(":")[0], seen.authorization is not None) for seen in posts] == [("127.0.0.1", True)]
    assert [(seen.host.split(":")[0], seen.authorization) for seen in cancels] == [("localhost", None)]


def test_a_retry_that_then_trickles_ends_within_the_one_deadline(tmp_path):
    """The deadline bounds the operation, retries included: a 503 asking to come back after most of
    it, then a response that trickles, ends the hook at the deadline, not a deadline later. The
    bound here is 1.5 x the deadline (a hook giving each attempt the whole deadline takes 1.8 x)."""
    deadline = RETRY_THEN_TRICKLE_AFTER + 1.0
    with HostileRegistry("retry-then-trickle") as registry:
        values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", PASSWORD))
        run = run_cli_bounded("provision", "--values", str(values), "--output", "-", kill_after=1.5 * deadline,
                              env={"BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS": str(deadline)})
    assert run.result.code != -9, f"still running after 1.5 x the {deadline:g}s deadline; stderr: {run.result.stderr}"
    assert (run.result.code, f"within the {deadline:g}s deadline" in run.result.last_line) == (3, True), run.result.stderr
    assert registry.requests == ["GET /v2/", "GET /v2/"]  # the 503, then the trickle


def test_an_upload_session_proven_with_an_opaque_token_is_cancelled_with_it(tmp_path):
    """An opaque token says nothing about delete, so the hook tries to cancel the empty session."""
    with HostileRegistry("opaque-token-registry") as registry:
        values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", PASSWORD))
        result = run_cli_bounded("provision", "--values", str(values), "--output", "-", kill_after=2 * DEADLINE).result
    assert result.code == 0, result.stderr
    assert [(seen.method, seen.authorization) for seen in registry.seen if "/blobs/uploads/" in seen.path] == [
        ("POST", "Bearer opaque-token-0123456789"), ("DELETE", "Bearer opaque-token-0123456789")]


def test_a_token_the_registry_echoes_back_is_never_printed(tmp_path):
    """A registry refusing its own token names the challenge's ``error`` in the sentence
    (``_token_refused``); one that echoes the request there (``error="Bearer <token>"``) gets
    exit 3 and the sentence with the token masked, as every token a token service hands out is."""
    with HostileRegistry("upload-refused-echoing-token") as registry:
        values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", PASSWORD))
        result = run_cli_bounded("provision", "--values", str(values), "--output", "-", kill_after=2 * DEADLINE).result
    assert [(seen.method, seen.authorization) for seen in registry.seen if "/blobs/uploads/" in seen.path] == [
        ("POST", f"Bearer {ECHOED_TOKEN}")]  # the token really went out, so the challenge echoed it
    assert result.code == 3, result.stderr
    assert "refused the token its own token service issued (401 Bearer ***)" in result.last_line
    assert ECHOED_TOKEN not in result.output and PASSWORD not in result.output
