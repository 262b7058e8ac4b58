"""Keyless Google (registry.google.credential workload-identity) through the README's commands on
the real cluster: the hook sets up the builder and the Workload Identity binding; the registry
helper's Deployment becomes Ready and gets builder tokens from the node's GKE metadata server
only because of that binding (the metadata server knows the helper's pods by their address, as
GKE's does); `helm test` asks the helper through its Service, as BinderHub does, and pushes;
uninstall removes the bindings and the helper. No service-account key exists at any point."""

from __future__ import annotations

from typing import Any

import pytest
from binderhub_registry.providers.google import workload_identity as wi

from tests.fixtures_google import BUILDER, PROJECT
from tests.helpers import write_values
from tests.lifecycle.helm_release import HelmRelease

pytestmark = pytest.mark.cluster

RELEASE = "binderhub"
HELPER = "binderhub-registry-helper"  # <release>-registry-helper


def no_key_ever(cloud) -> bool:
    record = cloud.state.service_accounts.get(BUILDER)
    return cloud.state.calls_of("CreateServiceAccountKey") == [] and (record is None or record.user_keys() == [])


@pytest.fixture
def keyless_release(helm_release, keyless_chart_values, tmp_path):
    """Factory: ``keyless_release(**values)`` -> (HelmRelease, values file): our chart beside
    BinderHub (companion), keyless, its pods pointed at the node's metadata server."""
    def make(**values: Any) -> tuple[HelmRelease, Any]:
        release = helm_release(RELEASE, binderhub={"enabled": False})
        chart_values = keyless_chart_values(release.namespace)
        for key, value in values.items():
            chart_values[key] = {**chart_values.get(key, {}), **value}
        return release, write_values(tmp_path / "values.yaml", chart_values)
    return make


def helper_token(release: HelmRelease) -> str:
    secret = release.get("secret", f"{HELPER}-token")
    assert secret is not None, "no helper token Secret"
    token: str = secret["data"]["token"]
    return token


def helper_ready(release: HelmRelease) -> bool:
    deployment = release.get("deployment", HELPER)
    assert deployment is not None, "no registry helper Deployment"
    return deployment["status"].get("readyReplicas", 0) == deployment["spec"]["replicas"]


def test_install_test_upgrade_uninstall_without_a_key(keyless_release, node_google_cloud, node_metadata):
    release, values = keyless_release()
    release.install([values, ], "--wait")
    member = wi.helper_member(PROJECT, f"{release.namespace}/{HELPER}")
    assert member in node_google_cloud.state.service_accounts[BUILDER].bindings[wi.WORKLOAD_IDENTITY_USER]
    assert helper_ready(release)
    assert release.get("networkpolicy", HELPER) is not None  # accepted by the API server (not enforced: no policy CNI)
    assert no_key_ever(node_google_cloud)

    release.test()
    assert "with the registry helper's short-lived credentials" in release.test_log()
    # annotated ServiceAccount: GKE's metadata server hands the helper the builder's token
    assert node_metadata.token_requests(release.namespace, HELPER, BUILDER) >= 1

    token = helper_token(release)
    release.upgrade([values], "--wait")
    assert helper_ready(release)
    assert helper_token(release) == token  # BinderHub's mounted token stays valid across upgrades (the chart looks it up)
    release.test()
    assert "with the registry helper's short-lived credentials" in release.test_log()
    logs = release.cluster.kubectl("logs", f"deployment/{HELPER}", "--all-containers", namespace=release.namespace).stdout
    assert '"token"' not in logs and "ya29." not in logs
    assert no_key_ever(node_google_cloud)

    release.uninstall()
    assert node_google_cloud.state.service_accounts[BUILDER].bindings == {}
    assert release.get("deployment", HELPER) is None and release.get("service", HELPER) is None
    assert no_key_ever(node_google_cloud)


def test_without_the_annotation_the_helper_mints_from_its_federated_identity(keyless_release, node_google_cloud, node_metadata):
    release, values = keyless_release(registryHelper={"serviceAccount": {"annotateBuilder": False}})
    release.install([values], "--wait")
    release.test()
    assert "with the registry helper's short-lived credentials" in release.test_log()
    # the helper's pods asked the metadata server as their own (federated) identity...
    assert node_metadata.token_requests(release.namespace, HELPER) >= 1
    assert node_metadata.token_requests(release.namespace, HELPER, BUILDER) == 0
    # ...and minted the builder's token themselves, through IAM Credentials, as their Workload Identity member
    member = wi.helper_member(PROJECT, f"{release.namespace}/{HELPER}")
    minted = [c for c in node_google_cloud.state.calls_of("GenerateAccessToken") if c.caller == member]
    assert minted and all(c.code == "OK" for c in minted)
    assert no_key_ever(node_google_cloud)
