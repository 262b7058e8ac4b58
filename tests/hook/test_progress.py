"""Redaction on the real output paths: progress lines in `text` and `json`, with secrets of every
shape (single line; quotes, backslashes and non-ASCII; a line of a multi-line key) inside
messages and fields; and values redacted where they stand, not as substrings of other words."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import quote, quote_plus

import pytest
from binderhub_registry.progress import Progress

PLAIN = "pw-Zq8v3LkT0rXb"
HOSTILE = 'pa"ss\\wörd-Ω€-canary'
KEY_JSON = json.dumps(
    {
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "0f3e6c1d2b4a59687766554433221100aabbccdd",
        "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
        "Vq3xPzK9fakeKeyLineNumberTwoOfThePemBody0123456789abc\n-----END PRIVATE KEY-----\n",
        "client_email": "binderhub-builder@demo-project.iam.gserviceaccount.com",
    },
    indent=2,
)


def emit(log_format: str, *secrets: str, message: str, **fields: object) -> str:
    stream = io.StringIO()
    progress = Progress(log_format, stream=stream)
    for secret in secrets:
        progress.add_secret(secret)
    progress.error(message, **fields)
    return stream.getvalue()


def forms(secret: str) -> list[str]:
    """Every form a secret can take in a line of text or JSON."""
    return [secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1], quote(secret, safe="")]


def assert_clean(output: str, secret: str) -> None:
    for form in forms(secret):
        assert form not in output, f"{form!r} printed in {output!r}"
    assert "***" in output


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("secret", [PLAIN, HOSTILE], ids=["single-line", "quotes-backslash-non-ascii"])
def test_a_secret_inside_a_message_is_masked(log_format, secret):
    output = emit(log_format, secret, message=f"the registry said: bad password {secret} for alice")
    assert_clean(output, secret)
    assert "for alice" in output


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("secret", [HOSTILE, "pw with/slash+plus ü"], ids=["quotes-backslash-non-ascii", "space-slash-plus"])
def test_each_written_form_of_a_secret_is_masked_where_it_stands(log_format, secret):
    """Messages carry secrets as text, JSON strings, URL paths and form-encoded queries (a
    server's error echoing the request): each form is masked, not only the raw one."""
    written = {"raw": secret, "json": json.dumps(secret)[1:-1], "path": quote(secret, safe=""), "form": quote_plus(secret, safe=""),
               "repr": repr(secret)[1:-1]}
    for how, form in written.items():
        output = emit(log_format, secret, message=f"the server echoed {how} {form} back")
        assert form not in output, f"{how} form {form!r} printed in {output!r}"
        assert f"{how} *** back" in (json.loads(output)["message"] if log_format == "json" else output)


def test_a_secret_in_a_json_field_name_is_masked_too():
    """A mapping keyed by what a server echoed (a header, a URL) can carry a secret in its keys."""
    output = emit("json", PLAIN, message="answer", headers={f"Authorization: {PLAIN}": "echoed"})
    assert PLAIN not in output and json.loads(output)["headers"] == {"Authorization: ***": "echoed"}


@pytest.mark.parametrize("secret", [PLAIN, HOSTILE], ids=["single-line", "quotes-backslash-non-ascii"])
def test_json_lines_stay_json_and_mask_secrets_in_message_and_fields(secret):
    output = emit("json", secret, message=f"said {secret}.", detail={"body": [f"x {secret}"]}, attempts=3)
    record = json.loads(output)
    assert record["message"] == "said ***."
    assert record["detail"] == {"body": ["x ***"]}
    assert record["attempts"] == 3
    assert_clean(output, secret)


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize(
    "line",
    [
        '"private_key_id": "0f3e6c1d2b4a59687766554433221100aabbccdd"',
        "Vq3xPzK9fakeKeyLineNumberTwoOfThePemBody0123456789abc",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    ],
    ids=["json-line", "pem-line", "first-pem-line"],
)
def test_one_line_of_a_multi_line_key_inside_a_message_is_masked(log_format, line):
    output = emit(log_format, KEY_JSON, message=f"google-auth could not parse {line} in the key")
    assert line not in output
    assert "in the key" in output


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_whole_key_and_its_json_escaped_form_are_masked(log_format):
    output = emit(log_format, KEY_JSON, message=f"key: {KEY_JSON} / escaped: {json.dumps(KEY_JSON)}")
    assert "PRIVATE KEY" not in output
    assert "fakeKeyLine" not in output


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_line_of_a_multi_line_secret_is_masked_from_eight_characters(log_format):
    """MIN_LINE_LENGTH: a line of eight characters is a secret on its own; one of seven is not."""
    output = emit(log_format, "first line of the secret\nQ7w8E9r0\nQ7w8E9r\n", message="the server echoed Q7w8E9r0 and Q7w8E9r.")
    assert "Q7w8E9r0" not in output
    assert "and Q7w8E9r." in output


def test_basic_auth_of_username_and_password_is_masked():
    stream = io.StringIO()
    progress = Progress("text", stream=stream)
    progress.add_credentials("alice", HOSTILE)
    basic = base64.b64encode(f"alice:{HOSTILE}".encode()).decode()
    progress.error(f"the registry echoed Authorization: Basic {basic}")
    assert basic not in stream.getvalue()
    assert stream.getvalue() == "error: the registry echoed Authorization: Basic ***\n"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("x", "pushing to https://registry.example.org/x-binder"),
        ("binder", "repository binder/binder-push-check on registry.binder.example"),
        ("example", "https://registry.example.org"),
        ("1234", "retrying in 12345s"),
    ],
)
def test_values_are_redacted_where_they_stand_not_inside_other_words(secret, message):
    assert emit("text", secret, message=message) == f"error: {message}\n"


@pytest.mark.parametrize(
    ("secret", "message", "expected"),
    [
        ("x", "password x was rejected.", "password *** was rejected."),
        ("binder", "login alice:binder@host", "login alice:***@host"),
        ("binder", "'binder'", "'***'"),
        ("binder", "binder", "***"),
        ("binder", "sent /binder, .binder and -binder", "sent /***, .*** and -***"),  # glue joins two words only
    ],
)
def test_short_secrets_standing_alone_are_still_masked(secret, message, expected):
    stream = io.StringIO()
    progress = Progress("text", stream=stream)
    progress.add_secret(secret)
    progress.step(message)
    assert stream.getvalue() == expected + "\n"


@pytest.mark.parametrize("flags", [("--log-format", "json"), ("--log-format", "json", "--debug"), ("--debug",)])
def test_the_clis_last_sentence_and_traceback_are_redacted(monkeypatch, capsys, tmp_path, flags):
    """The CLI's one error handler, with a failure whose sentence (and traceback) carries the
    password and a line of a key: what a copied server body or a library's message would do."""
    from binderhub_registry import cli  # noqa: PLC0415
    from binderhub_registry.commands import common, render  # noqa: PLC0415
    from binderhub_registry.errors import CredentialsRejected  # noqa: PLC0415

    from tests.helpers import generic_values, write_values  # noqa: PLC0415

    def failing_run(args, progress):
        common.load(args, progress)
        progress.add_secret(KEY_JSON)
        body = json.dumps({"password": HOSTILE})
        raise CredentialsRejected(f"the registry said: {body} and MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7")

    monkeypatch.setattr(render, "run", failing_run)
    values = write_values(tmp_path / "values.yaml", generic_values("https://registry.example.org", "alice", HOSTILE))
    assert cli.main(["render", "--values", str(values), *flags]) == 1
    stderr = capsys.readouterr().err
    assert_clean(stderr, HOSTILE)
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" not in stderr
    if "json" in flags:
        assert all(json.loads(line) for line in stderr.splitlines())


def test_a_secret_read_from_a_file_is_masked_without_its_final_newline():
    """A password file ends in a newline the registry never sees; messages quote it without (also
    a short one, below the length at which lines of a multi-line secret are masked on their own)."""
    for secret in ("pw-from-a-file-123", "s3cr"):
        output = emit("text", secret + "\n", message=f"login of alice with {secret} refused")
        assert secret not in output and "with *** refused" in output



def test_a_secret_ending_in_punctuation_is_masked_before_a_word():
    """Its last character ends a word, so the word after it does not make it part of a longer one."""
    for secret in ("Pa55word!", "s3cr3t-t0ken."):
        output = emit("text", secret, message=f"login refused: {secret}Retry later")
        assert secret not in output and "***Retry later" in output, output
