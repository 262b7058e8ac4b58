"""A hook killed at any step leaves a Secret that still works, and the next run converges
without leaking keys beyond the bound (two keys created by this tool). The process is killed
for real (exit 137) at named steps through BINDERHUB_REGISTRY_CRASH_AT, against the stand-in
API and Google, then run again like the Job's retry or the next upgrade would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from binderhub_registry.state import DEPLOYMENT_FINGERPRINT, FINGERPRINT, PREVIOUS_CREDENTIAL_ID, ROTATION_REVISION

from tests.fixtures_google import AR_HOST, BUILDER, PROJECT, google_values
from tests.helpers import binder_deployment, run_cli, secret_key_file, write_values

NS = "binder"


@pytest.fixture
def hook(kube_api, google_cloud, google_adc, google_registry, tmp_path):
    """Runs provision (or check) in the cluster namespace with the admin's kubeconfig."""
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS)
    registry = google_registry(AR_HOST)
    kube_api.put(binder_deployment(NS))

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
    return secret_key_file(secret)["private_key_id"]


def test_crash_right_after_the_first_key_is_created_leaks_nothing(hook, kube_api, google_cloud):
    crashed = hook(1, crash_at="after-key-creation")
    assert crashed.code == 137
    assert len(keys(google_cloud)) == 1 and secret_key_id(kube_api) is None

    converged = hook(1)
    assert converged.code == 0, converged.stderr
    assert "a key an interrupted run created and never used" in converged.stderr
    assert keys(google_cloud) == {secret_key_id(kube_api)}


def test_a_secret_write_the_api_refuses_keeps_the_note_so_the_next_run_deletes_the_unused_key(hook, kube_api, google_cloud):
    """The write-ahead note is cleared only once the Secret holds the new key: when the API server
    refuses the Secret (here a hand-made Opaque one, whose type is immutable) the key just made is
    unused, and the next run must still know to delete it."""
    kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "binderhub-registry", "namespace": NS}, "type": "Opaque"})
    refused = hook(1)
    assert refused.code == 2, refused.stderr
    assert len(keys(google_cloud)) == 1
    kube_api.delete("secrets", NS, "binderhub-registry")  # the user removes it, as the sentence says
    converged = hook(1)
    assert converged.code == 0, converged.stderr
    assert keys(google_cloud) == {secret_key_id(kube_api)}


@pytest.mark.parametrize("google_behind", [timedelta(seconds=45), timedelta(seconds=-45)], ids=["google-behind", "google-ahead"])
def test_a_key_leaked_by_a_crash_is_found_though_google_and_the_hook_disagree_on_the_time(hook, kube_api, google_cloud, google_behind):
    """The leaked key is recognised by its creation time (Google's clock) near the note's (the
    hook's clock): clocks that differ by less than a minute must not hide it."""
    google_cloud.state.key_time_offset = -google_behind
    crashed = hook(1, crash_at="after-key-creation")
    assert crashed.code == 137
    converged = hook(1)
    assert converged.code == 0, converged.stderr
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
    assert keys(google_cloud) == {current, annotations[PREVIOUS_CREDENTIAL_ID]}
    assert annotations[ROTATION_REVISION] == "3"
    assert kube_api.deployment_history(NS, "binder")[-1][DEPLOYMENT_FINGERPRINT] == annotations[FINGERPRINT]

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
    previous = kube_api.get("secrets", NS, "binderhub-registry")["metadata"]["annotations"][PREVIOUS_CREDENTIAL_ID]
    current = secret_key_id(kube_api)
    del google_cloud.state.service_accounts[BUILDER].keys[current]  # someone deleted it in the console

    broken = hook(2, command="check")
    assert broken.code == 1  # helm test would say so

    repaired = hook(2)
    assert repaired.code == 0, repaired.stderr
    assert "no longer exists" in repaired.stderr
    assert keys(google_cloud) == {secret_key_id(kube_api)}
    assert previous not in keys(google_cloud)


def test_a_finished_run_leaves_no_write_ahead_note(hook, kube_api, google_cloud):
    """The note ("a key creation started / made key K") is cleared once the Secret holds the key,
    under its own field manager, so clearing it leaves the settings' data alone."""
    from binderhub_registry.state import INTENT_PREFIX  # noqa: PLC0415

    for revision in (1, 2):
        assert hook(revision).code == 0
        settings = kube_api.get("configmaps", NS, "binderhub-registry-settings")
        assert [key for key in settings["metadata"].get("annotations") or {} if key.startswith(INTENT_PREFIX)] == []
        assert {"binderhub-values.yaml", "registry.json"} <= set(settings.get("data") or {})  # clearing notes kept the settings


def test_a_key_disabled_out_of_band_is_replaced_and_revoked_at_the_same_revision(hook, kube_api, google_cloud):
    """A disabled key cannot push: the next run of the same revision does not reuse it."""
    assert hook(1).code == 0
    disabled = secret_key_id(kube_api)
    google_cloud.state.service_accounts[BUILDER].keys[disabled].disabled = True  # someone disabled it in the console

    repaired = hook(1)
    assert repaired.code == 0, repaired.stderr
    assert secret_key_id(kube_api) != disabled
    assert keys(google_cloud) == {secret_key_id(kube_api)}


def test_keys_others_create_after_a_crash_are_never_deleted(hook, kube_api, google_cloud):
    assert hook(1).code == 0
    assert hook(2, crash_at="after-key-noted").code == 137
    by_hand = google_cloud.state.create_key(BUILDER)["private_key_id"]  # someone makes a key meanwhile
    assert hook(2).code == 0
    assert by_hand in keys(google_cloud)
    assert len(keys(google_cloud) - {by_hand}) == 2


def test_without_the_noted_key_id_only_keys_created_right_after_the_note_count_as_leaked(hook, kube_api, google_cloud):
    assert hook(1).code == 0
    assert hook(2, crash_at="after-key-creation").code == 137  # killed before the key id was noted
    later = google_cloud.state.create_key(BUILDER)["private_key_id"]
    record = google_cloud.state.service_accounts[BUILDER].keys[later]
    record.valid_after = record.valid_after + timedelta(minutes=30)  # made by someone half an hour later
    assert hook(2).code == 0
    assert later in keys(google_cloud)
    assert len(keys(google_cloud) - {later}) == 2


def test_changing_the_registry_url_reuses_the_key(hook, kube_api, google_cloud, google_registry, tmp_path):
    assert hook(1).code == 0
    key = secret_key_id(kube_api)
    moved = google_registry(AR_HOST)  # the same repository behind another URL (a proxy, say)
    values = google_values(google_cloud, moved)
    values["rotation"] = {"revision": "1"}
    result = run_cli("provision", "--values", str(write_values(tmp_path / "moved.yaml", values)),
                     env={"KUBECONFIG": str(tmp_path / "kubeconfig")})
    assert result.code == 0, result.stderr
    assert secret_key_id(kube_api) == key
    assert keys(google_cloud) == {key}


def provision_as_pusher(google_cloud, google_registry, tmp_path):
    """The hook's next run (revision 3) with registry.artifactRegistry.serviceAccount binder-pusher."""
    values = google_values(google_cloud, google_registry(AR_HOST))
    values["registry"]["artifactRegistry"]["serviceAccount"] = "binder-pusher"
    values["rotation"] = {"revision": "3"}
    return run_cli("provision", "--values", str(write_values(tmp_path / "renamed.yaml", values)),
                   env={"KUBECONFIG": str(tmp_path / "kubeconfig")})


def test_changing_the_builder_account_revokes_the_old_accounts_keys(hook, kube_api, google_cloud, google_registry, tmp_path):
    assert hook(1).code == 0
    assert hook(2).code == 0
    result = provision_as_pusher(google_cloud, google_registry, tmp_path)
    assert result.code == 0, result.stderr
    assert keys(google_cloud) == set()
    new_account = google_cloud.state.service_accounts[f"binder-pusher@{PROJECT}.iam.gserviceaccount.com"]
    assert {k.key_id for k in new_account.user_keys()} == {secret_key_id(kube_api)}


def test_sigterm_ends_with_one_sentence_and_exit_3(kube_api, google_cloud, google_adc, google_registry, tmp_path):
    """What activeDeadlineSeconds does to a hook still waiting for IAM."""
    google_cloud.state.propagation_checks = 10_000
    values = google_values(google_cloud, google_registry(AR_HOST), propagationTimeoutSeconds=600)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS)
    process = subprocess.Popen(
        [sys.executable, "-m", "binderhub_registry", "provision", "--values", str(write_values(tmp_path / "v.yaml", values))],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "KUBECONFIG": str(kubeconfig), "BINDERHUB_REGISTRY_RETRY_SECONDS": "0.05"},
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "waiting for IAM to propagate" in line:
            process.send_signal(signal.SIGTERM)
            break
    lines += process.stderr.readlines()
    assert process.wait(timeout=60) == 3
    assert lines[-1].startswith("error: Stopped by SIGTERM")
    assert "Traceback" not in "".join(lines)


def test_a_note_left_for_another_account_deletes_none_of_this_accounts_keys(hook, kube_api, google_cloud, google_registry, tmp_path):
    """A crash noted a key creation for the builder account; the next run pushes as another account,
    whose key made by hand in that window is not the leaked one."""
    assert hook(1).code == 0
    assert hook(2, crash_at="after-key-creation").code == 137  # the note names the account, no key id
    pusher = google_cloud.state.add_service_account(PROJECT, "binder-pusher")
    by_hand = google_cloud.state.create_key(pusher.email)["private_key_id"]
    result = provision_as_pusher(google_cloud, google_registry, tmp_path)
    assert result.code == 0, result.stderr
    assert by_hand in {k.key_id for k in google_cloud.state.service_accounts[pusher.email].user_keys()}
