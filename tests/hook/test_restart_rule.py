"""When the hook restarts BinderHub (restart.py). Users were promised that `helm upgrade` with
nothing new to read does not restart BinderHub; the one way this rule may err is an unneeded
restart, never a missed one: a Deployment without the fingerprint annotation keeps its pods only
when it was created, by the API server's clock, strictly after the Secret and settings last
changed, and this run changes nothing BinderHub reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from binderhub_registry.restart import decide, last_change
from binderhub_registry.state import DEPLOYMENT_FINGERPRINT, FINGERPRINT, CurrentState, fingerprint

FINGERPRINT_NOW = "0123456789abcdef"
CHANGED = "2026-11-29T10:00:05Z"  # when the Secret or settings last changed


def deployment(created: str, template: dict[str, str] | None = None, own: dict[str, str] | None = None) -> dict[str, Any]:
    """A Deployment as the API returns it."""
    return {"metadata": {"name": "binder", "creationTimestamp": created, **({"annotations": own} if own else {})},
            "spec": {"template": {"metadata": {"labels": {"app": "binder"}, **({"annotations": template} if template else {})}}}}


def state(fingerprint: str = FINGERPRINT_NOW, changed_at: str | None = CHANGED) -> CurrentState:
    """The state read before this run wrote."""
    at = datetime.strptime(changed_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if changed_at else None
    return CurrentState(exists=True, annotations={FINGERPRINT: fingerprint}, changed_at=at)


def test_a_deployment_created_after_the_last_change_keeps_its_pods_and_is_noted():
    assert decide(deployment("2026-11-29T10:00:06Z"), FINGERPRINT_NOW, state()) == "note"


@pytest.mark.parametrize("created", ["2026-11-29T10:00:05Z", "2026-11-29T10:00:04Z", "2025-01-01T00:00:00Z"],
                         ids=["same-second", "one-second-before", "long-before"])
def test_a_deployment_created_before_or_in_the_same_second_as_the_last_change_restarts(created):
    assert decide(deployment(created), FINGERPRINT_NOW, state()) == "restart"


def test_a_deployment_created_after_the_last_change_restarts_when_this_run_changes_what_binderhub_reads():
    assert decide(deployment("2026-11-29T10:00:06Z"), FINGERPRINT_NOW, state(fingerprint="fedcba9876543210")) == "restart"
    assert decide(deployment("2026-11-29T10:00:06Z"), FINGERPRINT_NOW, CurrentState()) == "restart"  # no Secret before
    # a Secret without a fingerprint (written by hand, or by a version that noted none): this run changes it
    unnoted = CurrentState(exists=True, annotations={}, changed_at=datetime(2026, 11, 29, 10, 0, 5, tzinfo=UTC))
    assert decide(deployment("2026-11-29T10:00:06Z"), FINGERPRINT_NOW, unnoted) == "restart"


@pytest.mark.parametrize("place", ["template", "own"])
def test_an_annotation_decides_whatever_the_times(place):
    created_after = "2026-11-29T10:00:06Z"
    assert decide(deployment(created_after, **{place: {DEPLOYMENT_FINGERPRINT: "fedcba9876543210"}}), FINGERPRINT_NOW, state()) == "restart"
    assert decide(deployment("2025-01-01T00:00:00Z", **{place: {DEPLOYMENT_FINGERPRINT: FINGERPRINT_NOW}}), FINGERPRINT_NOW,
                  state()) == "unchanged"


def test_the_pod_template_annotation_wins_over_the_deployments_own():
    rolled_since = deployment("2026-11-29T10:00:06Z", template={DEPLOYMENT_FINGERPRINT: "fedcba9876543210"},
                              own={DEPLOYMENT_FINGERPRINT: FINGERPRINT_NOW})
    assert decide(rolled_since, FINGERPRINT_NOW, state()) == "restart"


@pytest.mark.parametrize("created, changed_at", [("", CHANGED), ("2026-11-29 10:00:06", CHANGED), ("2026-11-29T10:00:06Z", None)],
                         ids=["no-creation-time", "unreadable-creation-time", "unknown-last-change"])
def test_a_time_nobody_can_read_restarts(created, changed_at):
    assert decide(deployment(created), FINGERPRINT_NOW, state(changed_at=changed_at)) == "restart"


def managed(*times: str | None) -> dict[str, Any]:
    entries = [{"manager": f"m{i}", "operation": "Apply", **({"time": t} if t else {})} for i, t in enumerate(times)]
    return {"metadata": {"managedFields": entries}}


def test_the_last_change_is_the_latest_time_of_any_manager_of_either_object():
    last = last_change(managed("2026-11-29T10:00:01Z", "2026-11-29T10:00:07Z"), managed("2026-11-29T10:00:05Z"))
    assert last == datetime(2026, 11, 29, 10, 0, 7, tzinfo=UTC)
    assert last_change(managed("2026-11-29T10:00:01Z"), None) == datetime(2026, 11, 29, 10, 0, 1, tzinfo=UTC)  # no settings yet
    assert last_change(None, None) is None


@pytest.mark.parametrize("objects", [(managed("2026-11-29T10:00:01Z", None),), ({"metadata": {}},),
                                     (managed("2026-11-29T10:00:01Z"), {"metadata": {}}),
                                     (managed("2026-11-29T10:00:01Z"), managed("yesterday"))],
                         ids=["entry-without-time", "no-managed-fields", "one-object-without-managed-fields", "unreadable-time"])
def test_the_last_change_is_unknown_when_any_entry_has_no_readable_time(objects):
    assert last_change(*objects) is None


def test_the_fingerprint_changes_with_either_thing_binderhub_reads():
    """The docker config and registry.json's BinderHub settings: a change in either restarts BinderHub."""
    config, settings = {"auths": {"registry.example": {"auth": "dTpw"}}}, {"registry": "registry.example", "prefix": "p/binder-"}
    current = CurrentState(exists=True, annotations={FINGERPRINT: FINGERPRINT_NOW}, docker_config=config, binderhub_config=settings)
    assert fingerprint(current, config, settings) == FINGERPRINT_NOW
    assert fingerprint(current, config, {**settings, "prefix": "p/other-"}) != FINGERPRINT_NOW
    assert fingerprint(current, {"auths": {}}, settings) != FINGERPRINT_NOW


@pytest.mark.parametrize("key", ["config.json", ".dockerconfigjson"])
def test_the_docker_config_is_read_from_either_key_of_the_secret(key):
    """A Secret with only the kubernetes.io/dockerconfigjson key (written by hand) still has a docker config."""
    config = {"auths": {"registry.example": {"auth": "dTpw"}}}
    current = CurrentState.read({"data": {key: json.dumps(config)}, "annotations": {}}, {})
    assert current.docker_config == config
