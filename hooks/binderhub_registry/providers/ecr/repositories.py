"""ECR repositories, as the hook (the probe repository of its push proof) and the registry helper
(one repository per image BinderHub builds) make and remove them. ECR, unlike most registries,
refuses a push to a repository that does not exist: each must be created first."""

from __future__ import annotations

from typing import Any

from binderhub_registry.providers.ecr.aws import AwsCalls
from binderhub_registry.providers.ecr.target import EcrTarget, lifecycle_policy

NOT_FOUND = "RepositoryNotFoundException"
EXISTS = "RepositoryAlreadyExistsException"
IMAGE_NOT_FOUND = "ImageNotFoundException"


class Repositories:
    def __init__(self, ecr: Any, calls: AwsCalls, target: EcrTarget) -> None:
        self.ecr = ecr
        self.calls = calls
        self.target = target

    def exists(self, name: str) -> bool:
        found = self.calls(
            f"look up the ECR repository {name}", "ecr:DescribeRepositories",
            lambda: self.ecr.describe_repositories(registryId=self.target.account, repositoryNames=[name]), expect=(NOT_FOUND,),
        )
        return bool(found != NOT_FOUND)

    def create(self, name: str) -> bool:
        """Create ``name`` with scan on push and the lifecycle policy values ask for; False when it
        existed already (left as it is)."""
        created = self.calls(
            f"create the ECR repository {name}", "ecr:CreateRepository",
            lambda: self.ecr.create_repository(
                registryId=self.target.account, repositoryName=name,
                imageScanningConfiguration={"scanOnPush": self.target.scan_on_push},
            ),
            expect=(EXISTS,),
        )
        if created == EXISTS:
            return False
        if self.target.lifecycle_days:
            policy = lifecycle_policy(self.target.lifecycle_days)
            self.calls(
                f"set the lifecycle policy of the ECR repository {name}", "ecr:PutLifecyclePolicy",
                lambda: self.ecr.put_lifecycle_policy(registryId=self.target.account, repositoryName=name, lifecyclePolicyText=policy),
            )
        return True

    def delete(self, name: str) -> bool:
        """Delete ``name`` and its images; False when it did not exist."""
        deleted = self.calls(
            f"delete the ECR repository {name}", "ecr:DeleteRepository",
            lambda: self.ecr.delete_repository(registryId=self.target.account, repositoryName=name, force=True), expect=(NOT_FOUND,),
        )
        return bool(deleted != NOT_FOUND)

    def image_digest(self, name: str, tag: str) -> str | None:
        """The digest of ``name:tag``, or None when the image (or the repository) does not exist."""
        found = self.calls(
            f"look up the image {name}:{tag}", "ecr:DescribeImages",
            lambda: self.ecr.describe_images(registryId=self.target.account, repositoryName=name, imageIds=[{"imageTag": tag}]),
            expect=(NOT_FOUND, IMAGE_NOT_FOUND),
        )
        if found in (NOT_FOUND, IMAGE_NOT_FOUND):
            return None
        details = found.get("imageDetails") or [{}]
        return str(details[0].get("imageDigest") or "")

    def authorization(self) -> tuple[str, float, str]:
        """A new authorization token (base64 ``AWS:<password>``), when it expires (epoch seconds),
        and the registry endpoint it is for."""
        answer = self.calls(
            "get an ECR authorization token", "ecr:GetAuthorizationToken",
            lambda: self.ecr.get_authorization_token(registryIds=[self.target.account]),
        )
        data = (answer.get("authorizationData") or [{}])[0]
        expires = data.get("expiresAt")
        return str(data.get("authorizationToken") or ""), expires.timestamp() if expires is not None else 0.0, \
            str(data.get("proxyEndpoint") or "")
