"""The registry helper against the Google stand-ins and the real registry: ``keyless`` is one
helper as the hook leaves things (its pod's Workload Identity member may act as the builder);
``start_helper(**settings)`` starts more, with other limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from binderhub_registry.helper_service.config import HelperConfig

from tests.fixtures_google import AR_REPOSITORY, BUILDER, PROJECT
from tests.fixtures_workload_identity import HELPER_KSA, HELPER_NAMESPACE
from tests.helper_service_runner import RunningHelper, running_helper
from tests.stand_ins.google_workload_identity import grant_on_account, workload_identity_member

MEMBER = workload_identity_member(PROJECT, HELPER_NAMESPACE, HELPER_KSA)
IMAGE_PATH = f"{PROJECT}/binder/binder-"


def helper_config(google_cloud: Any, iam_credentials: Any, metadata: Any, registry: Any, **extra: Any) -> HelperConfig:
    settings: dict[str, Any] = {
        "registry_url": registry.url, "image_path": IMAGE_PATH, "repository": AR_REPOSITORY, "builder": BUILDER,
        "iam_credentials_endpoint": iam_credentials.url, "artifact_registry_endpoint": google_cloud.endpoints.artifact_registry,
        "metadata_host": metadata.host,
    }
    return HelperConfig(**(settings | extra))


@pytest.fixture
def start_helper(google_cloud, iam_credentials, builder, make_metadata, ar_registry) -> Iterator[Callable[..., RunningHelper]]:
    """The helper pod's identity is its own Workload Identity member (no annotation), bound to
    act as the builder, as the hook leaves it; each call starts one more helper."""
    grant_on_account(google_cloud.state, BUILDER, MEMBER, "roles/iam.workloadIdentityUser")
    metadata = make_metadata()
    with ExitStack() as stack:
        def start(**settings: Any) -> RunningHelper:
            config = helper_config(google_cloud, iam_credentials, metadata, ar_registry, **settings)
            helper = stack.enter_context(running_helper(config))
            helper.metadata = metadata
            return helper

        yield start


@pytest.fixture
def keyless(start_helper, ar_registry) -> dict[str, Any]:
    helper = start_helper()
    return {"helper": helper, "registry": ar_registry, "metadata": helper.metadata, "config": helper.app.config}
