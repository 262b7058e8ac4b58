"""registry.google.credential workload-identity: the hook sets up keyless push. It ensures the
repository, the builder and its writer role as in key mode, binds the registry helper's
Kubernetes ServiceAccount to the builder (Workload Identity) and itself as token creator, proves
push with a token minted for the builder, and never creates a key; BinderHub's settings select
ExternalRegistryHelper. Then BinderHub, through the helper, launches, pushes and finds the image."""

from __future__ import annotations

import base64
import json

import pytest
from binderhub_registry.providers.google import workload_identity as wi

from tests.binder_pod import companion_binder_pod
from tests.fixtures_google import AR_HOST, BUILDER, PROJECT
from tests.fixtures_registry import TOOLS_DIR
from tests.fixtures_workload_identity import HELPER_KSA, HELPER_NAMESPACE, keyless_values
from tests.helper.test_helper_service import helper_config
from tests.helper_service_runner import running_helper
from tests.helpers import binderhub_config, run_cli, write_values
from tests.hook.test_google import provision
from tests.stand_ins.build_pod import build_and_relaunch

MEMBER = wi.helper_member(PROJECT, f"{HELPER_NAMESPACE}/{HELPER_KSA}")


def helper_token_secret(token: str) -> dict:
    """The token Secret the chart generates for the registry helper (next to the output Secret)."""
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "binderhub-registry-helper-token", "namespace": "binder"},
            "data": {"token": base64.b64encode(token.encode()).decode()}}


def account_bindings(google_cloud) -> dict[str, set[str]]:
    return google_cloud.state.service_accounts[BUILDER].bindings


@pytest.mark.parametrize("registry_type", ["artifact-registry", "gcr"])
def test_provision_binds_proves_and_wires_binderhub_without_a_key(kube_api, tmp_path, google_cloud, google_adc, iam_credentials,
                                                                  google_registry, registry_type):
    registry = google_registry("gcr.io" if registry_type == "gcr" else AR_HOST)
    result = provision(kube_api, tmp_path, keyless_values(google_cloud, registry, iam_credentials, registry_type))
    assert result.code == 0, result.stderr
    state = google_cloud.state
    assert state.calls_of("CreateServiceAccountKey") == [] and state.service_accounts[BUILDER].user_keys() == []
    assert account_bindings(google_cloud) == {wi.WORKLOAD_IDENTITY_USER: {MEMBER},
                                              wi.TOKEN_CREATOR: {f"serviceAccount:{google_adc.email}"}}
    assert [c.code for c in state.calls_of("GenerateAccessToken")][-1] == "OK"
    secret = result.document("Secret")
    assert json.loads(base64.b64decode(secret["data"]["config.json"])) == {"auths": {}}
    assert binderhub_config(result.document("ConfigMap")) == {
        "BinderHub": {
            "use_registry": True,
            "image_prefix": f"{registry.host}/{PROJECT}/{'' if registry_type == 'gcr' else 'binder/'}binder-",
            "registry_class": "binderhub.registry.ExternalRegistryHelper",
        },
        "ExternalRegistryHelper": {"service_url": f"http://{HELPER_KSA}.{HELPER_NAMESPACE}.svc:8080"},
        "KubernetesBuildExecutor": {"push_secret": "binderhub-registry"},
    }
    assert "with short-lived tokens from the registry helper" in result.last_line


def test_binderhub_starts_configured_for_the_helper_with_its_token(kube_api, tmp_path, google_cloud, google_adc, iam_credentials,
                                                                   ar_registry):
    """BinderHub's own chart with binderhub-values.yaml (companion), started by its own
    binderhub_config.py: ExternalRegistryHelper with the helper's URL, and the token from the
    helper's Secret in the same projected volume."""
    result = provision(kube_api, tmp_path, keyless_values(google_cloud, ar_registry, iam_credentials))
    assert result.code == 0, result.stderr
    token = "helper-token-in-its-secret-0123456789"
    objects = [*result.documents(), helper_token_secret(token)]
    pod = companion_binder_pod(TOOLS_DIR / "helm4", result.document("ConfigMap")["data"]["binderhub-values.yaml"], objects, tmp_path)
    with pod.registry_client() as client:
        assert client.service_url == f"http://{HELPER_KSA}.{HELPER_NAMESPACE}.svc:8080" and client.auth_token == token


def test_a_second_run_changes_nothing_and_cleanup_removes_only_its_bindings(kube_api, tmp_path, google_cloud, google_adc,
                                                                          iam_credentials, ar_registry):
    values = keyless_values(google_cloud, ar_registry, iam_credentials)
    assert provision(kube_api, tmp_path, values).code == 0
    account_bindings(google_cloud)["roles/iam.serviceAccountUser"] = {"user:someone@example.org"}
    writes = len(google_cloud.state.writes())
    again = provision(kube_api, tmp_path, values)
    assert again.code == 0, again.stderr
    assert len(google_cloud.state.writes()) == writes  # bindings in place: no write to Google
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    cleanup = run_cli("cleanup", "--values", str(write_values(tmp_path / "values.yaml", values)), env={"KUBECONFIG": str(kubeconfig)})
    assert cleanup.code == 0, cleanup.stderr
    assert account_bindings(google_cloud) == {"roles/iam.serviceAccountUser": {"user:someone@example.org"}}
    assert kube_api.get("secrets", "binder", "binderhub-registry") is None


def test_switching_from_key_to_workload_identity_revokes_the_key(kube_api, tmp_path, google_cloud, google_adc, iam_credentials,
                                                                  ar_registry):
    with_key = keyless_values(google_cloud, ar_registry, iam_credentials)
    with_key["registry"]["google"]["credential"] = "key"
    assert provision(kube_api, tmp_path, with_key).code == 0
    assert len(google_cloud.state.service_accounts[BUILDER].user_keys()) == 1
    result = provision(kube_api, tmp_path, keyless_values(google_cloud, ar_registry, iam_credentials))
    assert result.code == 0, result.stderr
    assert google_cloud.state.service_accounts[BUILDER].user_keys() == []


def test_switching_from_a_provided_key_to_workload_identity_keeps_that_key(kube_api, tmp_path, google_cloud, google_adc,
                                                                           iam_credentials, ar_registry, make_google_principal):
    """Only keys this tool made are revoked on the switch: a key the user gave (mode validate) is theirs."""
    theirs = make_google_principal("manual-builder", roles=[])
    google_cloud.state.add_repository(PROJECT, "us-central1", "binder")
    google_cloud.state.grant_repository_role(f"projects/{PROJECT}/locations/us-central1/repositories/binder", theirs.email,
                                             "roles/artifactregistry.writer")
    with_their_key = keyless_values(google_cloud, ar_registry, iam_credentials, mode="validate", key=json.dumps(theirs.key_info))
    with_their_key["registry"]["google"]["credential"] = "key"
    assert provision(kube_api, tmp_path, with_their_key).code == 0
    result = provision(kube_api, tmp_path, keyless_values(google_cloud, ar_registry, iam_credentials))
    assert result.code == 0, result.stderr
    assert [key.name.rpartition("/")[2] for key in google_cloud.state.service_accounts[theirs.email].user_keys()] == [theirs.key_id]


def test_uninstall_with_workload_identity_values_revokes_the_key_key_mode_made(kube_api, tmp_path, google_cloud, google_adc,
                                                                              iam_credentials, ar_registry):
    """The Secret still holds the key this tool made (the upgrade to keyless never ran, or failed
    before the switch): `cleanup` with keyless values revokes it too, besides the bindings."""
    with_key = keyless_values(google_cloud, ar_registry, iam_credentials)
    with_key["registry"]["google"]["credential"] = "key"
    assert provision(kube_api, tmp_path, with_key).code == 0
    assert len(google_cloud.state.service_accounts[BUILDER].user_keys()) == 1
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    keyless = write_values(tmp_path / "keyless.yaml", keyless_values(google_cloud, ar_registry, iam_credentials))
    cleanup = run_cli("cleanup", "--values", str(keyless), env={"KUBECONFIG": str(kubeconfig)})
    assert cleanup.code == 0, cleanup.stderr
    assert google_cloud.state.service_accounts[BUILDER].user_keys() == []


def test_without_a_workload_identity_pool_one_sentence(kube_api, tmp_path, google_cloud, google_adc, iam_credentials, ar_registry):
    google_cloud.project.workload_identity_pool = False
    result = provision(kube_api, tmp_path, keyless_values(google_cloud, ar_registry, iam_credentials))
    assert result.code == 2
    assert result.last_line.startswith("error: Workload Identity is not enabled in project binder-test")
    assert google_cloud.state.calls_of("CreateServiceAccountKey") == []


def test_binderhub_launches_through_the_helper_after_provision(kube_api, tmp_path, google_cloud, google_adc, iam_credentials,
                                                              ar_registry, make_metadata):
    """End to end: what provision set up is what the helper and BinderHub need; the hook's
    binding is the one that lets the helper's pod mint (nothing granted by the test)."""
    result = provision(kube_api, tmp_path, keyless_values(google_cloud, ar_registry, iam_credentials))
    assert result.code == 0, result.stderr
    metadata = make_metadata(gcp_service_account=BUILDER)  # the chart's annotation on the helper's ServiceAccount
    spec = f"{ar_registry.host}/{PROJECT}/binder/binder-launch:v1"
    with running_helper(helper_config(google_cloud, iam_credentials, metadata, ar_registry)) as helper:
        objects = [*result.documents(), helper_token_secret(helper.auth_token)]
        pod = companion_binder_pod(TOOLS_DIR / "helm4", result.document("ConfigMap")["data"]["binderhub-values.yaml"], objects, tmp_path)
        with pod.registry_client(route=lambda url: helper.url) as binderhub:
            build_and_relaunch(binderhub, spec)


def test_provision_waits_while_iam_propagates_the_new_bindings(kube_api, tmp_path, google_cloud, google_adc, iam_credentials,
                                                              ar_registry):
    google_cloud.state.account_binding_checks = 3  # the token-creator binding takes a while to apply
    result = provision(kube_api, tmp_path, keyless_values(google_cloud, ar_registry, iam_credentials))
    assert result.code == 0, result.stderr
    assert [c.code for c in google_cloud.state.calls_of("GenerateAccessToken")] == ["PERMISSION_DENIED"] * 3 + ["OK"]
    assert "may not mint tokens for " + BUILDER + " yet" in result.stderr


def test_provision_gives_up_after_the_propagation_timeout(kube_api, tmp_path, google_cloud, google_adc, iam_credentials, ar_registry):
    google_cloud.state.account_binding_checks = 10**6
    result = provision(kube_api, tmp_path, keyless_values(google_cloud, ar_registry, iam_credentials, propagationTimeoutSeconds=0))
    assert result.code == 1
    assert "may still not mint tokens for " + BUILDER in result.last_line
