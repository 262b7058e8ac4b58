"""Google (gcr.io and Artifact Registry) through the whole Helm lifecycle, and key rotation on
`helm upgrade`: install creates the builder account and a key, every upgrade rotates without
downtime (the previous key stays valid until the next rotation; at most two keys by this tool),
BinderHub's Deployment is rolled after each switch, uninstall revokes every key it made."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from binderhub_registry.state import DEPLOYMENT_FINGERPRINT, PREFIX
from google.auth.transport.requests import Request

from tests.fixtures_google import AR_HOST, BUILDER, google_values
from tests.helpers import binder_deployment, secret_key_file, write_values
from tests.stand_ins.google_cloud import credentials_from

NS = "binder"


def admin_key_secret(kube_api, admin) -> None:
    """The admin key as the user provides it: a Secret named in registry.google.adminKeySecret."""
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "google-admin", "namespace": NS},
                  "data": {"key.json": base64.b64encode(json.dumps(admin.key_info).encode()).decode()}})


def builder_keys(google_cloud) -> set[str]:
    record = google_cloud.state.service_accounts.get(BUILDER)
    return {key.key_id for key in record.user_keys()} if record else set()


def secret_key(kube_api) -> dict[str, Any]:
    return secret_key_file(kube_api.get("secrets", NS, "binderhub-registry"))


def annotations(kube_api) -> dict[str, str]:
    secret = kube_api.get("secrets", NS, "binderhub-registry")
    return {k.removeprefix(PREFIX): v for k, v in secret["metadata"]["annotations"].items() if k.startswith(PREFIX)}


def key_still_works(key_info: dict[str, Any]) -> bool:
    credentials = credentials_from(key_info)
    try:
        credentials.refresh(Request())
    except Exception:  # noqa: BLE001  (a revoked key fails to refresh; that is the answer)
        return False
    return True


@pytest.fixture
def google_release(make_release, kube_api, google_cloud, google_admin, google_registry, tmp_path):
    admin_key_secret(kube_api, google_admin)
    kube_api.put(binder_deployment(NS))

    def make(registry_type: str = "artifact-registry", **values: Any):
        registry = google_registry("gcr.io" if registry_type == "gcr" else AR_HOST)
        chart_values = google_values(google_cloud, registry, registry_type, adminKeySecret="google-admin")
        chart_values.update({"binderhub": {"enabled": False}}, **values)  # companion of the existing BinderHub above
        return make_release(), write_values(tmp_path / "values.yaml", chart_values)
    return make


@pytest.mark.parametrize("registry_type", ["artifact-registry", "gcr"])
def test_install_test_and_uninstall(google_release, kube_api, google_cloud, registry_type):
    release, values = google_release(registry_type)
    release.install([values])
    (key_id,) = builder_keys(google_cloud)
    assert secret_key(kube_api)["private_key_id"] == key_id
    (test_run,) = release.test()
    assert "BinderHub can push to" in test_run.runs[-1].logs

    release.uninstall()
    assert builder_keys(google_cloud) == set()
    assert kube_api.get("secrets", NS, "binderhub-registry") is None
    assert google_cloud.state.service_accounts.get(BUILDER) is not None  # the account and the images stay


def test_every_upgrade_rotates_without_downtime_and_rolls_binderhub(google_release, kube_api, google_cloud):
    release, values = google_release()
    release.install([values])
    first = secret_key(kube_api)
    restarts = len(kube_api.deployment_history(NS, "binder"))
    assert restarts == 2  # created, then rolled once for the new credential

    seen = [first]
    for upgrade in range(3):
        release.upgrade([values])
        current, previous = secret_key(kube_api), seen[-1]
        state = annotations(kube_api)
        assert current["private_key_id"] != previous["private_key_id"]
        assert state["credential-id"] == current["private_key_id"]
        assert state["previous-credential-id"] == previous["private_key_id"]
        assert builder_keys(google_cloud) == {current["private_key_id"], previous["private_key_id"]}
        assert key_still_works(previous)  # pods that read the old config keep pushing until the next rotation
        if len(seen) >= 2:
            assert not key_still_works(seen[-2])  # the one before was revoked
        history = kube_api.deployment_history(NS, "binder")
        assert len(history) == restarts + upgrade + 1
        assert history[-1][DEPLOYMENT_FINGERPRINT] == state["fingerprint"]
        seen.append(current)

    release.uninstall()
    assert builder_keys(google_cloud) == set()


def test_interval_policy_rotates_nothing_on_repeated_syncs(google_release, kube_api, google_cloud):
    """Argo CD runs pre-upgrade hooks on every sync: with an interval, syncs converge."""
    release, values = google_release(rotation={"policy": "interval", "interval": "720h"})
    release.install([values])
    writes = len(google_cloud.state.writes())
    restarts = len(kube_api.deployment_history(NS, "binder"))
    key = secret_key(kube_api)["private_key_id"]
    for _ in range(3):
        release.upgrade([values])
    assert len(google_cloud.state.writes()) == writes  # an idempotent run makes zero writes to Google
    assert secret_key(kube_api)["private_key_id"] == key
    assert len(kube_api.deployment_history(NS, "binder")) == restarts


def test_trigger_forces_exactly_one_rotation(google_release, kube_api, google_cloud, tmp_path):
    release, values = google_release(rotation={"policy": "never"})
    release.install([values])
    key = secret_key(kube_api)["private_key_id"]
    release.upgrade([values])
    assert secret_key(kube_api)["private_key_id"] == key
    forced = write_values(tmp_path / "force.yaml", {"rotation": {"trigger": "2026-11-26"}})
    release.upgrade([values, forced])
    rotated = secret_key(kube_api)["private_key_id"]
    assert rotated != key
    release.upgrade([values, forced])
    assert secret_key(kube_api)["private_key_id"] == rotated
