"""A hook killed at any step leaves a Secret that still works, and the next run converges
without leaking keys beyond the bound (two keys created by this tool). The process is killed
for real (exit 137) at named steps through BINDERHUB_REGISTRY_CRASH_AT, against the stand-in
API and Google, then run again like the Job's retry or the next upgrade would."""

from __future__ import annotations

import base64
import json

import pytest

from tests.fixtures_google import AR_HOST, BUILDER, google_values
from tests.helpers import run_cli, write_values

NS = "binder"


@pytest.fixture
def hook(kube_api, google_cloud, google_adc, google_registry, tmp_path):
    """Runs provision (or check) in the cluster namespace with the admin's kubeconfig."""
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS)
    registry = google_registry(AR_HOST)
    kube_api.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "binder", "namespace": NS},
                  "spec": {"selector": {"matchLabels": {"app": "binder"}}, "template": {"metadata": {"labels": {"app": "binder"}},
                           "spec": {"containers": [{"name": "binder", "image": "binder"}]}}}})

    def run(revision: int, crash_at: str = "", command: str = "provision"):
        values = google_values(google_cloud, registry)
        values["rotation"] = {"revision": str(revision)}
        path = write_values(tmp_path / f"values-{revision}.yaml", values)
        env = {"KUBECONFIG": str(kubeconfig), "BINDERHUB_REGISTRY_CRASH_AT": crash_at}
        return run_cli(command, "--values", str(path), env=env)
    return run


def keys(google_cloud) -> set[str]:
    return {key.key_id for key in google_cloud.state.service_accounts[BUILDER].user_keys()}


def secret_key_id(kube_api) -> str | None:
    secret = kube_api.get("secrets", NS, "binderhub-registry")
    if secret is None:
        return None
    (entry,) = json.loads(base64.b64decode(secret["data"]["config.json"]))["auths"].values()
    return json.loads(base64.b64decode(entry["auth"]).decode().partition(":")[2])["private_key_id"]


def test_crash_right_after_the_first_key_is_created_leaks_nothing(hook, kube_api, google_cloud):
    crashed = hook(1, crash_at="after-key-creation")
    assert crashed.code == 137
    assert len(keys(google_cloud)) == 1 and secret_key_id(kube_api) is None

    converged = hook(1)
    assert converged.code == 0, converged.stderr
    assert "a key an interrupted run created and never used" in converged.stderr
    assert keys(google_cloud) == {secret_key_id(kube_api)}


@pytest.mark.parametrize("crash_at", ["after-revoking-previous", "after-key-creation", "after-secret-written"])
def test_crash_during_rotation_keeps_a_working_secret_and_converges(hook, kube_api, google_cloud, crash_at):
    assert hook(1).code == 0
    assert hook(2).code == 0  # two keys now: current and previous
    assert len(keys(google_cloud)) == 2

    crashed = hook(3, crash_at=crash_at)
    assert crashed.code == 137
    assert len(keys(google_cloud)) <= 2
    still_works = hook(3, command="check")
    assert still_works.code == 0, still_works.stderr

    converged = hook(3)
    assert converged.code == 0, converged.stderr
    current = secret_key_id(kube_api)
    annotations = kube_api.get("secrets", NS, "binderhub-registry")["metadata"]["annotations"]
    assert keys(google_cloud) == {current, annotations["binderhub-registry.jupyter.org/previous-credential-id"]}
    assert annotations["binderhub-registry.jupyter.org/rotation-revision"] == "3"
    assert kube_api.deployment_history(NS, "binder")[-1]["binderhub-registry.jupyter.org/credential-fingerprint"] == \
        annotations["binderhub-registry.jupyter.org/fingerprint"]

    assert hook(4).code == 0
    assert len(keys(google_cloud)) == 2


def test_rerunning_the_same_revision_rotates_nothing(hook, kube_api, google_cloud):
    """A Job retry re-runs the same revision: it converges instead of rotating twice."""
    assert hook(1).code == 0
    assert hook(2).code == 0
    writes = len(google_cloud.state.writes())
    key = secret_key_id(kube_api)
    again = hook(2)
    assert again.code == 0
    assert "already rotated for release revision 2" in again.stderr
    assert secret_key_id(kube_api) == key
    assert len(google_cloud.state.writes()) == writes


def test_a_key_deleted_out_of_band_is_replaced_and_its_predecessor_revoked(hook, kube_api, google_cloud):
    assert hook(1).code == 0
    assert hook(2).code == 0
    previous = kube_api.get("secrets", NS, "binderhub-registry")["metadata"]["annotations"]["binderhub-registry.jupyter.org/previous-credential-id"]
    current = secret_key_id(kube_api)
    del google_cloud.state.service_accounts[BUILDER].keys[current]  # someone deleted it in the console

    broken = hook(2, command="check")
    assert broken.code == 1  # helm test would say so

    repaired = hook(2)
    assert repaired.code == 0, repaired.stderr
    assert "no longer exists" in repaired.stderr
    assert keys(google_cloud) == {secret_key_id(kube_api)}
    assert previous not in keys(google_cloud)
