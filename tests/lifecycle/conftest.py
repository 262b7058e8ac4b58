"""Fixtures for lifecycle tests: a `make_release` factory playing Helm with the real Helm 3 or 4
rendering against the stand-in Kubernetes API, of the chart with its BinderHub dependency built."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures_chart import built_chart
from tests.lifecycle.harness import Release

NAMESPACE = "binder"


@pytest.fixture(params=["3", "4"], ids=["helm3", "helm4"])
def helm_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_release(kube_api, helm_binaries, helm_version, tmp_path):
    made: list[Release] = []

    def make(name: str = "binderhub", **kwargs: Any) -> Release:
        env = {"BINDERHUB_REGISTRY_RETRY_SECONDS": "0.05", **kwargs.pop("env", {})}
        release = Release(kube_api, helm_binaries[helm_version], built_chart(), name, NAMESPACE, tmp_path / "cluster", env=env, **kwargs)
        made.append(release)
        return release

    yield make
    for release in made:
        release.workloads.stop()
