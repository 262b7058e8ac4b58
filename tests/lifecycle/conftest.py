"""Fixtures for lifecycle tests: ``helm_release``, a release of the chart (with its BinderHub
dependency built) that the real Helm 3 or 4 installs on the real test cluster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures_chart import built_chart


@pytest.fixture(params=["3", "4"], ids=["helm3", "helm4"])
def helm_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def helm_release(cluster, cluster_hook_image, cluster_namespace, helm_binaries, helm_version, tmp_path):
    """Factory: ``helm_release(name="binderhub", **base_values)`` -> a HelmRelease of the built
    chart in a fresh PodSecurity-restricted namespace of the real cluster, run by the real Helm
    3 or 4, with the hook image loaded on the node; uninstalled after the test if still there."""
    from tests.lifecycle.helm_release import HelmRelease

    repository, tag = cluster_hook_image
    made: list[HelmRelease] = []

    def make(name: str = "binderhub", **base_values: Any) -> HelmRelease:
        values = {"image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
                  "hook": {"extraEnv": [{"name": "BINDERHUB_REGISTRY_RETRY_SECONDS", "value": "0.05"}]}}
        for key, value in base_values.items():
            values[key] = {**values.get(key, {}), **value} if isinstance(value, dict) else value
        release = HelmRelease(cluster, helm_binaries[helm_version], built_chart(), name, cluster_namespace,
                              tmp_path / f"helm-{name}", values)
        made.append(release)
        return release

    yield make
    for release in made:
        release.helm_command("uninstall", release.name, "-n", release.namespace, "--no-hooks", "--timeout", "2m")
