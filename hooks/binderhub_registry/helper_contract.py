"""What the registry helper and its callers (`check`, the chart) share: its port, where its bearer
token is mounted, the suffix of the Secret holding that token, and the one rule for reading it.

This is their one source: ``scripts/sync_chart_data.py`` generates the chart's defines
``binderhub-registry.helperPort``, ``binderhub-registry.helperTokenDir`` and
``binderhub-registry.helperTokenSecretName`` (``chart/templates/_helper_contract.tpl``) from it, and
its ``--check`` (scripts/test, CI) fails when they drift."""

from __future__ import annotations

from pathlib import Path

from binderhub_registry.errors import InvalidConfiguration

HELPER_PORT = 8080
HELPER_TOKEN_DIR = "/etc/binderhub-registry/helper-token"
HELPER_TOKEN_FILE = f"{HELPER_TOKEN_DIR}/token"
HELPER_TOKEN_SECRET_SUFFIX = "-helper-token"
MIN_TOKEN_LENGTH = 16


def read_helper_token(path: str) -> str:
    """The bearer token BinderHub sends to the helper, from the file its Secret is mounted as:
    surrounding whitespace dropped, at least 16 characters (the chart generates 32)."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise InvalidConfiguration(f"Cannot read the registry helper's token from {path} ({reason}); mount its Secret there.") from None
    if len(token) < MIN_TOKEN_LENGTH:
        raise InvalidConfiguration(
            f"The registry helper's token in {path} is shorter than {MIN_TOKEN_LENGTH} characters; use the Secret the chart generates."
        )
    return token
