"""Google (Artifact Registry and gcr.io, key mode) through the README's commands on the real
cluster: the hook runs in a pod of our image and reaches the Google stand-ins (OAuth, IAM, Artifact
Registry) and the real registry behind Google's token decision on the node's address. Install
creates the builder account and a key; every upgrade rotates without downtime (the previous key
stays valid until the next rotation) and rolls BinderHub's Deployment (a new ReplicaSet); an
interval policy converges; uninstall revokes every key it made."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from google.auth.transport.requests import Request

from tests.fixtures_cluster import binder_deployment
from tests.fixtures_cluster_google import StandInTls, google_admin_secret, trusting_the_stand_ins
from tests.fixtures_google import AR_HOST, BUILDER, google_values
from tests.helpers import secret_key_file, write_values
from tests.lifecycle.helm_release import HelmRelease
from tests.stand_ins.google_cloud import GoogleCloud, credentials_from

pytestmark = pytest.mark.cluster

SECRET = "binderhub-registry"


@pytest.fixture
def google_release(helm_release, cluster, node_google_cloud, node_google_registry, stand_in_tls, tmp_path):
    """Factory: ``google_release(registry_type, **google_values)`` -> (HelmRelease, values file),
    a companion release beside a ``binder`` Deployment, the admin key in a Secret as the README says."""
    def make(registry_type: str = "artifact-registry", **values: Any) -> tuple[HelmRelease, Any]:
        release = helm_release("binderhub-registry", binderhub={"enabled": False})
        admin = google_admin_secret(cluster, release.namespace, node_google_cloud)
        cluster.apply([binder_deployment(release.namespace)], namespace=release.namespace)
        registry = node_google_registry("gcr.io" if registry_type == "gcr" else AR_HOST)
        chart_values = google_values(node_google_cloud, registry, registry_type, adminKeySecret=admin)
        chart_values["registry"]["google"]["endpoints"]["iam"] = node_google_cloud.iam.url
        chart_values["hook"] = trusting_the_stand_ins(cluster, release.namespace, stand_in_tls)
        chart_values.update(values)
        return release, write_values(tmp_path / "values.yaml", chart_values)
    return make


def builder_keys(cloud: GoogleCloud) -> set[str]:
    record = cloud.state.service_accounts.get(BUILDER)
    return {key.key_id for key in record.user_keys()} if record else set()


def secret_key(release: HelmRelease) -> dict[str, Any]:
    secret = release.get("secret", SECRET)
    assert secret is not None, "the hook wrote no Secret"
    return secret_key_file(secret)


def key_still_works(key_info: dict[str, Any], tls: StandInTls) -> bool:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would win over verify
    session.verify = str(tls.ca_file)
    try:
        credentials_from(key_info).refresh(Request(session))
    except Exception:  # noqa: BLE001  (a revoked key fails to refresh; that is the answer)
        return False
    return True


def binder_replica_sets(release: HelmRelease) -> list[str]:
    return sorted(rs["metadata"]["name"] for rs in release.cluster.items("replicasets", release.namespace)
                  if any(owner["kind"] == "Deployment" and owner["name"] == "binder"
                         for owner in rs["metadata"].get("ownerReferences", [])))


@pytest.mark.parametrize("registry_type", ["artifact-registry", "gcr"])
def test_install_test_and_uninstall(google_release, node_google_cloud, registry_type):
    release, values = google_release(registry_type)
    installed = release.install([values])
    (key_id,) = builder_keys(node_google_cloud)
    key = secret_key(release)
    assert key["private_key_id"] == key_id

    release.test()
    assert "BinderHub can push to" in release.test_log()
    assert key["private_key"] not in installed.output + release.test_log()

    release.uninstall()
    assert builder_keys(node_google_cloud) == set()
    assert release.get("secret", SECRET) is None
    assert node_google_cloud.state.service_accounts.get(BUILDER) is not None  # the account and the images stay


def test_every_upgrade_rotates_without_downtime_and_rolls_binderhub(google_release, node_google_cloud, stand_in_tls):
    release, values = google_release()
    release.install([values])
    seen = [secret_key(release)]
    rollouts = binder_replica_sets(release)
    assert len(rollouts) == 2  # created, then rolled once for the new credential

    for _ in range(2):
        release.upgrade([values])
        current, previous = secret_key(release), seen[-1]
        assert current["private_key_id"] != previous["private_key_id"]
        assert builder_keys(node_google_cloud) == {current["private_key_id"], previous["private_key_id"]}
        assert key_still_works(previous, stand_in_tls)  # pods that read the old config keep pushing until the next rotation
        if len(seen) >= 2:
            assert not key_still_works(seen[-2], stand_in_tls)  # the one before was revoked
        now = binder_replica_sets(release)
        assert len(now) == len(rollouts) + 1 and set(rollouts) <= set(now)  # a new ReplicaSet for the new key
        rollouts = now
        seen.append(current)

    release.uninstall()
    assert builder_keys(node_google_cloud) == set()


def test_interval_policy_rotates_nothing_on_repeated_syncs(google_release, node_google_cloud):
    """Argo CD runs pre-upgrade hooks on every sync: with an interval, syncs converge."""
    release, values = google_release(rotation={"policy": "interval", "interval": "720h"})
    release.install([values])
    writes = len(node_google_cloud.state.writes())
    rollouts = binder_replica_sets(release)
    key = secret_key(release)["private_key_id"]
    for _ in range(2):
        release.upgrade([values])
    assert len(node_google_cloud.state.writes()) == writes  # an idempotent run makes zero writes to Google
    assert secret_key(release)["private_key_id"] == key
    assert binder_replica_sets(release) == rollouts


def test_trigger_forces_exactly_one_rotation(google_release, tmp_path):
    release, values = google_release(rotation={"policy": "never"})
    release.install([values])
    key = secret_key(release)["private_key_id"]
    release.upgrade([values])
    assert secret_key(release)["private_key_id"] == key
    forced = write_values(tmp_path / "force.yaml", {"rotation": {"trigger": "2026-11-26"}})
    release.upgrade([values, forced])
    rotated = secret_key(release)["private_key_id"]
    assert rotated != key
    release.upgrade([values, forced])
    assert secret_key(release)["private_key_id"] == rotated
