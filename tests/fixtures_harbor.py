"""pytest fixtures for the Harbor stand-in (tests/stand_ins/harbor.py).

* ``harbor``        -> a running Harbor with project ``binder`` and a Project Admin ``binder-admin``
  (``harbor.admin_password``); after the test, every request the hook sent and every answer the
  stand-in gave must have kept to Harbor's swagger.yaml (``harbor.violations`` empty).
* ``harbor_values`` -> values for registry.type=harbor aimed at it, with the admin Secret name.
* ``harbor_admin_secret`` -> the Secret object with the admin's username and password.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.stand_ins.harbor import Harbor

PROJECT = "binder"
ADMIN = "binder-admin"
ADMIN_SECRET = "harbor-admin"


@pytest.fixture
def harbor() -> Iterator[Harbor]:
    with Harbor() as server:
        server.add_project(PROJECT)
        server.admin_password = server.add_user(ADMIN, binder="admin")  # type: ignore[attr-defined]
        yield server
        assert server.violations == [], "requests or answers outside Harbor's published API"


def admin_secret(username: str, password: str, name: str = ADMIN_SECRET, namespace: str = "binder") -> dict[str, Any]:
    data = {key: base64.b64encode(value.encode()).decode() for key, value in (("username", username), ("password", password))}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace}, "type": "Opaque", "data": data}


def harbor_values(harbor: Harbor, project: str = PROJECT, **extra: Any) -> dict[str, Any]:
    return {"registry": {"type": "harbor", "harbor": {"url": harbor.url, "project": project, "adminSecret": ADMIN_SECRET, **extra}}}
