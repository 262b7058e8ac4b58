"""Where ECR images go, from values alone (no AWS call): the registry host of an account and
region, the repository path BinderHub pushes under, the lifecycle policy of the repositories the
registry helper creates, and the credentials an ECR authorization token stands for."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from binderhub_registry.errors import InvalidConfiguration

# ECR's registry login: user AWS, the password inside the base64 authorization token.
ECR_USER = "AWS"
# GetAuthorizationToken's tokens live 12 hours.
TOKEN_LIFETIME_SECONDS = 12 * 3600
# The registry helper renews its token this long before it ends: builds get a token with at least
# 6 hours to live, and one GetAuthorizationToken serves every build for 6 hours.
TOKEN_RENEW_BEFORE_SECONDS = 6 * 3600


@dataclass(frozen=True)
class EcrTarget:
    region: str
    account: str
    repository_prefix: str  # registry.ecr.repositoryPrefix: repositories are <this>/<registry.prefix><name>
    prefix: str  # registry.prefix
    registry_url: str = ""  # registry.ecr.registryUrl: instead of https://<host> (proxies, tests)
    lifecycle_days: int = 0
    scan_on_push: bool = False

    @property
    def host(self) -> str:
        """ECR's registry host of the account and region (``.amazonaws.com.cn`` in China)."""
        suffix = "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        return f"{self.account}.dkr.ecr.{self.region}.{suffix}"

    @property
    def url(self) -> str:
        return self.registry_url.rstrip("/") or f"https://{self.host}"

    @property
    def image_path(self) -> str:
        """What every repository BinderHub pushes to starts with (no host)."""
        return f"{self.repository_prefix}/{self.prefix}"


def ecr_target(registry_values: dict[str, Any], account: str) -> EcrTarget:
    config = registry_values.get("ecr") or {}
    region = str(config.get("region") or "")
    if not region:
        raise InvalidConfiguration("registry.ecr.region is empty; set the AWS region of the registry, e.g. eu-west-1.")
    return EcrTarget(
        region=region,
        account=account,
        repository_prefix=str(config.get("repositoryPrefix") or "binder").strip("/"),
        prefix=str(registry_values.get("prefix") or ""),
        registry_url=str(config.get("registryUrl") or ""),
        lifecycle_days=int(config.get("lifecycleDays") or 0),
        scan_on_push=bool(config.get("scanOnPush")),
    )


def lifecycle_policy(days: int) -> str:
    """ECR lifecycle policy text expiring every image ``days`` days after its push."""
    rule = {
        "rulePriority": 1,
        "description": f"BinderHub images expire {days} days after their push",
        "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days},
        "action": {"type": "expire"},
    }
    return json.dumps({"rules": [rule]}, separators=(",", ":"))


def token_credentials(authorization_token: str) -> tuple[str, str]:
    """(username, password) of an ECR authorization token: base64 of ``AWS:<password>``."""
    try:
        username, sep, password = base64.b64decode(authorization_token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep, username, password = "", "", ""
    if not sep or not password:
        raise InvalidConfiguration("ECR answered GetAuthorizationToken with a token that is not base64 of user:password.")
    return username, password
