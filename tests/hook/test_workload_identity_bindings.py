"""The hook's keyless Google building blocks against the stand-ins through the real clients:
bindings on the builder account's own policy, and tokens minted for the builder."""

from __future__ import annotations

import io

import pytest
from binderhub_registry.errors import CredentialsRejected, InvalidConfiguration
from binderhub_registry.progress import Progress
from binderhub_registry.providers.google import workload_identity as wi
from binderhub_registry.providers.google.api import GoogleCalls
from google.iam.v1 import policy_pb2
from google.type import expr_pb2

from tests.fixtures_google import BUILDER, PROJECT

ACCOUNT = f"projects/{PROJECT}/serviceAccounts/{BUILDER}"
MEMBER = wi.helper_member(PROJECT, "binder/binderhub-registry-helper")


def calls(admin) -> GoogleCalls:
    return GoogleCalls(Progress("text"), PROJECT, admin.email)


def test_bindings_are_added_once_and_removed_alone(google_cloud, builder, google_admin):
    iam = google_cloud.iam_client(google_admin.credentials())
    record = google_cloud.state.service_accounts[BUILDER]
    # The policy does not start empty: another role (held by the hook's identity too), and another
    # workload in the same role.
    other_workload = wi.helper_member(PROJECT, "other/another-helper")
    others = {"user:someone@example.org", f"serviceAccount:{google_admin.email}"}
    record.bindings["roles/iam.serviceAccountUser"] = set(others)
    record.bindings[wi.WORKLOAD_IDENTITY_USER] = {other_workload}
    wanted = [(wi.WORKLOAD_IDENTITY_USER, MEMBER), (wi.TOKEN_CREATOR, f"serviceAccount:{google_admin.email}")]
    assert wi.change_bindings(calls(google_admin), iam, ACCOUNT, add=wanted)
    assert not wi.change_bindings(calls(google_admin), iam, ACCOUNT, add=wanted)  # nothing to change: no write
    assert record.bindings[wi.WORKLOAD_IDENTITY_USER] == {other_workload, MEMBER}
    assert wi.change_bindings(calls(google_admin), iam, ACCOUNT, remove=wanted)
    assert record.bindings == {"roles/iam.serviceAccountUser": others, wi.WORKLOAD_IDENTITY_USER: {other_workload}}
    assert len([c for c in google_cloud.state.calls_of("SetIamPolicy") if c.code == "OK"]) == 2


def test_a_policy_changed_between_read_and_write_is_read_again_and_both_changes_stay(google_cloud, builder, google_admin):
    """Another admin changes the builder's policy between the hook's read and write: Google refuses
    the stale etag, and the hook reads again instead of losing its binding (or theirs)."""
    iam = google_cloud.iam_client(google_admin.credentials())
    record = google_cloud.state.service_accounts[BUILDER]
    google_cloud.state.concurrent_policy_changes.append(("roles/iam.serviceAccountUser", "user:other-admin@example.org"))
    assert wi.change_bindings(calls(google_admin), iam, ACCOUNT, add=[(wi.WORKLOAD_IDENTITY_USER, MEMBER)])
    assert record.bindings == {"roles/iam.serviceAccountUser": {"user:other-admin@example.org"}, wi.WORKLOAD_IDENTITY_USER: {MEMBER}}
    assert [c.code for c in google_cloud.state.calls_of("SetIamPolicy")] == ["ABORTED", "OK"]


def test_no_identity_pool_says_enable_workload_identity(google_cloud, builder, google_admin):
    google_cloud.project.workload_identity_pool = False
    iam = google_cloud.iam_client(google_admin.credentials())
    with pytest.raises(InvalidConfiguration) as refused:
        wi.change_bindings(calls(google_admin), iam, ACCOUNT, add=[(wi.WORKLOAD_IDENTITY_USER, MEMBER)])
    assert f"--workload-pool={PROJECT}.svc.id.goog" in refused.value.message


def test_token_minted_once_the_hook_may_act_as_the_builder(google_cloud, iam_credentials, builder, google_admin):
    def mint() -> str:
        return wi.mint_builder_token(google_admin.credentials(), BUILDER, iam_credentials.url)

    with pytest.raises(CredentialsRejected) as refused:
        wi.mint_polling(mint, Progress("text"), timeout=0, who=google_admin.email, builder=BUILDER)
    assert "serviceAccountTokenCreator" in refused.value.message
    iam = google_cloud.iam_client(google_admin.credentials())
    wi.change_bindings(calls(google_admin), iam, ACCOUNT, add=[(wi.TOKEN_CREATOR, f"serviceAccount:{google_admin.email}")])
    output = io.StringIO()
    progress = Progress("text", stream=output)
    token = wi.mint_polling(mint, progress, timeout=0, who=google_admin.email, builder=BUILDER)
    assert google_cloud.state.authenticate(f"Bearer {token}") == BUILDER
    progress.error(f"the registry echoed Bearer {token}")  # whatever prints it later, the token is masked
    assert token not in output.getvalue() and output.getvalue() == "error: the registry echoed Bearer ***\n"


def test_only_a_service_account_identity_is_bound_as_token_creator():
    """A hook running as a person (gcloud's user credentials) already may mint tokens as an owner:
    no `serviceAccount:` member is made up for a user, which Google would refuse."""
    assert wi.identity_member(f"hook@{PROJECT}.iam.gserviceaccount.com") == f"serviceAccount:hook@{PROJECT}.iam.gserviceaccount.com"
    assert wi.identity_member("alice@example.org") is None
    assert wi.identity_member("the hook's identity") is None


@pytest.mark.parametrize("service_account", ["/binderhub-registry-helper", "binder/", "binderhub-registry-helper", ""])
def test_a_helper_service_account_is_namespace_and_name(service_account):
    """No member is made for half a ServiceAccount (`PROJECT.svc.id.goog[/NAME]` names nobody)."""
    with pytest.raises(InvalidConfiguration) as refused:
        wi.helper_member(PROJECT, service_account)
    assert "must be NAMESPACE/NAME" in refused.value.message


def test_a_binding_is_never_added_to_a_conditional_one():
    """A user's conditional grant of the same role (say, until a date) is left as it is: the
    helper's member goes into an unconditional binding, which the policy gets if it has none.
    (On Google's own Policy message: the stand-in keeps no conditions.)"""
    policy = policy_pb2.Policy(bindings=[policy_pb2.Binding(
        role=wi.WORKLOAD_IDENTITY_USER, members=["user:temp@example.org"],
        condition=expr_pb2.Expr(expression='request.time < timestamp("2027-01-01T00:00:00Z")'))])
    assert wi._apply(policy, [(wi.WORKLOAD_IDENTITY_USER, MEMBER)], [])
    conditional, plain = policy.bindings
    assert list(conditional.members) == ["user:temp@example.org"] and conditional.condition.expression
    assert (plain.role, list(plain.members), plain.condition.expression) == (wi.WORKLOAD_IDENTITY_USER, [MEMBER], "")
