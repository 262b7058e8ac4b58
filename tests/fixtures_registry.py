"""pytest fixtures for the real Helm/kubectl binaries and the registry stand-ins.

Why this exists: many test modules need a real registry (distribution 2.8.2) behind htpasswd,
token or TLS auth, a Docker-style token server, or the pinned Helm 3/4 binaries. This plugin
gives them those as fixtures, each cleaned up after use. Register it with
``pytest_plugins = ["tests.fixtures_registry"]`` in tests/conftest.py (or ``-p
tests.fixtures_registry``).

Every password is a long random string (:func:`random_password`) so tests can assert that no
secret ever reaches output. Registries start in ~25-50 ms, so they are function-scoped: each
test gets its own storage, users and token-server knobs.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stand_ins.registry import AuthMode, Registry
from tests.stand_ins.token_server import ALL_ACTIONS, TokenServer, UserTable

REPO_ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = REPO_ROOT / ".tools" / "bin"
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install_helm.py"

MakeTokenServer = Callable[..., TokenServer]
MakeRegistry = Callable[..., Registry]


def random_password() -> str:
    """A long random password that cannot appear in output by coincidence."""
    return "pw-" + secrets.token_urlsafe(32)


def default_token_users() -> UserTable:
    """``pusher``: pull, push, delete on every repository; ``puller``: pull only."""
    return {
        "pusher": {"password": random_password(), "grants": [("*", set(ALL_ACTIONS))]},
        "puller": {"password": random_password(), "grants": [("*", {"pull"})]},
    }


# -- Helm and kubectl ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def tools_dir() -> Path:
    """.tools/bin with helm3, helm4 and kubectl, installed (sha256-checked) if needed."""
    proc = subprocess.run([sys.executable, str(INSTALL_SCRIPT), "--dest", str(TOOLS_DIR)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"scripts/install_helm.py failed: {proc.stderr.strip()}", pytrace=False)
    return TOOLS_DIR


@pytest.fixture(scope="session")
def helm_binaries(tools_dir: Path) -> dict[str, Path]:
    """{"3": Path to Helm 3.19.0, "4": Path to Helm 4.1.4}."""
    return {"3": tools_dir / "helm3", "4": tools_dir / "helm4"}


@pytest.fixture(scope="session")
def kubectl_binary(tools_dir: Path) -> Path:
    """Path to kubectl 1.35.2."""
    return tools_dir / "kubectl"


# -- token server --------------------------------------------------------------------------

@pytest.fixture
def make_token_server() -> Iterator[MakeTokenServer]:
    """Factory: ``make_token_server(users=None, **TokenServer kwargs)`` -> a running
    TokenServer (default users: :func:`default_token_users`), stopped after the test."""
    started: list[TokenServer] = []

    def make(users: UserTable | None = None, **kwargs: Any) -> TokenServer:
        server = TokenServer(default_token_users() if users is None else users, **kwargs)
        started.append(server.start())
        return server

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def token_server(make_token_server: MakeTokenServer) -> TokenServer:
    """A running token server with users ``pusher`` (pull, push, delete on ``*``) and
    ``puller`` (pull on ``*``)."""
    return make_token_server()


# -- registries ----------------------------------------------------------------------------

@pytest.fixture
def make_registry(make_token_server: MakeTokenServer) -> Iterator[MakeRegistry]:
    """Factory: ``make_registry(auth="none"|"htpasswd"|"token", users=None, tls=False,
    token_server=None, **Registry kwargs)`` -> a running Registry, stopped after the test.

    ``users`` is username -> password for htpasswd (default: ``alice`` with a random password)
    and a token-server user table for token mode (default: :func:`default_token_users`); in
    token mode a token server is started unless one is passed (then ``users`` must be None).
    """
    started: list[Registry] = []

    def make(auth: AuthMode = "none", users: Any = None, tls: bool = False,
             token_server: TokenServer | None = None, **kwargs: Any) -> Registry:
        if auth == "token":
            if token_server is None:
                token_server = make_token_server(users)
            elif users is not None:
                raise ValueError("pass users to the token server, not to make_registry")
            registry = Registry("token", token_server=token_server, tls=tls, **kwargs)
        elif auth == "htpasswd":
            users = {"alice": random_password()} if users is None else users
            registry = Registry("htpasswd", users=users, tls=tls, **kwargs)
        else:
            registry = Registry(auth, tls=tls, **kwargs)
        started.append(registry.start())
        return registry

    yield make
    for registry in reversed(started):
        registry.stop()


@pytest.fixture
def token_registry(token_server: TokenServer, make_registry: MakeRegistry) -> Registry:
    """distribution in token mode behind ``token_server`` (also ``registry.token_server``)."""
    return make_registry("token", token_server=token_server)


@pytest.fixture
def htpasswd_registry(make_registry: MakeRegistry) -> Registry:
    """distribution with HTTP Basic auth, user ``alice`` (``registry.password("alice")``)."""
    return make_registry("htpasswd", users={"alice": random_password()})


@pytest.fixture
def tls_registry(make_registry: MakeRegistry) -> Registry:
    """Like ``htpasswd_registry`` over https with a self-signed certificate
    (``registry.ca_cert_path`` trusts it)."""
    return make_registry("htpasswd", users={"alice": random_password()}, tls=True)


@pytest.fixture
def open_registry(make_registry: MakeRegistry) -> Registry:
    """distribution over plain http with no auth at all."""
    return make_registry("none")


# -- a registry with per-account actions on Basic auth (Nexus, Artifactory, deploy tokens) -----

MakeBasicAuthRegistry = Callable[..., Any]


@pytest.fixture
def make_basic_auth_registry(make_registry: MakeRegistry) -> Iterator[MakeBasicAuthRegistry]:
    """Factory: ``make_basic_auth_registry(accounts, denied_status=403, echo_authorization=False,
    upstream=None)`` -> a running :class:`BasicAuthRegistryProxy` in front of a fresh open
    distribution (or ``upstream``, a Registry); ``accounts`` is username -> (password, grants),
    or None for a recording pass-through."""
    from tests.stand_ins.basic_auth_proxy import BasicAuthRegistryProxy  # noqa: PLC0415

    started: list[BasicAuthRegistryProxy] = []

    def make(accounts: Any, upstream: Registry | None = None, **kwargs: Any) -> BasicAuthRegistryProxy:
        registry = upstream if upstream is not None else make_registry("none")
        proxy = BasicAuthRegistryProxy(registry.url, accounts, **kwargs)
        started.append(proxy.start())
        return proxy

    yield make
    for proxy in reversed(started):
        proxy.stop()
