"""Docker config.json: write one, and find credentials in one the way BinderHub does.

BinderHub's ``DockerRegistry`` looks up ``auths[url]``, then ``auths[hostname]`` (hostname
without port), then Docker Hub's ``https://index.docker.io/v1/`` for ``*.docker.io`` hosts. A
``host:port`` key is therefore never found, and BinderHub silently runs without credentials; the
keys written here are always the registry URL with its scheme, or Docker Hub's index URL.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import urlparse

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"


def build(auth_key: str, username: str, password: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"auths": {auth_key: {"auth": auth}}}


def dumps(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def fingerprint(config_json: str) -> str:
    """A short, non-reversible fingerprint of a docker config, for annotations and logs."""
    return "sha256:" + hashlib.sha256(config_json.encode()).hexdigest()[:16]


def binderhub_auth_key(config: dict[str, Any], registry_url: str, auth_config_url: str = "") -> str | None:
    """The ``auths`` key BinderHub reads credentials from for ``registry_url``, or None
    (only ``auth_config_url`` when the settings set DockerRegistry.auth_config_url)."""
    auths = config.get("auths") or {}
    if auth_config_url:
        return auth_config_url if auth_config_url in auths else None
    if registry_url in auths:
        return registry_url
    hostname = urlparse(registry_url).hostname or ""
    if hostname in auths:
        return hostname
    if (hostname.endswith(".docker.io") or hostname.endswith(".docker.com")) and DOCKER_HUB_AUTH_KEY in auths:
        return DOCKER_HUB_AUTH_KEY
    return None


def credentials_for(config: dict[str, Any], registry_url: str, auth_config_url: str = "") -> tuple[str, str] | None:
    """(username, password) that BinderHub would use for ``registry_url``, or None."""
    key = binderhub_auth_key(config, registry_url, auth_config_url)
    if key is None:
        return None
    entry = config["auths"][key] or {}
    if entry.get("auth"):
        decoded = base64.b64decode(entry["auth"]).decode()
        username, _, password = decoded.partition(":")
        return username, password
    if entry.get("username") is not None:
        return entry["username"], entry.get("password", "")
    return None
