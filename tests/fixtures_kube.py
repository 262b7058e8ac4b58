"""pytest fixtures for the Kubernetes API stand-in (tests/stand_ins/kube_api.py).

Why this exists: no cluster can run on the test machines, so tests that exercise the hook's
Kubernetes writes point the official client at :class:`KubeApiServer` instead. Register with
``pytest_plugins = ["tests.fixtures_kube"]`` in tests/conftest.py (or ``-p tests.fixtures_kube``).

The server starts in about a millisecond, so ``kube_api`` is function-scoped: every test gets empty
storage, a fresh admin token and an empty audit log.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stand_ins.kube_api import KubeApiServer


@pytest.fixture
def kube_api() -> Iterator[KubeApiServer]:
    """A running stand-in API server: ``.url``, ``.admin_token``, ``.write_kubeconfig(path, token, namespace)``,
    ``.token_for_service_account(ns, name)``, ``.put/.get/.list/.delete``, ``.audit``, ``.deployment_history``.

    Fails the test if the stand-in itself hit an internal error (a 500 it answered)."""
    with KubeApiServer() as server:
        yield server
        assert not server.internal_errors, f"kube API stand-in errors: {server.internal_errors}"
