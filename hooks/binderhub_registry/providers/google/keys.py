"""The key lifecycle of the builder service account: list, create under write-ahead notes,
revoke, and delete what a crashed run left behind.

A hook killed between creating a key and writing the Secret leaves a key nobody uses. The
write-ahead note names that key once its creation returned; before that, it can only be a key of
the account created within moments of the note (CREATION_WINDOW), so keys others create later are
never touched."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.faults import checkpoint
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import IntentRecorder
from binderhub_registry.providers.google.api import NOT_FOUND, GoogleCalls
from binderhub_registry.providers.google.iam import AccountKey, Iam
from binderhub_registry.providers.google.propagation import Propagation
from binderhub_registry.providers.google.target import account_name, key_id, key_text
from binderhub_registry.state import CurrentState, Intent

MAX_KEYS = 10
CLOCK_SKEW = timedelta(seconds=60)
# The key creation call follows the note at once (with retries, well within this).
CREATION_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class AccountKeys:
    """The user-managed keys of one service account, through the admin's clients."""

    calls: GoogleCalls
    iam: Iam
    account: str
    progress: Progress
    record_intent: IntentRecorder

    def listed(self, missing_ok: bool = False) -> list[AccountKey] | None:
        """The account's user-managed keys; None when it is not found and ``missing_ok``."""
        response = self.calls(
            "list the keys of " + self.account,
            "iam.serviceAccountKeys.list",
            partial(self.iam.list_user_managed_keys, account_name(self.account)),
            expect=(NOT_FOUND,) if missing_ok else (),
        )
        return None if response == NOT_FOUND else list(response)

    def list_when_known(self, propagation: Propagation, new_account: bool) -> list[AccountKey]:
        """The keys, waiting while IAM does not list the keys of an account created just now."""
        while (keys := self.listed(missing_ok=new_account)) is None:
            propagation.wait(f"IAM does not list the keys of the new {self.account} yet")
        return keys

    def revoke(self, keys: list[AccountKey], ids: set[str], why: str) -> list[AccountKey]:
        """Delete the keys with these ids among ``keys``; return the keys left."""
        left = []
        for key in keys:
            if key_id(key.name) not in ids:
                left.append(key)
                continue
            self.calls(
                f"delete key {key_id(key.name)} of {self.account}",
                "iam.serviceAccountKeys.delete",
                partial(self.iam.admin.delete_service_account_key, request={"name": key.name}),
                expect=(NOT_FOUND,),
            )
            self.progress.step(f"deleted {why}: {key_id(key.name)[:12]}...")
        return left

    def delete_leaked(self, current: CurrentState, keys: list[AccountKey]) -> list[AccountKey]:
        """Delete the key an interrupted run created and never used (see the module's doc)."""
        intent = current.intent
        if intent.key_account != self.account:
            return keys
        in_use = {current.credential_id, current.previous_credential_id}
        if intent.key_id:
            leaked = {intent.key_id} - in_use
        else:
            started = intent.key_creation_started
            if started is None:
                return keys
            leaked = {
                key_id(k.name)
                for k in keys
                if _created_between(k, started - CLOCK_SKEW, started + CREATION_WINDOW) and key_id(k.name) not in in_use
            }
        return self.revoke(keys, leaked, "a key an interrupted run created and never used")

    def create(self, keys: list[AccountKey], propagation: Propagation, new_account: bool) -> tuple[str, str]:
        """A new key (its file and id), noted before and after its creation."""
        if len(keys) >= MAX_KEYS:
            raise InvalidConfiguration(
                f"Service account {self.account} already has {len(keys)} user-managed keys, the most Google allows, and none "
                f"is one this tool created and no longer uses; delete keys nobody uses (gcloud iam service-accounts keys list "
                f"--iam-account {self.account})."
            )
        started = Intent(key_creation_started=datetime.now(UTC).replace(microsecond=0), key_account=self.account)
        self.record_intent(started)
        while (
            key := self.calls(
                "create a key for " + self.account,
                "iam.serviceAccountKeys.create",
                lambda: self.iam.admin.create_service_account_key(request={"name": account_name(self.account)}),
                expect=(NOT_FOUND,) if new_account else (),
            )
        ) == NOT_FOUND:
            propagation.wait(f"IAM does not let a key be made for the new {self.account} yet")
        text = key_text(key.private_key_data)
        self.progress.add_secret(text)
        kid = key_id(key.name)
        checkpoint("after-key-creation")
        self.record_intent(replace(started, key_id=kid))
        checkpoint("after-key-noted")
        self.progress.step(f"created key {kid[:12]}... for {self.account}")
        return text, kid

    def revoke_created(self, current: CurrentState) -> None:
        """Revoke the keys of this account that the Secret records as created by this tool."""
        keys = self.listed() or []
        keys = self.delete_leaked(current, keys)
        ours = {current.credential_id, current.previous_credential_id} - {""}
        left = self.revoke(keys, ours, f"key of {self.account} created by binderhub-registry")
        self.progress.step(f"{len(keys) - len(left)} key(s) of {self.account} revoked; the service account stays")


def _created_between(key: AccountKey, start: datetime, end: datetime) -> bool:
    """Whether a key was created within [start, end] (its valid_after_time is its creation)."""
    created = key.valid_after_time
    return created is not None and start <= created <= end
