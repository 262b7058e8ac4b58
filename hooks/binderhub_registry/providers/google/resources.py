"""Ensure what the builder pushes with: the Artifact Registry repository, the builder service
account, and its writer role on the repository (not project-wide Storage Admin)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from binderhub_registry.errors import Unreachable
from binderhub_registry.progress import Progress
from binderhub_registry.providers.google.api import ACCOUNT_UNKNOWN, CONFLICT, NOT_FOUND, GoogleCalls
from binderhub_registry.providers.google.iam import Iam
from binderhub_registry.providers.google.propagation import Propagation
from binderhub_registry.providers.google.target import Target


@dataclass(frozen=True)
class Resources:
    """Through the admin's clients."""

    calls: GoogleCalls
    registry: Any
    iam: Iam
    progress: Progress
    propagation_timeout: float

    def ensure(self, target: Target) -> bool:
        """Ensure all three; whether the account was created just now (IAM then takes a while to know it)."""
        self.ensure_repository(target)
        new_account = self.ensure_service_account(target)
        self.ensure_role(target)
        return new_account

    def _ensure(
        self, noun: str, permissions: str, get: Callable[[], Any], create: Callable[[], Any], created: Callable[[Any], None] | None = None
    ) -> bool:
        """Read an object and create it when absent (``permissions``: the prefix of the .get and
        .create permissions; ``created`` waits on what the create call returned); whether it was
        created by this call (not when it existed, or another run created it meanwhile)."""
        if self.calls("read " + noun, permissions + ".get", get, expect=(NOT_FOUND,)) != NOT_FOUND:
            self.progress.step(f"{noun}: exists")
            return False
        answer = self.calls("create " + noun, permissions + ".create", create, expect=(CONFLICT,))
        if answer == CONFLICT:
            self.progress.step(f"{noun}: exists")
            return False
        if created is not None:
            created(answer)
        self.progress.step(f"{noun}: created")
        return True

    def ensure_repository(self, target: Target) -> None:
        repository = {"format": "DOCKER", "description": "Images built by BinderHub (binderhub-registry)"}
        parent = f"projects/{target.project}/locations/{target.location}"

        def wait(operation: Any) -> None:
            what = "wait for the repository to be created"
            self.calls(what, "artifactregistry.repositories.create", lambda: self.registry.wait(operation, timeout=120))

        self._ensure(
            "Artifact Registry repository " + target.repository_name,
            "artifactregistry.repositories",
            get=partial(self.registry.get_repository, target.repository_name),
            create=partial(self.registry.create_repository, parent, target.repository_id, repository),
            created=wait,
        )

    def ensure_service_account(self, target: Target) -> bool:
        """Whether the account was created just now."""
        account = {"display_name": "BinderHub image builder", "description": "Pushes BinderHub's images; managed by binderhub-registry"}
        request = {"name": f"projects/{target.project}", "account_id": target.account_id, "service_account": account}
        return self._ensure(
            "service account " + target.account_email,
            "iam.serviceAccounts",
            get=partial(self.iam.get_service_account, target.account_name),
            create=lambda: self.iam.admin.create_service_account(request=request),
        )

    def ensure_role(self, target: Target) -> None:
        member = f"serviceAccount:{target.account_email}"
        propagation = Propagation(self.progress, self.propagation_timeout)
        conflicts = 0
        while True:
            policy: Any = self.calls(
                "read the IAM policy of " + target.repository_name,
                "artifactregistry.repositories.getIamPolicy",
                lambda: self.registry.get_iam_policy(target.repository_name),
            )
            if any(b.get("role") == target.role and member in (b.get("members") or []) for b in policy.get("bindings") or []):
                self.progress.step(f"{target.role} on the repository: already granted to {target.account_email}")
                return
            _add_member(policy, target.role, member)
            result = self.calls(
                "grant " + target.role + " on " + target.repository_name,
                "artifactregistry.repositories.setIamPolicy",
                partial(self.registry.set_iam_policy, target.repository_name, policy),
                expect=(CONFLICT, ACCOUNT_UNKNOWN),
            )
            if result == ACCOUNT_UNKNOWN:
                propagation.wait(f"IAM does not know {target.account_email} yet")
                continue
            if result != CONFLICT:
                self.progress.step(f"{target.role} on the repository: granted to {target.account_email}")
                return
            conflicts += 1
            if conflicts == 5:
                break
            self.progress.warn(f"the repository's IAM policy changed meanwhile; reading it again (attempt {conflicts + 1} of 5)")
        raise Unreachable(f"The IAM policy of {target.repository_name} kept changing under the hook; try again.")


def _add_member(policy: dict[str, Any], role: str, member: str) -> None:
    bindings = policy.setdefault("bindings", [])
    binding = next((b for b in bindings if b.get("role") == role), None)
    if binding is None:
        binding = {"role": role, "members": []}
        bindings.append(binding)
    binding.setdefault("members", []).append(member)
