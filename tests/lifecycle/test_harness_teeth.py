"""The harness must catch what breaks between the chart and the code. Each test mutates a
rendered copy of the chart (never the chart) and expects the install to fail for that reason;
the unmutated chart passes (the other harness tests). On the real cluster the same kinds of
breakage are caught by the real API server and Helm (test_cluster_generic.py)."""

from __future__ import annotations

import pytest

from tests.helpers import generic_values, write_values
from tests.lifecycle.harness import HookFailed


@pytest.fixture
def values(htpasswd_registry, tmp_path):
    return write_values(tmp_path / "values.yaml", generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))


def mutate(kind: str, change):
    def apply(docs):
        for doc in docs:
            if doc["kind"] == kind and "pre-install" in doc["metadata"].get("annotations", {}).get("helm.sh/hook", ""):
                change(doc)
        return docs
    return apply


def test_unmutated_chart_installs(make_release, values):
    (hook,) = make_release().install([values])
    assert hook.runs[-1].exit_code == 0


def without_verb(verb: str):
    def drop(role):
        for rule in role["rules"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    return drop


def test_role_without_patch_fails_with_forbidden(make_release, values):
    with pytest.raises(HookFailed) as failed:
        make_release(mutate=mutate("Role", without_verb("patch"))).install([values])
    assert "forbids the hook to patch secrets" in failed.value.last_log_line
    assert "cannot patch resource" in failed.value.last_log_line


def test_values_mounted_elsewhere_than_the_cli_reads_fails(make_release, values):
    def move_mount(job):
        for mount in job["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]:
            if mount["name"] == "values":
                mount["mountPath"] = "/etc/binderhub-registry/input"
    with pytest.raises(HookFailed) as failed:
        make_release(mutate=mutate("Job", move_mount)).install([values])
    assert "/etc/binderhub-registry/values/values.yaml does not exist" in failed.value.last_log_line


def test_job_weighted_before_its_service_account_fails(make_release, values):
    def run_first(job):
        job["metadata"]["annotations"]["helm.sh/hook-weight"] = "-10"
    with pytest.raises(HookFailed) as failed:
        make_release(mutate=mutate("Job", run_first)).install([values])
    assert 'serviceaccount "binderhub-registry-hook" not found' in failed.value.reason


def test_role_without_create_fails_the_first_install(make_release, values):
    """Server-side apply of an object that does not exist yet is also a create."""
    with pytest.raises(HookFailed) as failed:
        make_release(mutate=mutate("Role", without_verb("create"))).install([values])
    assert "cannot create resource" in failed.value.last_log_line


def test_cli_flag_the_code_does_not_know_fails(make_release, values):
    def bad_flag(job):
        job["spec"]["template"]["spec"]["containers"][0]["args"].append("--dry-run")
    with pytest.raises(HookFailed) as failed:
        make_release(mutate=mutate("Job", bad_flag)).install([values])
    assert "unrecognized arguments: --dry-run" in failed.value.last_log_line
