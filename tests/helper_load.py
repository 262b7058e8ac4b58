"""Concurrent load on the registry helper, as many BinderHub launches at once would make it:
image lookups (``GET /repo`` then ``GET /image``, like ``ExternalRegistryHelper``) and token
requests, all started together on loopback through one bounded connection pool. Shared by the
load test (which asserts outcomes) and ``benchmarks/registry_helper.py`` (which prints figures)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class LoadResult:
    lookup_statuses: list[int] = field(default_factory=list)
    token_statuses: list[int] = field(default_factory=list)
    lookup_seconds: list[float] = field(default_factory=list)
    token_seconds: list[float] = field(default_factory=list)
    passwords: set[str] = field(default_factory=set)


async def _lookup(client: httpx.AsyncClient, name: str, tag: str, result: LoadResult) -> None:
    started = time.perf_counter()
    repo = await client.get(f"/repo/{name}")
    status = repo.status_code
    if status == 200:
        status = (await client.get(f"/image/{name}:{tag}")).status_code
    result.lookup_seconds.append(time.perf_counter() - started)
    result.lookup_statuses.append(status)


async def _token(client: httpx.AsyncClient, name: str, tag: str, result: LoadResult) -> None:
    started = time.perf_counter()
    reply = await client.post(f"/token/{name}:{tag}", content=b"")
    result.token_seconds.append(time.perf_counter() - started)
    result.token_statuses.append(reply.status_code)
    if reply.status_code == 200:
        result.passwords.add(reply.json()["password"])


async def _run(url: str, auth_token: str, names: list[str], lookups: int, tokens: int, connections: int) -> LoadResult:
    result = LoadResult()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Authorization": f"Bearer {auth_token}"}
    async with httpx.AsyncClient(base_url=url, limits=limits, headers=headers, timeout=60) as client:
        jobs = [_lookup(client, names[i % len(names)], f"t{i % 4}", result) for i in range(lookups)]
        every = max(1, (lookups + tokens) // max(tokens, 1))
        for i in range(tokens):  # interleaved, as launches come
            jobs.insert(min(i * every, len(jobs)), _token(client, names[i % len(names)], f"t{i}", result))
        await asyncio.gather(*jobs)
    return result


def run_load(url: str, auth_token: str, names: list[str], lookups: int = 200, tokens: int = 50, connections: int = 64) -> LoadResult:
    return asyncio.run(_run(url, auth_token, names, lookups, tokens, connections))
