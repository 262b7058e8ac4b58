"""`check` exists to say what BinderHub will do: it must find credentials in a docker config
exactly where BinderHub's ``DockerRegistry`` finds them, and nowhere else. Each of BinderHub's
lookup rules (``binderhub/registry.py``) is one case here, compared with BinderHub's own
``DockerRegistry`` (from its wheel, tests/binderhub_client.py) and with the expected answer, so a
rule that differs fails."""

from __future__ import annotations

import base64
import json

import pytest
from binderhub_registry import dockerconfig

from tests.binderhub_client import BinderHubRegistry

HUB = "https://index.docker.io/v1/"
URL = "https://registry.example.org:5443"


def auth(username: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}


# (rule, registry url, DockerRegistry.auth_config_url or "", auths, expected (user, password) or None)
CASES = [
    ("the url itself is the key", URL, "", {URL: auth("u", "p")}, ("u", "p")),
    ("else the bare hostname, without port", URL, "", {"registry.example.org": auth("h", "p")}, ("h", "p")),
    ("the url wins over the hostname", URL, "", {"registry.example.org": auth("h", "p"), URL: auth("u", "p")}, ("u", "p")),
    ("host:port is never found", URL, "", {"registry.example.org:5443": auth("u", "p")}, None),
    ("the url without its scheme is never found", URL, "", {"//registry.example.org:5443": auth("u", "p")}, None),
    ("a trailing slash is another key", URL, "", {URL + "/": auth("u", "p")}, None),
    ("hostnames are compared lower-case", "https://Registry.Example.org", "", {"registry.example.org": auth("h", "p")},
     ("h", "p")),
    ("*.docker.io falls back to Docker Hub's index key", "https://registry-1.docker.io", "", {HUB: auth("d", "p")}, ("d", "p")),
    ("docker.io itself falls back too", "https://docker.io", "", {HUB: auth("d", "p")}, ("d", "p")),
    ("*.docker.com falls back too", "https://registry.hub.docker.com", "", {HUB: auth("d", "p")}, ("d", "p")),
    ("other hosts never fall back to Docker Hub", URL, "", {HUB: auth("d", "p")}, None),
    ("a look-alike host does not fall back", "https://notdocker.io", "", {HUB: auth("d", "p")}, None),
    ("auth_config_url set and present: only it", URL, "https://creds.example.org", {URL: auth("u", "p"),
     "https://creds.example.org": auth("c", "p")}, ("c", "p")),
    ("auth_config_url set but absent: no fallback to the url", URL, "https://creds.example.org", {URL: auth("u", "p")}, None),
    ("auth_config_url set but absent: no fallback to the hostname", URL, "https://creds.example.org",
     {"registry.example.org": auth("h", "p")}, None),
    ("auth_config_url set but absent: no fallback to Docker Hub", "https://registry-1.docker.io", "https://other/",
     {HUB: auth("d", "p")}, None),
    ("only the auth field counts, not username/password", URL, "", {URL: {"username": "u", "password": "p"}}, None),
    ("an empty auth is no credentials", URL, "", {URL: {"auth": ""}}, None),
    ("split at the first colon", URL, "", {URL: auth("u", "p:a:s:s")}, ("u", "p:a:s:s")),
    ("an empty password is still found", URL, "", {URL: auth("u", "")}, ("u", "")),
    ("no auths at all", URL, "", {}, None),
]


def binderhub_credentials(url: str, auth_config_url: str, auths: dict) -> tuple[str, str] | None:
    config = {"DockerRegistry": {"url": url, "docker_config_path": "/etc/binderhub/registry/config.json",
                                 **({"auth_config_url": auth_config_url} if auth_config_url else {})}}
    files = {"/etc/binderhub/registry/config.json": json.dumps({"auths": auths}).encode()}
    binderhub = BinderHubRegistry(config, files)
    try:
        return (binderhub.username, binderhub.password) if binderhub.username or binderhub.password else None
    finally:
        binderhub.close()


@pytest.mark.parametrize(("url", "auth_config_url", "auths", "expected"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_credentials_are_found_exactly_where_binderhub_finds_them(url, auth_config_url, auths, expected):
    assert binderhub_credentials(url, auth_config_url, auths) == expected  # the rule, as BinderHub has it
    assert dockerconfig.credentials_for({"auths": auths}, url, auth_config_url) == expected


def test_an_auth_without_a_colon_crashes_binderhub_and_is_no_credentials_for_check():
    auths = {URL: {"auth": base64.b64encode(b"no-colon").decode()}}
    with pytest.raises(IndexError):  # BinderHub's password default: decoded.split(":", 1)[1]
        binderhub_credentials(URL, "", auths)
    assert dockerconfig.credentials_for({"auths": auths}, URL) is None
    assert "not base64 of UTF-8 username:password" in (dockerconfig.problem({"auths": auths}) or "")


@pytest.mark.parametrize("field", ["auth", "username", "password"])
def test_an_entry_field_that_is_not_a_string_is_reported(field):
    """Docker refuses the whole config.json when any of these is not a string."""
    problem = dockerconfig.problem({"auths": {"https://r.example.org": {field: 5}}})
    assert problem is not None and f"`{field}` is a JSON number" in problem
