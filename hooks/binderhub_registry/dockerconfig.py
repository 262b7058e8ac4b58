"""Docker config.json: write one, and find credentials in one the way BinderHub does.

BinderHub's ``DockerRegistry`` looks up ``auths[url]``, then ``auths[hostname]`` (hostname
without port), then Docker Hub's ``https://index.docker.io/v1/`` for ``docker.io``, ``docker.com``
and their subdomains; only ``DockerRegistry.auth_config_url`` when that is set; and it decodes
only the entry's ``auth`` field. A
``host:port`` key is therefore never found, and BinderHub silently runs without credentials; the
keys written here are always the registry URL with its scheme, or Docker Hub's index URL.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlparse

from binderhub_registry.settings import RegistrySettings

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


def build(auth_key: str, username: str, password: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"auths": {auth_key: {"auth": auth}}}


def for_settings(settings: RegistrySettings, username: str, password: str) -> dict[str, Any]:
    """The docker config of the Secret: the credentials under the settings' auths key; none with
    keyless Google, where BinderHub asks the registry helper instead."""
    return {"auths": {}} if settings.helper_url else build(settings.auth_key, username, password)


def dumps(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def problem(config: dict[str, Any]) -> str | None:
    """What makes ``config`` unusable for docker, the kubelet or BinderHub, as the end of a
    sentence starting "The docker config in <file> ...", or None when it is well-formed. Docker
    refuses a whole config.json when any ``auth`` in it does not decode, so every entry counts."""
    auths = config.get("auths")
    if auths is None:
        return None
    if not isinstance(auths, dict):
        return f"has an `auths` that is a JSON {_json_type(auths)}, not an object of registry URLs to credentials"
    for key, entry in auths.items():
        if entry is None:
            continue
        if not isinstance(entry, dict):
            return f'has an auths entry {key!r} that is a JSON {_json_type(entry)}, not an object like {{"auth": "..."}}'
        for field in ("auth", "username", "password"):
            if entry.get(field) is not None and not isinstance(entry[field], str):
                return f"has an auths entry {key!r} whose `{field}` is a JSON {_json_type(entry[field])}, not a string"
        if entry.get("auth") and _decode_auth(entry["auth"]) is None:
            return f"has an auths entry {key!r} whose `auth` is not base64 of UTF-8 username:password"
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "number", float: "number"}.get(type(value), "null")


def _decode_auth(auth: str) -> tuple[str, str] | None:
    """(username, password) from an ``auth`` value, decoded like BinderHub does, or None."""
    try:
        decoded = base64.b64decode(auth).decode("utf-8")
    except ValueError:  # binascii.Error (bad padding), non-ASCII input, or bytes that are not UTF-8
        return None
    if ":" not in decoded:
        return None  # BinderHub splits on the first ':' and fails without one
    username, _, password = decoded.partition(":")
    return username, password


def _auths(config: dict[str, Any]) -> dict[str, Any]:
    auths = config.get("auths")
    return auths if isinstance(auths, dict) else {}


def binderhub_auth_key(config: dict[str, Any], registry_url: str, auth_config_url: str = "") -> str | None:
    """The ``auths`` key BinderHub reads credentials from for ``registry_url``, or None
    (only ``auth_config_url`` when the settings set DockerRegistry.auth_config_url)."""
    auths = _auths(config)
    if auth_config_url:
        return auth_config_url if auth_config_url in auths else None
    if registry_url in auths:
        return registry_url
    hostname = urlparse(registry_url).hostname or ""
    if hostname in auths:
        return hostname
    if ("." + hostname).endswith((".docker.io", ".docker.com")) and DOCKER_HUB_AUTH_KEY in auths:
        return DOCKER_HUB_AUTH_KEY
    return None


def credentials_for(config: dict[str, Any], registry_url: str, auth_config_url: str = "") -> tuple[str, str] | None:
    """(username, password) that BinderHub would use for ``registry_url``, or None (also when
    that entry is malformed; ``problem`` says what is wrong with a config). BinderHub decodes
    only the entry's ``auth``: ``username``/``password`` fields, which docker reads, it ignores."""
    key = binderhub_auth_key(config, registry_url, auth_config_url)
    if key is None:
        return None
    entry = _auths(config)[key]
    auth = entry.get("auth") if isinstance(entry, dict) else None
    return _decode_auth(auth) if isinstance(auth, str) and auth else None


def entry_credentials(entry: Any) -> tuple[str, str] | None:
    """(username, password) of one ``auths`` entry, or None when it has none or is malformed."""
    if not isinstance(entry, dict):
        return None
    auth = entry.get("auth")
    if auth:
        return _decode_auth(auth) if isinstance(auth, str) else None
    username, password = entry.get("username"), entry.get("password") or ""
    if isinstance(username, str) and isinstance(password, str):
        return username, password
    return None


def all_credentials(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(auths key, username, password) of every well-formed entry, in the file's order."""
    found = ((key, entry_credentials(entry)) for key, entry in _auths(config).items())
    return [(key, *credentials) for key, credentials in found if credentials is not None]
