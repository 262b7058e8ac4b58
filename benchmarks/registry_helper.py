#!/usr/bin/env python3
"""Latency and token mints of the registry helper (`binderhub-registry serve`'s application)
under the load of many simultaneous BinderHub launches: 200 image lookups and 50 token requests
at once, on loopback, against the Google stand-ins (GKE metadata server, IAM Credentials,
Artifact Registry API) and the real registry behind Google's token decision.

Prints p50/p99 latency per kind and the number of token mints (target: one per token lifetime,
not one per request). Figures on the project's 2-core machines include the stand-ins, which
share the CPU with the helper."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from binderhub_registry.helper_service.config import HelperConfig  # noqa: E402
from tests.binderhub_external_helper import ExternalRegistryHelperClient, build_pod_environment, build_pod_push  # noqa: E402
from tests.helper_load import run_load  # noqa: E402
from tests.helper_service_runner import running_helper  # noqa: E402
from tests.stand_ins.google_cloud import GoogleCloud, google_token_server  # noqa: E402
from tests.stand_ins.google_workload_identity import (  # noqa: E402
    GkeMetadataServer,
    IamCredentialsServer,
    PodIdentity,
    grant_on_account,
    minted_for,
)
from tests.stand_ins.registry import Registry  # noqa: E402

PROJECT, LOCATION, REPOSITORY = "binder-test", "us-central1", "binder"
BUILDER = f"binderhub-builder@{PROJECT}.iam.gserviceaccount.com"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(kind: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(f"{kind:<14} n={len(ms):<4} p50 {percentile(ms, 0.5):7.1f} ms   p99 {percentile(ms, 0.99):7.1f} ms"
          f"   mean {statistics.fmean(ms):7.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--connections", type=int, default=64, help="client connection pool size")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with GoogleCloud(PROJECT) as cloud, IamCredentialsServer(cloud.state) as iam_credentials:
        state = cloud.state
        state.add_service_account(PROJECT, BUILDER.split("@")[0])
        repository = state.add_repository(PROJECT, LOCATION, REPOSITORY).name
        state.grant_repository_role(repository, BUILDER, "roles/artifactregistry.writer")
        pod = PodIdentity(PROJECT, "binder", "binderhub-registry-helper")
        grant_on_account(state, BUILDER, pod.member, "roles/iam.workloadIdentityUser")
        tokens = google_token_server(cloud.authorizer(f"{LOCATION}-docker.pkg.dev")).start()
        with GkeMetadataServer(state, pod) as metadata, Registry("token", token_server=tokens) as registry:
            config = HelperConfig(registry_url=registry.url, image_path=f"{PROJECT}/{REPOSITORY}/binder-",
                                  repository=repository, builder=BUILDER, iam_credentials_endpoint=iam_credentials.url,
                                  artifact_registry_endpoint=cloud.endpoints.artifact_registry, metadata_host=metadata.host)
            names = [f"{PROJECT}/{REPOSITORY}/binder-bench-{i}" for i in range(20)]
            with running_helper(config) as helper:
                with ExternalRegistryHelperClient(helper.url, helper.auth_token) as binderhub:
                    for name in names[:10]:
                        _, credentials = binderhub.launch(f"{registry.host}/{name}:t0")
                        build_pod_push(build_pod_environment(credentials or {}), f"{registry.host}/{name}:t0")
                lookups: list[float] = []
                token_requests: list[float] = []
                for _ in range(args.rounds):
                    result = run_load(helper.url, helper.auth_token, names, args.lookups, args.tokens, args.connections)
                    if set(result.lookup_statuses) - {200, 404} or set(result.token_statuses) != {200}:
                        raise SystemExit(f"unexpected answers: {sorted(set(result.lookup_statuses + result.token_statuses))}")
                    lookups += result.lookup_seconds
                    token_requests += result.token_seconds
                print(f"{args.rounds} rounds of {args.lookups} image lookups + {args.tokens} token requests at once, "
                      f"{args.connections} connections")
                report("image lookup", lookups)
                report("token request", token_requests)
                print(f"token mints: helper {helper.app.tokens.mints if helper.app.tokens else 0}, "
                      f"IAM Credentials generateAccessToken for the builder {minted_for(state, BUILDER)} "
                      f"(token lifetime {config.token_lifetime_seconds} s, handed out while >= {config.min_remaining_seconds} s left)")
        tokens.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
