"""pytest fixtures for the stand-in Docker Hub (tests/stand_ins/dockerhub.py).

Why this exists: the hook's dockerhub path must be proven against a token service that grants
like Docker Hub's (several secrets per Docker ID, organisations, read-only tokens) and a registry
that answers 401 for missing repositories, in front of the real distribution registry. Register
with ``pytest_plugins = ["tests.fixtures_dockerhub"]`` in tests/conftest.py (or
``-p tests.fixtures_dockerhub``).

Function-scoped (distribution starts in ~25-50 ms), so each test owns its accounts and knobs:

* ``dockerhub``          -> a running, empty :class:`DockerHub`; add accounts, tokens and
  organisations with ``dockerhub.add_account`` / ``add_token`` / ``add_organisation``.
* ``dockerhub_values``   -> builds the values a user writes for registry.type=dockerhub, with
  ``registryUrl``/``authUrl`` pointing at the stand-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.stand_ins.dockerhub import DockerHub

DockerHubValues = Callable[..., dict[str, Any]]


@pytest.fixture
def dockerhub() -> Iterator[DockerHub]:
    """Docker Hub stand-in: ``registry_url`` (the 401-for-missing proxy in front of
    distribution) and ``auth_url`` (the token service, service ``registry.docker.io``)."""
    with DockerHub() as hub:
        yield hub


@pytest.fixture
def dockerhub_values(dockerhub: DockerHub) -> DockerHubValues:
    """``dockerhub_values(username, password, namespace="", prefix=None, **extra)`` -> values
    for registry.type=dockerhub aimed at the stand-in."""

    def make(username: str, password: str, namespace: str = "", prefix: str | None = None,
             **extra: Any) -> dict[str, Any]:
        registry: dict[str, Any] = {
            "type": "dockerhub",
            "dockerhub": {"username": username, "password": password, "namespace": namespace,
                          "registryUrl": dockerhub.registry_url, "authUrl": dockerhub.auth_url, **extra},
        }
        if prefix is not None:
            registry["prefix"] = prefix
        return {"registry": registry}

    return make
