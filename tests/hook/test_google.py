"""registry.type=gcr and artifact-registry: the real google-auth, IAM (gRPC) and Artifact
Registry (REST) clients against stand-ins with Google's semantics, and the real distribution
registry behind a token service that accepts `_json_key` keys and grants push only when the
stand-in IAM lets the key's account upload to the repository."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from binderhub_registry.state import CREATED_AT, CREDENTIAL_ID, PREVIOUS_CREDENTIAL_ID, ROTATION_REVISION

from tests.fixtures_google import AR_HOST, BUILDER, PROJECT, google_values
from tests.helpers import binderhub_config, binderhub_for, push_image, run_cli, secret_key_file, write_values


def provision(kube_api, tmp_path: Path, values: dict[str, Any], *extra: str, env: dict[str, str] | None = None):
    """provision as the hook runs it, applying to the (stand-in) cluster: Google create mode keeps
    its state there. The objects it wrote are put on the result as YAML documents."""
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    result = run_cli("provision", "--values", str(write_values(tmp_path / "values.yaml", values)), *extra,
                     env={"KUBECONFIG": str(kubeconfig), **(env or {})})
    written = [kube_api.get("secrets", "binder", "binderhub-registry"), kube_api.get("configmaps", "binder", "binderhub-registry-settings")]
    result.stdout += "".join("---\n" + yaml.safe_dump(doc) for doc in written if doc)
    return result


def key_of(result) -> dict[str, Any]:
    return secret_key_file(result.document("Secret"))


def test_artifact_registry_from_scratch_creates_account_role_and_key_then_binderhub_pushes(
    kube_api, tmp_path, google_cloud, google_adc, google_registry
):
    registry = google_registry(AR_HOST)
    result = provision(kube_api, tmp_path, google_values(google_cloud, registry))
    assert result.code == 0, result.stderr

    state = google_cloud.state
    repository = f"projects/{PROJECT}/locations/us-central1/repositories/binder"
    assert {c.method for c in state.writes()} == {"CreateRepository", "CreateServiceAccount", "SetIamPolicy", "CreateServiceAccountKey"}
    key = key_of(result)
    assert key["client_email"] == BUILDER
    assert result.document("Secret")["metadata"]["annotations"][CREDENTIAL_ID] == key["private_key_id"]
    assert state.repositories[repository].bindings == {"roles/artifactregistry.writer": {f"serviceAccount:{BUILDER}"}}
    assert key["private_key"].splitlines()[1] not in result.stderr

    settings = binderhub_config(result.document("ConfigMap"))
    prefix = settings["BinderHub"]["image_prefix"]
    assert prefix == f"{registry.host}/{PROJECT}/binder/binder-"
    assert settings["DockerRegistry"]["token_url"].startswith(registry.token_server.realm)

    # A build pod pushes with the key; the binder pod then finds the image.
    password = json.dumps(key)
    token = httpx.get(registry.token_server.realm, auth=("_json_key", password), params={
        "service": registry.token_server.service, "scope": f"repository:{PROJECT}/binder/binder-repo:pull,push"}).json()["token"]
    push_image(registry.url, f"{PROJECT}/binder/binder-repo", "v1", token=token)
    with binderhub_for(result) as binderhub:
        assert binderhub.username == "_json_key"
        assert binderhub.get_image_manifest(f"{PROJECT}/binder/binder-repo", "v1") is not None


def test_gcr_io_uses_the_gcr_io_repository_in_us_with_create_on_push_writer(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    registry = google_registry("gcr.io")
    result = provision(kube_api, tmp_path, google_values(google_cloud, registry, "gcr"))
    assert result.code == 0, result.stderr
    bindings = google_cloud.state.repositories[f"projects/{PROJECT}/locations/us/repositories/gcr.io"].bindings
    assert bindings == {"roles/artifactregistry.createOnPushWriter": {f"serviceAccount:{BUILDER}"}}
    settings = binderhub_config(result.document("ConfigMap"))
    assert settings["BinderHub"]["image_prefix"] == f"{registry.host}/{PROJECT}/binder-"


def test_project_is_taken_from_the_admin_key_when_not_set(kube_api, tmp_path, google_cloud, google_admin, google_registry):
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "google-admin", "namespace": "binder"},
                  "data": {"key.json": base64.b64encode(json.dumps(google_admin.key_info).encode()).decode()}})
    values = google_values(google_cloud, google_registry(AR_HOST), adminKeySecret="google-admin")
    del values["registry"]["artifactRegistry"]["project"]
    result = provision(kube_api, tmp_path, values)
    assert result.code == 0, result.stderr
    assert key_of(result)["project_id"] == PROJECT


def test_without_a_project_or_a_key_naming_it_the_values_are_refused_before_any_google_call(
        kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """What `helm install` refuses too (the chart's own check): the hook's own identity is not
    asked for a project, so a missing project is found at install, not when the hook runs."""
    values = google_values(google_cloud, google_registry(AR_HOST))
    del values["registry"]["artifactRegistry"]["project"]
    result = provision(kube_api, tmp_path, values)
    assert result.code == 2
    assert result.last_line.startswith("error: registry.artifactRegistry.project is empty: set it to the GCP project id")
    assert google_cloud.state.calls == []


def test_a_repository_creation_that_takes_a_while_is_waited_for(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    google_cloud.state.operation_polls = 3
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 0, result.stderr
    assert [c.method for c in google_cloud.state.calls if c.service == "artifactregistry"].count("GetOperation") == 3


def test_new_binding_is_polled_until_iam_propagates_it(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    google_cloud.state.propagation_checks = 3
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 0, result.stderr
    assert result.stderr.count("waiting for IAM to propagate") >= 1


def test_binding_that_never_propagates_times_out_with_exit_3(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    google_cloud.state.propagation_checks = 10_000
    google_cloud.state.account_propagation_checks = google_cloud.state.key_propagation_checks = 0
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST), propagationTimeoutSeconds=1))
    assert result.code == 3
    assert "IAM did not let the new key push within 1s" in result.last_line
    assert "propagationTimeoutSeconds" in result.last_line


def test_a_new_account_unknown_to_iam_for_a_while_is_waited_for(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """Google may answer 400 "Service account ... does not exist." to a policy naming an account
    created moments before."""
    google_cloud.state.account_propagation_checks = 3
    google_cloud.state.key_propagation_checks = 0
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 0, result.stderr
    assert result.stderr.count("IAM does not know binderhub-builder@") == 3


def test_an_account_iam_never_learns_of_times_out_with_exit_3(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    google_cloud.state.account_propagation_checks = 10_000
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST), propagationTimeoutSeconds=1))
    assert result.code == 3
    assert "IAM does not know binderhub-builder@" in result.last_line


def test_blocked_key_creation_says_so_and_points_to_validate_mode(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    google_cloud.state.key_creation_blocked = True
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 1
    assert "iam.disableServiceAccountKeyCreation" in result.last_line
    assert "registry.google.mode=validate" in result.last_line


@pytest.mark.parametrize(("has", "missing"), [
    (["roles/iam.serviceAccountKeyAdmin", "roles/artifactregistry.admin"], "roles/iam.serviceAccountAdmin"),
    (["roles/iam.serviceAccountAdmin", "roles/artifactregistry.admin"], "roles/iam.serviceAccountKeyAdmin"),
], ids=["no-account-admin", "no-key-admin"])
def test_missing_admin_role_names_the_role_to_grant(kube_api, tmp_path, google_cloud, make_google_principal, google_registry, monkeypatch,
                                                    has, missing):
    admin = make_google_principal("weak-admin", roles=has)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(admin.key_file))
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 1
    assert f" {missing} on " in result.last_line
    assert admin.email in result.last_line


def test_disabled_api_names_the_api_to_enable(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    google_cloud.state.set_api_enabled(PROJECT, "artifactregistry.googleapis.com", False)
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 2
    assert "gcloud services enable artifactregistry.googleapis.com" in result.last_line


def test_ten_foreign_keys_are_never_deleted(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    state = google_cloud.state
    state.add_service_account(PROJECT, "binderhub-builder")
    for _ in range(10):
        state.create_key(BUILDER)
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 2
    assert "already has 10 user-managed keys" in result.last_line
    assert not state.calls_of("DeleteServiceAccountKey")


def test_transient_google_errors_are_retried(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    google_cloud.state.fail_next("CreateServiceAccountKey", "UNAVAILABLE", times=2)
    google_cloud.state.fail_next("GetIamPolicy", "RESOURCE_EXHAUSTED", times=1)
    google_cloud.state.fail_next("GetRepository", "INTERNAL", times=1)  # Google's 500 "Internal error encountered."
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 0, result.stderr
    assert result.stderr.count("retrying") == 4


def test_persistent_google_outage_exits_3(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    google_cloud.state.fail_next("GetRepository", "UNAVAILABLE", times=20)
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 3
    assert "after 5 attempts" in result.last_line


def test_no_google_identity_exits_2_pointing_to_workload_identity(kube_api, tmp_path, google_cloud, google_registry, monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)),
                       env={"HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "NO_GCE_CHECK": "True",
                            "GCE_METADATA_HOST": "127.0.0.1:9"})
    assert result.code == 2
    assert "Workload Identity" in result.last_line


# -- validate mode -----------------------------------------------------------------------------


def test_validate_mode_proves_a_ready_key_without_any_write(kube_api, tmp_path, google_cloud, make_google_principal, google_registry,
                                                            monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    builder = make_google_principal("manual-builder", roles=[])
    state = google_cloud.state
    state.add_repository(PROJECT, "us-central1", "binder")
    state.grant_repository_role(f"projects/{PROJECT}/locations/us-central1/repositories/binder", builder.email,
                                "roles/artifactregistry.writer")
    writes_before = len(state.writes())
    values = google_values(google_cloud, google_registry(AR_HOST), mode="validate", key=json.dumps(builder.key_info))
    result = provision(kube_api, tmp_path, values)
    assert result.code == 0, result.stderr
    assert len(state.writes()) == writes_before
    assert key_of(result)["private_key_id"] == builder.key_id


def test_validate_mode_with_a_key_that_cannot_push_exits_1(kube_api, tmp_path, google_cloud, make_google_principal, google_registry):
    builder = make_google_principal("reader-only", roles=[])
    google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    values = google_values(google_cloud, google_registry(AR_HOST), mode="validate", key=json.dumps(builder.key_info),
                           validateTimeoutSeconds=0)
    result = provision(kube_api, tmp_path, values)
    assert result.code == 1
    assert "grant it roles/artifactregistry.writer" in result.last_line
    assert builder.key_info["private_key"].splitlines()[1] not in result.output


def test_validate_mode_without_a_key_exits_2(kube_api, tmp_path, google_cloud, google_registry):
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST), mode="validate"))
    assert result.code == 2
    assert "needs a service account key" in result.last_line


def test_unknown_project_says_to_check_the_project_value(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    values = google_values(google_cloud, google_registry(AR_HOST))
    values["registry"]["artifactRegistry"]["project"] = "no-such-project"
    result = provision(kube_api, tmp_path, values)
    assert result.code == 1
    assert "check registry.artifactRegistry.project" in result.last_line
    assert "no-such-project" in result.last_line


@pytest.mark.parametrize("output", ["-", "DIR"])
def test_printing_instead_of_applying_is_refused_in_create_mode(kube_api, tmp_path, google_cloud, google_adc, google_registry, output):
    """Printed (or written to a directory), keys could never be reused or revoked by the tool, and would pile up."""
    where = str(tmp_path / "out") if output == "DIR" else "-"
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)), "--output", where)
    assert result.code == 2
    assert "registry.google.mode=validate" in result.last_line
    assert google_cloud.state.writes() == []


def test_a_new_account_whose_keys_iam_cannot_see_yet_is_waited_for(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """Right after CreateServiceAccount, IAM's key calls may answer NOT_FOUND for a while."""
    google_cloud.state.account_read_checks = 3
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 0, result.stderr
    assert result.stderr.count("waiting for IAM to propagate: IAM does not") == 3
    assert len(google_cloud.state.service_accounts[BUILDER].user_keys()) == 1


def test_a_new_account_iam_will_not_make_a_key_for_yet_is_waited_for_and_the_key_pushes(
    kube_api, tmp_path, google_cloud, google_adc, google_registry
):
    """Key creation lags on its own: IAM already lists the new account's keys, but
    CreateServiceAccountKey still answers NOT_FOUND for it a while. The run waits and retries
    the creation, and the one key it makes pushes."""
    state = google_cloud.state
    state.account_key_creation_checks = 3
    registry = google_registry(AR_HOST)
    result = provision(kube_api, tmp_path, google_values(google_cloud, registry))
    assert result.code == 0, result.stderr
    assert [c.code for c in state.calls_of("CreateServiceAccountKey")] == ["NOT_FOUND"] * 3 + ["OK"]
    assert result.stderr.count("IAM does not let a key be made for the new") == 3
    key = key_of(result)
    assert [k.key_id for k in state.service_accounts[BUILDER].user_keys()] == [key["private_key_id"]]
    token = httpx.get(registry.token_server.realm, auth=("_json_key", json.dumps(key)), params={
        "service": registry.token_server.service, "scope": f"repository:{PROJECT}/binder/binder-lag:pull,push"}).json()["token"]
    push_image(registry.url, f"{PROJECT}/binder/binder-lag", "v1", token=token)


def age_secret(kube_api, by: timedelta) -> str:
    """Time passing for the credential: its created-at note moved ``by`` into the past (the hook
    reads its own clock, which a test cannot move); the new note."""
    secret = kube_api.get("secrets", "binder", "binderhub-registry")
    annotations = secret["metadata"]["annotations"]
    created = datetime.strptime(annotations[CREATED_AT], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    annotations[CREATED_AT] = (created - by).strftime("%Y-%m-%dT%H:%M:%SZ")
    kube_api.put(secret)
    return annotations[CREATED_AT]


def test_a_kept_key_keeps_its_creation_time_so_the_interval_rotates_it(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """A run that keeps the key keeps its created-at: re-stamped on every run, a key would never age."""
    values = google_values(google_cloud, google_registry(AR_HOST)) | {"rotation": {"policy": "interval", "interval": "720h"}}
    first = provision(kube_api, tmp_path, values)
    assert first.code == 0, first.stderr
    key = key_of(first)["private_key_id"]
    noted = age_secret(kube_api, timedelta(hours=719))
    kept = provision(kube_api, tmp_path, values)
    assert kept.code == 0, kept.stderr
    annotations = kept.document("Secret")["metadata"]["annotations"]
    assert (key_of(kept)["private_key_id"], annotations[CREATED_AT]) == (key, noted)
    age_secret(kube_api, timedelta(hours=2))  # 721 hours old now
    rotated = provision(kube_api, tmp_path, values)
    assert rotated.code == 0, rotated.stderr
    assert key_of(rotated)["private_key_id"] != key
    assert rotated.document("Secret")["metadata"]["annotations"][PREVIOUS_CREDENTIAL_ID] == key


def test_every_upgrade_rotates_from_revision_9_to_10(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """Release revisions are numbers: "9" to "10" is a new revision (as strings, "9" >= "10")."""
    values = google_values(google_cloud, google_registry(AR_HOST))
    first = provision(kube_api, tmp_path, values | {"rotation": {"revision": "9"}})
    assert first.code == 0, first.stderr
    tenth = provision(kube_api, tmp_path, values | {"rotation": {"revision": "10"}})
    assert tenth.code == 0, tenth.stderr
    assert key_of(tenth)["private_key_id"] != key_of(first)["private_key_id"]
    assert tenth.document("Secret")["metadata"]["annotations"][ROTATION_REVISION] == "10"


def test_a_repository_policy_that_does_not_start_empty_keeps_its_bindings(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """The builder's writer role is added to the repository's policy; what others granted stays."""
    repository = google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    google_cloud.state.grant_repository_role(repository.name, "group:readers@example.org", "roles/artifactregistry.reader")
    google_cloud.state.grant_repository_role(repository.name, "user:ci@example.org", "roles/artifactregistry.writer")
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 0, result.stderr
    assert google_cloud.state.repositories[repository.name].bindings == {
        "roles/artifactregistry.reader": {"group:readers@example.org"},
        "roles/artifactregistry.writer": {"user:ci@example.org", f"serviceAccount:{BUILDER}"},
    }


def test_eu_gcr_io_is_the_gcr_io_repository_in_europe(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """gcr.io hosts are Artifact Registry repositories named after the host, in the multi-region
    Google gives each: us, europe, asia (not "eu")."""
    values = google_values(google_cloud, google_registry("eu.gcr.io"), "gcr")
    values["registry"]["gcr"]["host"] = "eu.gcr.io"
    result = provision(kube_api, tmp_path, values)
    assert result.code == 0, result.stderr
    assert f"projects/{PROJECT}/locations/europe/repositories/eu.gcr.io" in google_cloud.state.repositories


def test_a_builder_that_may_only_read_the_repository_is_granted_writer(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """Another role of the builder on the repository (reader) is not the writer role it needs."""
    repository = google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    google_cloud.state.grant_repository_role(repository.name, BUILDER, "roles/artifactregistry.reader")
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 0, result.stderr
    assert f"serviceAccount:{BUILDER}" in google_cloud.state.repositories[repository.name].bindings["roles/artifactregistry.writer"]


def test_the_writer_role_joins_a_repository_policy_that_others_change_meanwhile(
        kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """A policy that does not start empty, and that another admin changes between the hook's read
    and write (twice): the hook reads again, and every other binding stays."""
    repository = google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    google_cloud.state.grant_repository_role(repository.name, "user:owner@example.org", "roles/artifactregistry.repoAdmin")
    google_cloud.state.concurrent_repository_policy_changes += [
        ("roles/artifactregistry.reader", "user:first@example.org"), ("roles/artifactregistry.reader", "user:second@example.org")]
    result = provision(kube_api, tmp_path, google_values(google_cloud, google_registry(AR_HOST)))
    assert result.code == 0, result.stderr
    bindings = google_cloud.state.repositories[repository.name].bindings
    assert bindings["roles/artifactregistry.writer"] == {f"serviceAccount:{BUILDER}"}
    assert bindings["roles/artifactregistry.repoAdmin"] == {"user:owner@example.org"}
    assert bindings["roles/artifactregistry.reader"] == {"user:first@example.org", "user:second@example.org"}


def test_uninstall_after_a_switch_to_validate_mode_still_revokes_the_key_create_mode_made(
        kube_api, tmp_path, google_cloud, google_adc, google_registry):
    """The Secret says the key was created by this tool: `cleanup` revokes it whatever the mode is now."""
    values = google_values(google_cloud, google_registry(AR_HOST))
    created = provision(kube_api, tmp_path, values)
    assert created.code == 0, created.stderr
    assert len(google_cloud.state.service_accounts[BUILDER].user_keys()) == 1
    values["registry"]["google"] |= {"mode": "validate", "key": "{}"}
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    cleaned = run_cli("cleanup", "--values", str(write_values(tmp_path / "validate.yaml", values)), env={"KUBECONFIG": str(kubeconfig)})
    assert cleaned.code == 0, cleaned.stderr
    assert google_cloud.state.service_accounts[BUILDER].user_keys() == []
