"""Revoking keys through the real IAM client against the stand-in, where others act meanwhile."""

from __future__ import annotations

from binderhub_registry.progress import Progress
from binderhub_registry.providers.google.api import GoogleCalls
from binderhub_registry.providers.google.iam import AccountKey, Iam
from binderhub_registry.providers.google.keys import AccountKeys

from tests.fixtures_google import BUILDER, PROJECT


def test_a_key_someone_deleted_since_the_listing_is_revoked_without_an_error(google_cloud, builder, google_admin):
    """The hook lists the keys, then deletes those it should: a key another admin (or a parallel
    run) deleted in between answers NOT_FOUND, which is the outcome wanted, not a failure."""
    key_id = google_cloud.state.create_key(BUILDER)["private_key_id"]
    listed = [AccountKey(f"projects/{PROJECT}/serviceAccounts/{BUILDER}/keys/{key_id}", disabled=False, valid_after_time=None)]
    del google_cloud.state.service_accounts[BUILDER].keys[key_id]  # deleted in the console meanwhile
    iam = Iam(google_admin.credentials(), "http://" + google_cloud.endpoints.iam_target)
    keys = AccountKeys(GoogleCalls(Progress("text"), PROJECT, google_admin.email), iam, BUILDER, Progress("text"), lambda notes: None)
    assert keys.revoke(listed, {key_id}, "a key this test made") == []
    assert [c.code for c in google_cloud.state.calls_of("DeleteServiceAccountKey")] == ["NOT_FOUND"]
