"""The hook's two IAM reads (the builder service account, its user-managed keys) go to IAM's REST
API (providers/google/iam.py), so a steady-state `helm upgrade`, which changes nothing in IAM,
never imports the generated IAM client (google-cloud-iam: 60-80 ms at every run), nor, while no
call fails, api_core's error classes and grpc; writes still go through that client. Against the stand-in's IAM, which serves REST and
gRPC on one port over the
same state: every error of a REST read is the exception the generated gRPC client raises for the
same state (code, message, ErrorInfo, details; the class REST names by HTTP status), so the hook's sentences are unchanged, and a key
read over REST has the values the client's key has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from binderhub_registry.errors import CredentialsRejected, InvalidConfiguration
from binderhub_registry.progress import Progress
from binderhub_registry.providers.google.api import NOT_FOUND, GoogleCalls
from binderhub_registry.providers.google.iam import Iam, parse_timestamp
from google.api_core import exceptions as gexc
from google.cloud import iam_admin_v1
from google.protobuf import any_pb2, json_format

from tests.fixtures_google import AR_HOST, BUILDER, PROJECT, google_values
from tests.helpers import write_values

ACCOUNT = f"projects/{PROJECT}/serviceAccounts/{BUILDER}"
USER_MANAGED: Any = iam_admin_v1.ListServiceAccountKeysRequest.KeyType.USER_MANAGED
IAM_CLIENT = "google.cloud.iam_admin_v1"

RUN_AND_LIST_MODULES = """
import json, sys
from binderhub_registry.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def raised(call: Any) -> gexc.GoogleAPICallError:
    with pytest.raises(gexc.GoogleAPICallError) as caught:
        call()
    return caught.value


def same_error(ours: gexc.GoogleAPICallError, theirs: gexc.GoogleAPICallError) -> None:
    """The generated gRPC client's exception as REST raises it (api_core names REST errors by their
    HTTP status: 403 is Forbidden, whose gRPC subclass is PermissionDenied); ours prefixes the
    message with METHOD URL, as every REST client does."""
    assert isinstance(theirs, type(ours)) and type(ours) is gexc.from_http_status(theirs.code, "").__class__
    assert ours.code == theirs.code
    assert ours.message.split(": ", 1)[1] == theirs.message
    assert ours.reason == theirs.reason and ours.domain == theirs.domain and ours.metadata == theirs.metadata
    assert ours.details == [as_json(detail) for detail in theirs.details]  # REST carries them as JSON


def as_json(detail: Any) -> dict[str, Any]:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return json_format.MessageToDict(packed)


def reads(principal: Any, google_cloud: Any) -> tuple[Iam, Any]:
    """Our REST reads and the generated gRPC client, both as ``principal``, on the same endpoint."""
    endpoint = "http://" + google_cloud.endpoints.iam_target
    return Iam(principal.credentials(), endpoint), google_cloud.iam_client(principal.credentials())


def sentence(principal: Any, call: Any, permission: str) -> str:
    with pytest.raises((CredentialsRejected, InvalidConfiguration)) as refused:
        GoogleCalls(Progress("text"), PROJECT, principal.email)("read service account " + BUILDER, permission, call)
    return refused.value.message


def both_reads(ours: Iam, theirs: Any) -> list[tuple[Any, Any, str]]:
    return [
        (lambda: ours.get_service_account(ACCOUNT), lambda: theirs.get_service_account(request={"name": ACCOUNT}),
         "iam.serviceAccounts.get"),
        (lambda: ours.list_user_managed_keys(ACCOUNT),
         lambda: theirs.list_service_account_keys(request={"name": ACCOUNT, "key_types": [USER_MANAGED]}),
         "iam.serviceAccountKeys.list"),
    ]


def test_a_disabled_iam_api_is_the_grpc_clients_403_and_says_enable_it(google_cloud, google_admin):
    google_cloud.state.add_service_account(PROJECT, "binderhub-builder")
    google_cloud.state.set_api_enabled(PROJECT, "iam.googleapis.com", False)
    for ours, theirs, permission in both_reads(*reads(google_admin, google_cloud)):
        error = raised(ours)
        same_error(error, raised(theirs))
        assert isinstance(error, gexc.Forbidden) and error.reason == "SERVICE_DISABLED"
        assert sentence(google_admin, ours, permission) == sentence(google_admin, theirs, permission)
        assert sentence(google_admin, ours, permission).startswith("The iam.googleapis.com API is not enabled in project binder-test")


def test_a_denied_read_is_the_grpc_clients_403_and_names_the_role(google_cloud, make_google_principal):
    nobody = make_google_principal("nobody", roles=[])
    google_cloud.state.add_service_account(PROJECT, "binderhub-builder")
    for ours, theirs, permission in both_reads(*reads(nobody, google_cloud)):
        error = raised(ours)
        same_error(error, raised(theirs))
        assert isinstance(error, gexc.Forbidden) and error.metadata == {"permission": permission}
        assert sentence(nobody, ours, permission) == sentence(nobody, theirs, permission)
        assert f"may not read service account {BUILDER} (permission {permission} denied" in sentence(nobody, ours, permission)


def test_a_missing_account_is_the_grpc_clients_404_and_an_expected_answer(google_cloud, google_admin):
    for ours, theirs, permission in both_reads(*reads(google_admin, google_cloud)):
        error = raised(ours)
        same_error(error, raised(theirs))
        assert isinstance(error, gexc.NotFound)
        calls = GoogleCalls(Progress("text"), PROJECT, google_admin.email)
        assert calls("read service account " + BUILDER, permission, ours, expect=(NOT_FOUND,)) == NOT_FOUND


def test_keys_read_over_rest_are_the_grpc_clients_user_managed_keys(google_cloud, google_admin):
    state = google_cloud.state
    state.add_service_account(PROJECT, "binderhub-builder")
    first, second = state.create_key(BUILDER), state.create_key(BUILDER)
    state.key(second["private_key_id"]).disabled = True
    ours, theirs = reads(google_admin, google_cloud)
    assert ours.get_service_account(ACCOUNT)["email"] == BUILDER
    listed = ours.list_user_managed_keys(ACCOUNT)
    expected = theirs.list_service_account_keys(request={"name": ACCOUNT, "key_types": [USER_MANAGED]}).keys
    assert [(k.name, k.disabled, k.valid_after_time) for k in listed] == [
        (k.name, k.disabled, k.valid_after_time) for k in expected]
    assert [k.name.rsplit("/", 1)[1] for k in listed] == [first["private_key_id"], second["private_key_id"]]
    assert [k.disabled for k in listed] == [False, True]
    assert len(state.service_accounts[BUILDER].keys) > 2  # system-managed keys exist and are not listed
    assert all(k.valid_after_time is not None and k.valid_after_time.tzinfo is not None for k in listed)


def provision_listing_modules(kube_api, tmp_path: Path, values: dict[str, Any]) -> set[str]:
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, "binder")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "BINDERHUB_REGISTRY_RETRY_SECONDS": "0.05"}
    proc = subprocess.run([sys.executable, "-c", RUN_AND_LIST_MODULES, "provision", "--values",
                           str(write_values(tmp_path / "values.yaml", values))], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.splitlines()[-1])
    assert outcome["code"] == 0
    return set(outcome["modules"])


def test_a_steady_state_rerun_reads_iam_without_the_generated_client(kube_api, tmp_path, google_cloud, google_adc, google_registry):
    values = google_values(google_cloud, google_registry(AR_HOST))
    first = provision_listing_modules(kube_api, tmp_path, values)
    assert IAM_CLIENT in first  # the first run writes (account, key) through google-cloud-iam
    assert {c.method for c in google_cloud.state.writes()} >= {"CreateServiceAccount", "CreateServiceAccountKey"}
    before = len(google_cloud.state.calls)
    rerun = provision_listing_modules(kube_api, tmp_path, values)
    assert [m for m in rerun if m == IAM_CLIENT or m.startswith(IAM_CLIENT + ".")] == []
    # nor the API error classes, with the gRPC runtime they import, while no call fails
    assert [m for m in rerun if m in ("google.api_core.exceptions", "grpc")] == []
    iam_calls = [(c.method, c.code) for c in google_cloud.state.calls[before:] if c.service == "iam"]
    assert iam_calls == [("GetServiceAccount", "OK"), ("ListServiceAccountKeys", "OK")]
    assert len(google_cloud.state.writes()) == 4


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-29T11:16:32.123456789Z", datetime(2026, 11, 29, 11, 16, 32, 123456, tzinfo=UTC)),
    ("2026-11-29T11:16:32+02:00", datetime(2026, 11, 29, 9, 16, 32, tzinfo=UTC)),  # RFC 3339 allows an offset
    ("2026-11-29T11:16:32", None),  # no zone: no moment
    ("", None),
    ("yesterday", None),
])
def test_key_times_are_moments_in_utc_or_none(text, expected):
    """A key's validAfterTime decides which keys are older (revocation); its offset counts."""
    assert parse_timestamp(text) == expected
