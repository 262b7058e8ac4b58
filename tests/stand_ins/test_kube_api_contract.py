"""The Kubernetes API stand-in held to the real API server: the same requests to both, the same
status codes, reasons, details and messages, and the same managedFields behaviour.

What stays of the stand-in is what a real server cannot be made to do on demand (a clock a test
moves, injected failures); every answer it gives that the hook relies on is compared here with the
real kube-apiserver of the test cluster (``scripts/cluster``)."""

from __future__ import annotations

import json
import secrets
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.cluster import layout as net
from tests.fixtures_cluster import Cluster

pytestmark = pytest.mark.cluster

APPLY = "application/apply-patch+yaml"


@dataclass
class Server:
    name: str
    client: httpx.Client  # as the admin
    anonymous: httpx.Client  # no credentials of its own: for requests with a ServiceAccount's token
    namespace: str
    service_account_token: str

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                token: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        client = self.anonymous if token else self.client
        response = client.request(method, path.format(ns=self.namespace), headers=headers,
                                       content=None if body is None else json.dumps(body))
        return response.status_code, response.json()


def secret_body(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"k": value}}


def status_of(answer: dict[str, Any]) -> tuple[Any, ...]:
    return answer.get("reason"), answer.get("message"), json.dumps(answer.get("details"), sort_keys=True)


@pytest.fixture
def servers(cluster: Cluster, cluster_namespace: str, kube_api) -> Iterator[tuple[Server, Server]]:
    """The real API server and the stand-in, each with the namespace and a ServiceAccount ``hook``
    that may do nothing."""
    cluster.kubectl("create", "serviceaccount", "hook", namespace=cluster_namespace)
    token = cluster.kubectl("create", "token", "hook", namespace=cluster_namespace).stdout.strip()
    pki = cluster.layout.pki
    tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    tls.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    real = httpx.Client(base_url=f"https://{net.NODE_IP}:{net.API_PORT}", verify=tls, timeout=30)
    real_anonymous = httpx.Client(base_url=f"https://{net.NODE_IP}:{net.API_PORT}", verify=str(pki / "ca.crt"), timeout=30)
    kube_api.put({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "hook", "namespace": cluster_namespace}})
    stand_in = httpx.Client(base_url=kube_api.url, headers={"Authorization": f"Bearer {kube_api.admin_token}"}, timeout=30)
    stand_in_anonymous = httpx.Client(base_url=kube_api.url, timeout=30)
    with real, real_anonymous, stand_in, stand_in_anonymous:
        yield (Server("real", real, real_anonymous, cluster_namespace, token),
               Server("stand-in", stand_in, stand_in_anonymous, cluster_namespace,
                      kube_api.token_for_service_account(cluster_namespace, "hook")))


def both(servers: tuple[Server, Server], *args: Any, **kwargs: Any) -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
    real, stand_in = servers
    return real.request(*args, **kwargs), stand_in.request(*args, **kwargs)


def test_absent_objects_answer_the_same_404(servers):
    for path in ("/api/v1/namespaces/{ns}/secrets/absent", "/apis/apps/v1/namespaces/{ns}/deployments/absent"):
        (real_code, real), (stand_in_code, stand_in) = both(servers, "GET", path)
        assert real_code == stand_in_code == 404
        assert status_of(stand_in) == status_of(real)


def test_create_twice_answers_the_same_conflict(servers):
    body = secret_body("twice", "v")
    for server in servers:
        assert server.request("POST", "/api/v1/namespaces/{ns}/secrets", body)[0] == 201
    (real_code, real), (stand_in_code, stand_in) = both(servers, "POST", "/api/v1/namespaces/{ns}/secrets", body)
    assert real_code == stand_in_code == 409
    assert status_of(stand_in) == status_of(real)


def test_server_side_apply_keeps_its_time_when_nothing_changes(servers):
    """An apply that changes nothing leaves the manager's managedFields entry (and its time) as it
    was; one that changes the object updates it. Both servers, the same codes and entries."""
    path = "/api/v1/namespaces/{ns}/secrets/applied?fieldManager=binderhub-registry&force=true"
    entries = {}
    for server in servers:
        first_code, first = server.request("PATCH", path, secret_body("applied", "one"), APPLY)
        again_code, again = server.request("PATCH", path, secret_body("applied", "one"), APPLY)
        changed_code, changed = server.request("PATCH", path, secret_body("applied", "two"), APPLY)

        def entry(obj: dict[str, Any]) -> dict[str, Any]:
            (found,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == "binderhub-registry"]
            return found

        assert entry(again)["time"] == entry(first)["time"]
        assert entry(changed)["time"] >= entry(first)["time"]
        entries[server.name] = (first_code, again_code, changed_code, entry(changed)["operation"],
                                sorted(entry(changed)["fieldsV1"]))
    assert entries["stand-in"] == entries["real"]


def test_a_service_account_without_a_role_gets_the_same_403(servers):
    for method, path, body, content_type in (
        ("GET", "/api/v1/namespaces/{ns}/secrets/forbidden", None, "application/json"),
        ("PATCH", "/api/v1/namespaces/{ns}/secrets/forbidden?fieldManager=binderhub-registry&force=true",
         secret_body("forbidden", "v"), APPLY),
        ("DELETE", "/api/v1/namespaces/{ns}/pods/forbidden", None, "application/json"),
    ):
        answers = [server.request(method, path, body, content_type, token=server.service_account_token) for server in servers]
        (real_code, real), (stand_in_code, stand_in) = answers
        assert real_code == stand_in_code == 403, (method, path)
        assert status_of(stand_in) == status_of(real)


def test_a_write_into_a_namespace_that_does_not_exist_is_refused_alike(servers, kube_api):
    missing = f"missing-{secrets.token_hex(3)}"
    kube_api.absent_namespaces.add(missing)  # the stand-in knows no namespaces unless told which are absent
    path = f"/api/v1/namespaces/{missing}/secrets/x?fieldManager=binderhub-registry&force=true"
    (real_code, real), (stand_in_code, stand_in) = both(servers, "PATCH", path, secret_body("x", "v"), APPLY)
    assert real_code == 404
    assert (stand_in_code, status_of(stand_in)) == (real_code, status_of(real))
