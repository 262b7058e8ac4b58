"""`GET /metrics`: Prometheus text a scraper parses, counting what an operator watches (requests by
endpoint and status, upstream latency and errors, mints, cache hits, the seconds left on the
builder's token), with no image name as a label value."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.binderhub_client import external_registry_helper
from tests.fixtures_google import PROJECT
from tests.helper.test_helper_error_hygiene import EchoingUpstream
from tests.stand_ins.build_pod import build_pod_environment, build_pod_push

PREFIX = "binderhub_registry_helper_"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    reply = httpx.get(f"{url}/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(reply.text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((PREFIX + name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_after_a_launch_and_a_push(keyless):
    helper, registry = keyless["helper"], keyless["registry"]
    before = scrape(helper.url)
    assert value(before, "token_seconds_left") == 0 and value(before, "token_mints_total") == 0
    name = f"{PROJECT}/binder/binder-metrics"
    with external_registry_helper(helper.url, helper.auth_token) as binderhub:
        _, credentials = binderhub.launch(f"{registry.host}/{name}:t0")
        build_pod_push(build_pod_environment(credentials or {}), f"{registry.host}/{name}:t0")
        binderhub.get_credentials(name, "t1")
        assert binderhub.get_image_manifest(name, "t0")
    httpx.get(f"{helper.url}/repo/{name}", headers={"Authorization": "Bearer wrong-token-0123456789"})
    samples = scrape(helper.url)
    assert value(samples, "requests_total", endpoint="repo", method="GET", status="404") == 1
    assert value(samples, "requests_total", endpoint="repo", method="GET", status="403") == 1
    assert value(samples, "requests_total", endpoint="repo", method="POST", status="200") == 1
    assert value(samples, "requests_total", endpoint="token", method="POST", status="200") == 2
    assert value(samples, "requests_total", endpoint="image", method="GET", status="200") == 1
    assert value(samples, "requests_total", endpoint="metrics", method="GET", status="200") == 1
    assert value(samples, "token_mints_total") == 1
    assert value(samples, "cache_lookups_total", cache="access_token", result="miss") == 1
    assert value(samples, "cache_lookups_total", cache="access_token", result="hit") >= 2
    assert value(samples, "cache_lookups_total", cache="pull_token", result="miss") >= 1
    assert 3600 - 120 < value(samples, "token_seconds_left") <= 3600
    for upstream in ("registry", "registry_token", "metadata", "iam_credentials", "artifact_registry"):
        assert value(samples, "upstream_seconds_count", upstream=upstream) >= 1, upstream
    assert value(samples, "requests_in_flight") == 0
    label_values = {v for _, labels in samples for _, v in labels}
    assert not [v for v in label_values if "binder-metrics" in v or PROJECT in v]


def test_upstream_errors_are_counted(keyless):
    helper = keyless["helper"]
    keyless["metadata"].stop()  # the metadata server is gone: the mint fails, after retries
    reply = httpx.post(f"{helper.url}/token/{PROJECT}/binder/binder-x:t", headers={"Authorization": f"Bearer {helper.auth_token}"},
                       timeout=60)
    assert reply.status_code == 503
    samples = scrape(helper.url)
    assert value(samples, "upstream_errors_total", upstream="metadata", reason="connection") == 3
    assert value(samples, "token_mints_total") == 0 and value(samples, "token_seconds_left") == 0


def test_paths_the_helper_does_not_serve_are_one_endpoint_label(keyless):
    """A label value per path would let any client grow the metrics without bound."""
    helper = keyless["helper"]
    for path in ("/v2/", "/nope/x", "/admin", "/repo2/x"):
        httpx.get(f"{helper.url}{path}", headers={"Authorization": f"Bearer {helper.auth_token}"})
    endpoints = {dict(labels).get("endpoint") for (name, labels) in scrape(helper.url) if name.endswith("requests_total")}
    assert endpoints <= {"repo", "image", "token", "healthz", "metrics", "other"}, endpoints
    assert sum(value for (name, labels), value in scrape(helper.url).items()
               if name.endswith("requests_total") and dict(labels).get("endpoint") == "other") == 4


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_registry_answering_an_error_is_counted(start_helper, status):
    with EchoingUpstream(status) as registry:
        helper = start_helper(registry_url=registry.url)
        httpx.get(f"{helper.url}/image/{PROJECT}/binder/binder-x:t", headers={"Authorization": f"Bearer {helper.auth_token}"}, timeout=60)
    assert value(scrape(helper.url), "upstream_errors_total", upstream="registry", reason=str(status)) >= 1
