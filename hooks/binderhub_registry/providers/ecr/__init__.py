"""Amazon ECR (registry.type ecr): no key reaches BinderHub. BinderHub asks the registry helper,
which creates a repository per image and hands out ECR's 12-hour tokens (``helper_service``).

The hook, with the pod's AWS identity (IRSA, EKS Pod Identity, or access keys from a Secret):
reads the identity and its account (STS ``GetCallerIdentity``), proves push on a probe repository
(created when missing, with a write-ahead note; an upload session started and cancelled with a
``GetAuthorizationToken`` token; deleted again when the hook created it), and writes the settings
that point BinderHub at the helper. Each AWS permission it lacks fails in one sentence naming it.

User pods pull (``registry.ecr.pullSecret``) with the node's IAM role (``none``: the pull Secret
holds no credentials) or, with ``helper``, with an ECR token in the pull Secret: the hook writes the
one it proved push with, the registry helper renews it (``helper_service/pull_secret.py``).
"""

from __future__ import annotations

import re
from typing import Any

from binderhub_registry.credentials import GIVEN
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.providers.base import NOTHING_DISCOVERED, Credential, Discovered, InputCredentials, Obtained, Provider
from binderhub_registry.providers.ecr.target import EcrTarget, ecr_target, token_credentials
from binderhub_registry.providers.google.workload_identity import registry_helper
from binderhub_registry.settings import RegistrySettings, probe_name
from binderhub_registry.state import CurrentState, Intent
from binderhub_registry.values import Values

ACCOUNT_VALUE = "registry.ecr.account"
PULL_SECRET_HELPER = "helper"  # registry.ecr.pullSecret: the registry helper renews an ECR token in the pull Secret
ECR_HOST = re.compile(r"([0-9]{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?")


class EcrProvider(Provider):
    type = "ecr"
    secret_keys = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: dict[str, Any] = self.registry_values.get("ecr") or {}
        self.account = str(self.config.get("account") or "")
        self._pull: Credential | None = None  # pullSecret helper: the token proven to push, for the pull Secret

    @classmethod
    def needs_cluster(cls, values: Values) -> bool:
        return False  # the identity is the pod's (or environment variables), not a Secret the hook reads

    def target(self, account: str) -> EcrTarget:
        return ecr_target(self.registry_values, account)

    def settings(self, discovered: Discovered = NOTHING_DISCOVERED) -> RegistrySettings:
        account = self.account or discovered.account
        if not account:
            raise InvalidConfiguration(f"{ACCOUNT_VALUE} is empty; set the AWS account id of the registry (provision reads it from STS).")
        target = self.target(account)
        host = target.url.split("://", 1)[1]
        return RegistrySettings(
            type=self.type,
            registry_url=target.url,
            auth_key=target.url,
            image_prefix=f"{host}/{target.image_path}",
            token_url="",
            probe_repository=_probe(target),
            helper_url=registry_helper(self.values).url,
        )

    def helper_probe(self) -> str:
        return _probe(self.target(self.account))

    def helper_discovered(self, registry: str) -> Discovered:
        """The account of an ECR registry host (``<account>.dkr.ecr.<region>.amazonaws.com``)."""
        match = ECR_HOST.fullmatch(registry.split("://")[-1].rstrip("/"))
        return Discovered(account=match[1]) if match else NOTHING_DISCOVERED

    # -- obtain ----------------------------------------------------------------------------

    def _aws(self) -> tuple[Any, Any, Any]:
        from binderhub_registry.providers.ecr.aws import AwsCalls, clients  # noqa: PLC0415  (boto3 only here)

        region = self.target(self.account or "000000000000").region
        sts, ecr = clients(region)
        return sts, ecr, AwsCalls(region)

    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Obtained:
        sts, ecr, calls = self._aws()
        identity = calls("read the hook's AWS identity", "sts:GetCallerIdentity", sts.get_caller_identity)
        arn, account = str(identity.get("Arn") or ""), self.account or str(identity.get("Account") or "")
        self.progress.step(f"AWS identity {arn}, registry account {account}, region {self.target(account).region}")
        settings = self.settings(Discovered(account=account))
        self._prove(ecr, calls, settings, account, current)
        credential = Credential("", "", credential_id=f"aws:{arn}", origin=GIVEN)
        return Obtained(credential, settings)

    def obtain_pull(self, current: CurrentState, given: InputCredentials | None) -> Credential | None:
        """pullSecret helper: the ECR token the hook proved push with (the helper renews it);
        none: no credentials, the nodes pull with their IAM role."""
        return self._pull if self.config.get("pullSecret") == PULL_SECRET_HELPER else None

    def pull_description(self, credential: Credential | None) -> str:
        if credential is None:
            return "no credentials (registry.ecr.pullSecret none): the kubelet pulls with the node's IAM role"
        return "an ECR token (12 hours) that the registry helper renews; it can do what the helper's AWS identity can, push too"

    def _prove(self, ecr: Any, calls: Any, settings: RegistrySettings, account: str, current: CurrentState) -> dict[str, Any]:
        from binderhub_registry.providers.ecr.repositories import Repositories  # noqa: PLC0415
        from binderhub_registry.providers.generic import prove_on_registry  # noqa: PLC0415

        repositories = Repositories(ecr, calls, self.target(account))
        probe = settings.probe_repository
        left = current.intent.ecr_probe_repository
        if left and left != probe and repositories.delete(left):
            self.progress.step(f"deleted the probe repository {left} an interrupted run left")
        created = False
        if not repositories.exists(probe):
            self.record_intent(Intent(ecr_probe_repository=probe))
            created = repositories.create(probe)
            self.progress.step(f"created the probe repository {probe}")
        try:
            token, _expires, _endpoint = repositories.authorization()
            username, password = token_credentials(token)
            self.progress.add_secret(token)
            self.progress.add_secret(password)
            self._pull = Credential(username, password, credential_id=f"ecr-token:{account}", origin=GIVEN)
            summary, _token_url = prove_on_registry(
                settings.registry_url, probe, username, password, self.progress, "registry.ecr.registryUrl", "the ECR authorization token"
            )
        finally:  # proven or not, the probe repository the hook made goes (its note stays until it is gone)
            if created or left == probe:
                repositories.delete(probe)
                self.progress.step(f"deleted the probe repository {probe}")
        self.record_intent(Intent())
        return summary

    def prove(self, username: str, password: str) -> dict[str, Any]:
        raise InvalidConfiguration("registry.type ecr has no credential to check in the Secret; `check --registry-helper` asks the helper.")

    def cleanup(self, current: CurrentState) -> None:
        """Delete the probe repositories: the one `helm test` made through the registry helper, and
        one an interrupted run noted. The repositories BinderHub pushed to stay (the user's images)."""
        from binderhub_registry.providers.ecr.repositories import Repositories  # noqa: PLC0415

        sts, ecr, calls = self._aws()
        account = self.account or str(calls("read the hook's AWS identity", "sts:GetCallerIdentity", sts.get_caller_identity)["Account"])
        repositories = Repositories(ecr, calls, self.target(account))
        for probe in dict.fromkeys(p for p in (self.helper_probe(), current.intent.ecr_probe_repository) if p):
            self.progress.step(f"probe repository {probe}: {'deleted' if repositories.delete(probe) else 'not there'}")
        self.progress.step("the repositories BinderHub pushed to stay")
        self.record_intent(Intent())


def _probe(target: EcrTarget) -> str:
    return f"{target.repository_prefix}/{probe_name(target.prefix)}"
