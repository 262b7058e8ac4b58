"""One rule for the helper's bearer token file, read by `serve` and by `check --registry-helper`
alike: surrounding whitespace dropped, at least 16 characters, one sentence when unreadable."""

from __future__ import annotations

import pytest
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.helper_contract import read_helper_token


def test_the_token_is_read_without_surrounding_whitespace(tmp_path):
    path = tmp_path / "token"
    path.write_text("  0123456789abcdef0123\n")
    assert read_helper_token(str(path)) == "0123456789abcdef0123"


@pytest.mark.parametrize(("content", "expected"), [
    (None, "mount its Secret there"), ("short-token\n", "shorter than 16 characters"), (b"\xff\xfe" * 20, "not UTF-8 text"),
])
def test_an_unusable_token_file_is_one_sentence(tmp_path, content, expected):
    path = tmp_path / "token"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InvalidConfiguration) as refused:
        read_helper_token(str(path))
    assert expected in str(refused.value) and str(path) in str(refused.value)


def test_check_and_serve_share_the_reader():
    from binderhub_registry.commands import check, serve

    assert check.read_helper_token is read_helper_token and serve.read_helper_token is read_helper_token
