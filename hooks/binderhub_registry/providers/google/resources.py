"""Ensure what the builder pushes with: the Artifact Registry repository, the builder service
account, and its writer role on the repository (not project-wide Storage Admin)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from binderhub_registry.errors import Unreachable
from binderhub_registry.progress import Progress
from binderhub_registry.providers.google.api import ACCOUNT_UNKNOWN, CONFLICT, NOT_FOUND, GoogleCalls
from binderhub_registry.providers.google.propagation import Propagation
from binderhub_registry.providers.google.target import Target


class Resources:
    def __init__(self, calls: GoogleCalls, registry: Any, iam: Any, progress: Progress, propagation_timeout: float) -> None:
        self.calls = calls
        self.registry = registry
        self.iam = iam
        self.progress = progress
        self.propagation_timeout = propagation_timeout

    def ensure(self, target: Target) -> bool:
        """Ensure all three; whether the account was created just now (IAM then takes a while to know it)."""
        self.ensure_repository(target)
        new_account = self.ensure_service_account(target)
        self.ensure_role(target)
        return new_account

    def _ensure(self, noun: str, get: tuple[str, Callable[[], Any]], create: tuple[str, Callable[[], Any]]) -> Any:
        """Read an object and create it when absent; None when it existed (or another run created
        it meanwhile), else what the create call returned."""
        if self.calls("read " + noun, get[0], get[1], expect=(NOT_FOUND,)) != NOT_FOUND:
            self.progress.step(f"{noun}: exists")
            return None
        created = self.calls("create " + noun, create[0], create[1], expect=(CONFLICT,))
        if created == CONFLICT:
            self.progress.step(f"{noun}: exists")
            return None
        return created

    def ensure_repository(self, target: Target) -> None:
        from google.cloud import artifactregistry_v1  # noqa: PLC0415

        repository = artifactregistry_v1.Repository(
            format_=artifactregistry_v1.Repository.Format.DOCKER, description="Images built by BinderHub (binderhub-registry)"
        )
        parent = f"projects/{target.project}/locations/{target.location}"
        noun = "Artifact Registry repository " + target.repository_name
        operation = self._ensure(
            noun,
            get=("artifactregistry.repositories.get", lambda: self.registry.get_repository(request={"name": target.repository_name})),
            create=(
                "artifactregistry.repositories.create",
                lambda: self.registry.create_repository(
                    request={"parent": parent, "repository_id": target.repository_id, "repository": repository}
                ),
            ),
        )
        if operation is not None:
            what = "wait for the repository to be created"
            self.calls(what, "artifactregistry.repositories.create", lambda: operation.result(timeout=120))
            self.progress.step(f"{noun}: created")

    def ensure_service_account(self, target: Target) -> bool:
        """Whether the account was created just now."""
        account = {"display_name": "BinderHub image builder", "description": "Pushes BinderHub's images; managed by binderhub-registry"}
        noun = "service account " + target.account_email
        created = self._ensure(
            noun,
            get=("iam.serviceAccounts.get", lambda: self.iam.get_service_account(request={"name": target.account_name})),
            create=(
                "iam.serviceAccounts.create",
                lambda: self.iam.create_service_account(
                    request={"name": f"projects/{target.project}", "account_id": target.account_id, "service_account": account}
                ),
            ),
        )
        if created is not None:
            self.progress.step(f"{noun}: created")
        return created is not None

    def ensure_role(self, target: Target) -> None:
        member = f"serviceAccount:{target.account_email}"
        propagation = Propagation(self.progress, self.propagation_timeout)
        conflicts = 0
        while True:
            policy: Any = self.calls(
                "read the IAM policy of " + target.repository_name,
                "artifactregistry.repositories.getIamPolicy",
                lambda: self.registry.get_iam_policy(request={"resource": target.repository_name}),
            )
            if any(b.role == target.role and member in b.members for b in policy.bindings):
                self.progress.step(f"{target.role} on the repository: already granted to {target.account_email}")
                return
            _add_member(policy, target.role, member)
            result = self.calls(
                "grant " + target.role + " on " + target.repository_name,
                "artifactregistry.repositories.setIamPolicy",
                partial(self.registry.set_iam_policy, request={"resource": target.repository_name, "policy": policy}),
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


def _add_member(policy: Any, role: str, member: str) -> None:
    binding = next((b for b in policy.bindings if b.role == role), None)
    if binding is None:
        binding = policy.bindings.add()
        binding.role = role
    binding.members.append(member)
