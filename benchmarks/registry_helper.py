#!/usr/bin/env python3
"""Latency and token mints of the registry helper (`binderhub-registry serve`'s application)
under the load of many simultaneous BinderHub launches: 200 image lookups and 50 token requests
at once, on loopback, sent to `binderhub-registry serve` running as its own process, against the Google stand-ins
(GKE metadata server, IAM Credentials,
Artifact Registry API) and the real registry behind Google's token decision.

Prints p50/p99 latency per kind and the number of token mints (target: one per token lifetime,
not one per request). Figures on the project's 2-core machines include the stand-ins, which
share the CPU with the helper."""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helper_load import run_load  # noqa: E402
from tests.helper_service_runner import AUTH_TOKEN  # noqa: E402
from tests.stand_ins.binderhub_external_helper import ExternalRegistryHelperClient, build_pod_environment, build_pod_push  # noqa: E402
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
    print(f"{kind:<24} n={len(ms):<4} p50 {percentile(ms, 0.5):7.1f} ms   p99 {percentile(ms, 0.99):7.1f} ms"
          f"   mean {statistics.fmean(ms):7.1f} ms")


def serve_process(
    values_file: Path, token_file: Path, metadata_host: str
) -> tuple[subprocess.Popen[str], str, list[dict], threading.Thread]:
    """`binderhub-registry serve` as its own process (as in its pod), its URL, and its log lines
    (read all along, as a container runtime does: a full pipe would stall the helper)."""
    env = {**os.environ, "GCE_METADATA_HOST": metadata_host}
    proc = subprocess.Popen([sys.executable, "-m", "binderhub_registry", "serve", "--values", str(values_file), "--listen", "127.0.0.1:0",
                             "--auth-token-file", str(token_file), "--drain-seconds", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event["event"] == "listening":
            lines: list[dict] = []
            reader = threading.Thread(target=lambda found=lines: found.extend(json.loads(text) for text in proc.stdout or []), daemon=True)
            reader.start()
            return proc, f"http://127.0.0.1:{event['port']}", lines, reader
    raise SystemExit(f"the helper did not start: {proc.stderr.read() if proc.stderr else ''}")


def stop(proc: subprocess.Popen[str], lines: list[dict], reader: threading.Thread) -> int:
    """SIGTERM, then the mint count from its last log line; the helper's own time per request."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    reader.join(30)
    requests = [event for event in lines if event["event"] == "request"]
    for kind in ("repo", "image", "token"):
        inside = [event["ms"] / 1000 for event in requests if event["path"].startswith(f"/{kind}/")]
        if inside:
            report(f"in the helper: /{kind}/", inside)
    mints = next((event["mints"] for event in lines if event["event"] == "stopped"), -1)
    print(f"helper process: {len(requests)} request log lines, exit {proc.returncode}")
    return int(mints)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--connections", type=int, default=64, help="client connection pool size")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with GoogleCloud(PROJECT) as cloud, IamCredentialsServer(cloud.state) as iam_credentials, \
            tempfile.TemporaryDirectory() as tmp:
        state = cloud.state
        state.add_service_account(PROJECT, BUILDER.split("@")[0])
        repository = state.add_repository(PROJECT, LOCATION, REPOSITORY).name
        state.grant_repository_role(repository, BUILDER, "roles/artifactregistry.writer")
        pod = PodIdentity(PROJECT, "binder", "binderhub-registry-helper")
        grant_on_account(state, BUILDER, pod.member, "roles/iam.workloadIdentityUser")
        tokens = google_token_server(cloud.authorizer(f"{LOCATION}-docker.pkg.dev")).start()
        with GkeMetadataServer(state, pod) as metadata, Registry("token", token_server=tokens) as registry:
            values = {"registry": {"type": "artifact-registry",
                                   "artifactRegistry": {"project": PROJECT, "location": LOCATION, "repository": REPOSITORY},
                                   "google": {"credential": "workload-identity", "registryUrl": registry.url,
                                              "endpoints": {"iamCredentials": iam_credentials.url,
                                                            "artifactRegistry": cloud.endpoints.artifact_registry}}},
                      "registryHelper": {"name": pod.service_account, "namespace": pod.namespace}}
            values_file, token_file = Path(tmp) / "values.yaml", Path(tmp) / "token"
            values_file.write_text(yaml.safe_dump(values))
            token_file.write_text(AUTH_TOKEN)
            names = [f"{PROJECT}/{REPOSITORY}/binder-bench-{i}" for i in range(20)]
            proc, url, lines, reader = serve_process(values_file, token_file, metadata.host)
            try:
                with ExternalRegistryHelperClient(url, AUTH_TOKEN) as binderhub:
                    for name in names[:10]:
                        _, credentials = binderhub.launch(f"{registry.host}/{name}:t0")
                        build_pod_push(build_pod_environment(credentials or {}), f"{registry.host}/{name}:t0")
                lookups: list[float] = []
                token_requests: list[float] = []
                for _ in range(args.rounds):
                    result = run_load(url, AUTH_TOKEN, names, args.lookups, args.tokens, args.connections)
                    if set(result.lookup_statuses) - {200, 404} or set(result.token_statuses) != {200}:
                        raise SystemExit(f"unexpected answers: {sorted(set(result.lookup_statuses + result.token_statuses))}")
                    lookups += result.lookup_seconds
                    token_requests += result.token_seconds
            finally:
                mints = stop(proc, lines, reader)
            print(f"{args.rounds} rounds of {args.lookups} image lookups + {args.tokens} token requests at once, "
                  f"{args.connections} connections, helper in its own process")
            print("at the client (from the burst's start, so including waits for a free connection):")
            report("image lookup", lookups)
            report("token request", token_requests)
            print(f"token mints: helper {mints}, IAM Credentials generateAccessToken for the builder {minted_for(state, BUILDER)} "
                  f"(one per token lifetime: 3600 s, handed out while >= 900 s left)")
        tokens.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
