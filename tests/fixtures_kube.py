"""pytest fixtures for the Kubernetes API stand-in (tests/stand_ins/kube_api.py).

Why this exists: no cluster can run on the test machines, so tests that exercise the hook's
Kubernetes writes point the official client at :class:`KubeApiServer` instead. Register with
``pytest_plugins = ["tests.fixtures_kube"]`` in tests/conftest.py (or ``-p tests.fixtures_kube``).

The server starts in about a millisecond, so ``kube_api`` is function-scoped: every test gets empty
storage, a fresh admin token and an empty audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stand_ins.kube_api import KubeApiServer


@pytest.fixture
def kube_api() -> Iterator[KubeApiServer]:
    """A running stand-in API server: ``.url``, ``.admin_token``, ``.write_kubeconfig(path, token, namespace)``,
    ``.token_for_service_account(ns, name)``, ``.put/.get/.list/.delete``, ``.audit``, ``.deployment_history``.

    Fails the test if the stand-in itself hit an internal error (a 500 it answered)."""
    yield from _serve(KubeApiServer())


@pytest.fixture
def kube_api_tls(tmp_path: Path) -> Iterator[KubeApiServer]:
    """``kube_api`` over https with a self-signed certificate its kubeconfig trusts: for Go clients
    (Helm, kubectl), which send a kubeconfig's token only over TLS."""
    server = KubeApiServer()
    server.serve_tls(tmp_path)
    yield from _serve(server)


def _serve(server: KubeApiServer) -> Iterator[KubeApiServer]:
    with server:
        yield server
        assert not server.internal_errors, f"kube API stand-in errors: {server.internal_errors}"
