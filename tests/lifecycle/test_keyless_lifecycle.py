"""Keyless Google through the whole Helm lifecycle (registry.google.credential workload-identity),
in one release with BinderHub: install sets up the builder and the Workload Identity binding and
starts the registry helper; the helper's pod gets builder tokens from its (GKE) metadata server
only because of the hook's binding; `helm test` asks the helper as BinderHub does and pushes;
BinderHub's binder pod, configured at start by its own chart's code from registry.json and the
helper's token, launches, pushes and finds images; upgrade keeps all of it; uninstall removes the
bindings. No service-account key exists at any point."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from binderhub_registry.providers.google import workload_identity as wi

from tests.binder_pod import BinderPod
from tests.fixtures_google import AR_HOST, BUILDER, PROJECT
from tests.fixtures_workload_identity import keyless_values
from tests.helpers import write_values
from tests.lifecycle.test_google_lifecycle import admin_key_secret
from tests.stand_ins.build_pod import build_and_relaunch
from tests.stand_ins.google_workload_identity import GkeMetadataServer, PodIdentity

NS = "binder"
HELPER = "binderhub-registry-helper"


@pytest.fixture
def metadata_per_identity(google_cloud) -> Iterator[Any]:
    """What GKE gives every pod: a metadata server answering for its ServiceAccount."""
    servers: dict[tuple[str, str], GkeMetadataServer] = {}

    def pod_env(spec: dict[str, Any], account: dict[str, Any]) -> dict[str, str]:
        annotation = (account["metadata"].get("annotations") or {}).get("iam.gke.io/gcp-service-account", "")
        key = (account["metadata"]["name"], annotation)
        if key not in servers:
            servers[key] = GkeMetadataServer(google_cloud.state, PodIdentity(PROJECT, NS, key[0], annotation)).start()
        return {"GCE_METADATA_HOST": servers[key].host}

    pod_env.servers = servers  # type: ignore[attr-defined]
    yield pod_env
    for server in servers.values():
        server.stop()


def no_key_ever(google_cloud) -> bool:
    record = google_cloud.state.service_accounts.get(BUILDER)
    return google_cloud.state.calls_of("CreateServiceAccountKey") == [] and (record is None or record.user_keys() == [])


def launch_as_binderhub(release, kube_api, slug: str) -> None:
    """The binder pod of this release (BinderHub's own chart), configured at start by its own
    binderhub_config.py from the volumes in the cluster, launches, builds and finds an image."""
    resources = {"Secret": "secrets", "ConfigMap": "configmaps"}
    pod = BinderPod.start(kube_api.get("deployments", NS, "binder"), lambda kind, name: kube_api.get(resources[kind], NS, name))
    spec = f"{pod.config['BinderHub']['image_prefix']}{slug}:v1"
    with pod.registry_client(route=release.workloads.route) as binderhub:
        build_and_relaunch(binderhub, spec)


def test_install_test_launch_upgrade_uninstall_without_a_key(make_release, kube_api, google_cloud, google_admin, google_registry,
                                                           iam_credentials, metadata_per_identity, tmp_path):
    admin_key_secret(kube_api, google_admin)
    registry = google_registry(AR_HOST)
    values = keyless_values(google_cloud, registry, iam_credentials, adminKeySecret="google-admin")
    del values["registryHelper"]  # the chart sets the helper's name and namespace
    values_file = write_values(tmp_path / "values.yaml", values)
    release = make_release(pod_env=metadata_per_identity)

    release.install([values_file])
    member = wi.helper_member(PROJECT, f"{NS}/{HELPER}")
    assert member in google_cloud.state.service_accounts[BUILDER].bindings[wi.WORKLOAD_IDENTITY_USER]
    assert no_key_ever(google_cloud)
    (test_run,) = release.test()
    assert "with the registry helper's short-lived credentials" in test_run.runs[-1].logs
    assert metadata_per_identity.servers[(HELPER, BUILDER)].token_requests >= 1  # annotated: GKE hands out the builder's token
    launch_as_binderhub(release, kube_api, "binder-first")

    release.upgrade([values_file])
    (test_run,) = release.test()
    assert test_run.runs[-1].exit_code == 0
    launch_as_binderhub(release, kube_api, "binder-after-upgrade")
    assert no_key_ever(google_cloud)
    assert '"token"' not in release.workloads.logs(HELPER) and "ya29." not in release.workloads.logs(HELPER)

    release.uninstall()
    assert google_cloud.state.service_accounts[BUILDER].bindings == {}
    assert kube_api.get("deployments", NS, HELPER) is None and kube_api.get("services", NS, HELPER) is None
    assert no_key_ever(google_cloud)


def test_without_the_annotation_the_helper_mints_from_its_federated_identity(make_release, kube_api, google_cloud, google_admin,
                                                                              google_registry, iam_credentials, metadata_per_identity,
                                                                              tmp_path):
    admin_key_secret(kube_api, google_admin)
    registry = google_registry(AR_HOST)
    values = keyless_values(google_cloud, registry, iam_credentials, adminKeySecret="google-admin")
    values["registryHelper"] = {"serviceAccount": {"annotateBuilder": False}}
    release = make_release(pod_env=metadata_per_identity)
    release.install([write_values(tmp_path / "values.yaml", values)])
    (test_run,) = release.test()
    assert test_run.runs[-1].exit_code == 0
    # the helper's pod asked its metadata server as its own (federated) identity...
    assert metadata_per_identity.servers[(HELPER, "")].token_requests >= 1
    assert (HELPER, BUILDER) not in metadata_per_identity.servers
    # ...and minted the builder's token itself, through IAM Credentials, as its Workload Identity member
    member = wi.helper_member(PROJECT, f"{NS}/{HELPER}")
    minted = [c for c in google_cloud.state.calls_of("GenerateAccessToken") if c.caller == member]
    assert minted and all(c.code == "OK" for c in minted)
    assert no_key_ever(google_cloud)
