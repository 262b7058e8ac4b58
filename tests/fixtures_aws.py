"""Fixtures for registry.type ecr: moto's server (one per session, reset for each test), the
token front in front of it, and an ECR registry gate in front of the real distribution
(tests/stand_ins/aws.py says what each adds to moto and why)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.stand_ins.aws import DEFAULT_ACCOUNT, REGION, AwsClock, EcrRegistryGate, EcrTokenFront, MotoServer, access_keys, aws_env


@dataclass
class Aws:
    moto: MotoServer
    front: EcrTokenFront
    clock: AwsClock
    registry: EcrRegistryGate
    account: str = DEFAULT_ACCOUNT
    region: str = REGION

    def env(self, **extra: str) -> dict[str, str]:
        """A process with the default account's access keys (override with IRSA's variables)."""
        return aws_env(self.front.url, **{**access_keys(), **extra})

    def client(self, service: str) -> Any:
        import boto3  # noqa: PLC0415

        return boto3.session.Session(region_name=self.region, aws_access_key_id=access_keys()["AWS_ACCESS_KEY_ID"],
                                     aws_secret_access_key=access_keys()["AWS_SECRET_ACCESS_KEY"]).client(
            service, endpoint_url=self.front.url)

    def repositories(self) -> set[str]:
        from moto.ecr.models import ecr_backends  # noqa: PLC0415

        return set(ecr_backends[self.account][self.region].repositories)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws(moto_server: MotoServer, make_registry: Any) -> Iterator[Aws]:
    moto_server.reset()
    clock = AwsClock()
    front = EcrTokenFront(moto_server.url, clock).start()
    gate = EcrRegistryGate(make_registry("none").url, front, DEFAULT_ACCOUNT).start()
    yield Aws(moto_server, front, clock, gate)
    moto_server.enforce_iam(False)
    gate.stop()
    front.stop()
