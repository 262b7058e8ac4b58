#!/usr/bin/env python3
"""Latency the registry helper (`binderhub-registry serve`, in its own process) adds to a BinderHub
launch, measured with BinderHub's own client: ``binderhub.registry.ExternalRegistryHelper`` from
the BinderHub package in ../shared/upstream-wheels, on tornado's ``CurlAsyncHTTPClient`` (pycurl,
keep-alive) as BinderHub's image configures it.

Each round: 20 concurrent clients share 200 image lookups (``get_image_manifest``: ``GET /repo``
then ``GET /image``) and 50 token requests (``get_credentials``: ``POST /token``), interleaved;
then the 50 token requests alone (from the cache, nothing else in flight); then the same 200
lookups straight to the registry (``GET /v2/NAME/tags/list`` then ``HEAD
/v2/NAME/manifests/TAG`` with a cached pull token, what the helper forwards), through the same
client; then the floor of the HTTP stack: 50 ``GET /healthz/live`` (no work behind them) by the 20
clients; then the 50 token requests one at a time (what one build waits for); then the floor of
the client and the machine: the same 50 ``GET`` by the 20 clients to a do-nothing server
(``do_nothing_server.py``: a process of its own answering every request at once, no HTTP parsing,
no application). Latency is per
request at the client (not counting the wait for a free client), p50/p99.
Targets: the helper's lookup p99 at most twice the registry's; a token from the cache p99 <= 5 ms.
Behind the helper: the Google stand-ins (GKE metadata server, IAM Credentials, Artifact Registry
API) and the real registry behind Google's token decision, all on loopback on the same CPUs.

Needs pycurl and tornado (the `benchmark` extra, part of `test`; pycurl builds against
libcurl4-openssl-dev where it has no wheel): ./scripts/setup python && .venv/bin/python benchmarks/registry_helper.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import binderhub_client  # noqa: E402
from tests.helper_service_runner import AUTH_TOKEN  # noqa: E402
from tests.stand_ins.build_pod import build_pod_environment, build_pod_push  # noqa: E402
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


def binderhub_registry_module() -> object:
    """``binderhub.registry`` from BinderHub's wheel (pure Python: imported from the zip), on curl."""
    try:
        from tornado.httpclient import AsyncHTTPClient  # noqa: PLC0415

        registry = binderhub_client.binderhub_registry_module()
    except ImportError as exc:
        raise SystemExit(f"{exc.name} is missing: install the test extra (pip install -e '.[test]')") from None
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient", max_clients=64)
    return registry


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(kind: str, seconds: list[float]) -> tuple[float, float]:
    ms = [s * 1000 for s in seconds]
    p50, p99 = percentile(ms, 0.5), percentile(ms, 0.99)
    print(f"  {kind:<38} n={len(ms):<5} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return p50, p99


async def run_concurrently(jobs: list[Callable[[], Awaitable[object]]], clients: int) -> list[float]:
    """``clients`` workers take the jobs in order; each job's own time, not its wait."""
    queue: asyncio.Queue[Callable[[], Awaitable[object]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    seconds: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            job = queue.get_nowait()
            started = time.perf_counter()
            await job()
            seconds.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(clients)))
    return seconds


class Round:
    def __init__(self, helper: object, registry_url: str, pull_tokens: dict[str, str], names: list[str], args: argparse.Namespace,
                 floor_url: str) -> None:
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError  # noqa: PLC0415

        self.helper, self.registry_url, self.pull_tokens, self.names, self.args = helper, registry_url, pull_tokens, names, args
        self.floor_url = floor_url
        self.http = AsyncHTTPClient()
        self.not_found = HTTPClientError
        self.lookup_seconds: list[float] = []
        self.token_seconds: list[float] = []
        self.alone_token_seconds: list[float] = []
        self.registry_seconds: list[float] = []
        self.health_seconds: list[float] = []
        self.serial_token_seconds: list[float] = []
        self.floor_seconds: list[float] = []

    def lookup(self, i: int) -> Callable[[], Awaitable[object]]:
        async def job() -> None:
            started = time.perf_counter()
            await self.helper.get_image_manifest(self.names[i % len(self.names)], f"t{i % 4}")  # type: ignore[attr-defined]
            self.lookup_seconds.append(time.perf_counter() - started)
        return job

    def token(self, i: int, into: list[float]) -> Callable[[], Awaitable[object]]:
        async def job() -> None:
            started = time.perf_counter()
            credentials = await self.helper.get_credentials(self.names[i % len(self.names)], f"t{i}")  # type: ignore[attr-defined]
            into.append(time.perf_counter() - started)
            assert credentials and credentials["password"]
        return job

    def health(self) -> Callable[[], Awaitable[object]]:
        async def job() -> None:
            started = time.perf_counter()
            await self.http.fetch(f"{self.helper.service_url}/healthz/live")  # type: ignore[attr-defined]
            self.health_seconds.append(time.perf_counter() - started)
        return job

    def floor(self) -> Callable[[], Awaitable[object]]:
        async def job() -> None:
            started = time.perf_counter()
            await self.http.fetch(self.floor_url)
            self.floor_seconds.append(time.perf_counter() - started)
        return job

    def direct(self, i: int) -> Callable[[], Awaitable[object]]:
        name, tag = self.names[i % len(self.names)], f"t{i % 4}"

        async def job() -> None:
            headers = {"Authorization": f"Bearer {self.pull_tokens[name]}"}
            started = time.perf_counter()
            await self.http.fetch(f"{self.registry_url}/v2/{name}/tags/list?n=1", headers=headers)
            try:
                await self.http.fetch(f"{self.registry_url}/v2/{name}/manifests/{tag}", method="HEAD", headers=headers)
            except self.not_found as exc:
                if exc.code != 404:
                    raise
            self.registry_seconds.append(time.perf_counter() - started)
        return job

    async def run(self) -> None:
        lookups, tokens = self.args.lookups, self.args.tokens
        jobs = [self.lookup(i) for i in range(lookups)]
        every = max(1, (lookups + tokens) // max(tokens, 1))
        for i in range(tokens):  # interleaved, as launches come
            jobs.insert(min(i * every, len(jobs)), self.token(i, self.token_seconds))
        await run_concurrently(jobs, self.args.clients)
        await run_concurrently([self.token(i, self.alone_token_seconds) for i in range(tokens)], self.args.clients)
        await run_concurrently([self.direct(i) for i in range(lookups)], self.args.clients)
        await run_concurrently([self.health() for _ in range(tokens)], self.args.clients)
        await run_concurrently([self.token(i, self.serial_token_seconds) for i in range(tokens)], 1)
        await run_concurrently([self.floor() for _ in range(tokens)], self.args.clients)


def serve_process(values_file: Path, token_file: Path, metadata_host: str) -> tuple[subprocess.Popen[str], str, list[dict]]:
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
            threading.Thread(target=lambda found=lines: found.extend(json.loads(text) for text in proc.stdout or []), daemon=True).start()
            return proc, f"http://127.0.0.1:{event['port']}", lines
    raise SystemExit(f"the helper did not start: {proc.stderr.read() if proc.stderr else ''}")


def do_nothing_server() -> tuple[subprocess.Popen[str], str]:
    """The client's and the machine's floor: a process that answers every request at once."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("do_nothing_server.py"))], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{proc.stdout.readline().strip()}/"


def pull_tokens(registry: Registry, password: str, names: list[str]) -> dict[str, str]:
    """One pull token per repository, as the helper caches them, for the direct requests."""
    challenge = httpx.get(f"{registry.url}/v2/").headers["WWW-Authenticate"]
    fields = dict(part.split("=", 1) for part in challenge.split(" ", 1)[1].split(","))
    realm, service = fields["realm"].strip('"'), fields["service"].strip('"')
    tokens = {}
    for name in names:
        reply = httpx.get(realm, params={"scope": f"repository:{name}:pull", "service": service}, auth=("oauth2accesstoken", password))
        reply.raise_for_status()
        tokens[name] = reply.json()["token"]
    return tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (BinderHub's launches at once)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    registry_module = binderhub_registry_module()
    with GoogleCloud(PROJECT) as cloud, IamCredentialsServer(cloud.state) as iam_credentials, tempfile.TemporaryDirectory() as tmp:
        state = cloud.state
        state.add_service_account(PROJECT, BUILDER.split("@")[0])
        repository = state.add_repository(PROJECT, LOCATION, REPOSITORY).name
        state.grant_repository_role(repository, BUILDER, "roles/artifactregistry.writer")
        pod = PodIdentity(PROJECT, "binder", "binderhub-registry-helper")
        grant_on_account(state, BUILDER, pod.member, "roles/iam.workloadIdentityUser")
        token_service = google_token_server(cloud.authorizer(f"{LOCATION}-docker.pkg.dev")).start()
        with GkeMetadataServer(state, pod) as metadata, Registry("token", token_server=token_service) as registry:
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
            proc, url, lines = serve_process(values_file, token_file, metadata.host)
            floor_proc, floor_url = do_nothing_server()
            try:
                with binderhub_client.external_registry_helper(url, AUTH_TOKEN) as binderhub:
                    for name in names:  # every repository exists; half the images too
                        _, credentials = binderhub.launch(f"{registry.host}/{name}:t0")
                        build_pod_push(build_pod_environment(credentials or {}), f"{registry.host}/{name}:t0")
                password = (credentials or {})["password"]
                helper = registry_module.ExternalRegistryHelper(service_url=url, auth_token=AUTH_TOKEN)  # type: ignore[attr-defined]
                pulls = pull_tokens(registry, password, names)

                async def measure() -> list[Round]:  # tornado's clients belong to the loop they are made in
                    await Round(helper, registry.url, pulls, names, args, floor_url).run()  # warm-up: connections, pull tokens
                    done = []
                    for _ in range(args.rounds):
                        done.append(Round(helper, registry.url, pulls, names, args, floor_url))
                        await done[-1].run()
                    return done

                rounds = asyncio.run(measure())
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
                floor_proc.kill()
                floor_proc.wait()
            mints = next((event["mints"] for event in lines if event["event"] == "stopped"), -1)
            print(f"{args.rounds} rounds (after one warm-up) of {args.lookups} lookups + {args.tokens} token requests, "
                  f"{args.clients} concurrent clients, BinderHub's ExternalRegistryHelper on CurlAsyncHTTPClient (keep-alive)")
            _, lookup_p99 = report("helper: get_image_manifest (repo+image)", sum((r.lookup_seconds for r in rounds), []))
            report("helper: get_credentials, among lookups", sum((r.token_seconds for r in rounds), []))
            _, token_p99 = report("helper: get_credentials, alone", sum((r.alone_token_seconds for r in rounds), []))
            _, registry_p99 = report("registry: tags/list + HEAD manifest", sum((r.registry_seconds for r in rounds), []))
            report("helper: /healthz/live (HTTP floor)", sum((r.health_seconds for r in rounds), []))
            _, serial_token_p99 = report("helper: get_credentials, one at a time", sum((r.serial_token_seconds for r in rounds), []))
            report("do-nothing server (client+machine floor)", sum((r.floor_seconds for r in rounds), []))
            ratio = lookup_p99 / registry_p99
            print(f"  lookup p99 ratio helper/registry {ratio:.2f} (target <= 2): {'met' if ratio <= 2 else 'NOT met'}")
            for kind, p99 in (("20 concurrent", token_p99), ("one at a time", serial_token_p99)):
                print(f"  token p99 {kind} {p99:.2f} ms (target <= 5 ms): {'met' if p99 <= 5 else 'NOT met'}")
            requests = [event for event in lines if event["event"] == "request"]
            for kind in ("repo", "image", "token"):  # the app's own time (from the request's start to its answer)
                inside = [event["ms"] / 1000 for event in requests if event["path"].startswith(f"/{kind}/")]
                if inside:
                    report(f"inside the helper: /{kind}/", inside)
            print(f"  token mints: helper {mints}, IAM Credentials generateAccessToken for the builder {minted_for(state, BUILDER)}")
        token_service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
