"""Fixtures for registry.type ecr: moto's server (one per session, reset for each test), the
token front in front of it, and an ECR registry gate in front of the real distribution
(tests/stand_ins/aws.py says what each adds to moto and why); ``node_aws`` puts the front and the
gate on the test cluster node's address for pods (marker ``cluster``)."""

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


def _aws(moto_server: MotoServer, make_registry: Any, address: str | None = None) -> Iterator[Aws]:
    """moto reset, its token front and the registry gate, on ``address`` (default loopback)."""
    moto_server.reset()
    clock = AwsClock()
    front = EcrTokenFront(moto_server.url, clock)
    if address:
        front.address = address
    front.start()
    gate = EcrRegistryGate(make_registry("none").url, front, DEFAULT_ACCOUNT)
    if address:
        gate.address = address
    gate.start()
    yield Aws(moto_server, front, clock, gate)
    moto_server.enforce_iam(False)
    gate.stop()
    front.stop()


@pytest.fixture
def aws(moto_server: MotoServer, make_registry: Any) -> Iterator[Aws]:
    yield from _aws(moto_server, make_registry)


@pytest.fixture
def node_aws(moto_server: MotoServer, make_registry: Any, cluster: Any) -> Iterator[Aws]:
    """As ``aws``, but the token front (AWS_ENDPOINT_URL) and the registry gate listen on the test
    cluster node's address, where pods reach them (moto and distribution stay on loopback, behind
    them); the node's containerd may pull from the gate over plain http."""
    from tests.cluster import layout as net  # noqa: PLC0415

    for aws in _aws(moto_server, make_registry, net.NODE_IP):
        cluster.allow_plain_http(aws.registry.host)
        yield aws
