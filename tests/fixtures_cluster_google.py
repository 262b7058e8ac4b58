"""Fixtures for Google on the real cluster (marker ``cluster``): the Google stand-ins over https
on the node's address, where pods reach them (the chart allows plain http to Google's APIs only
on loopback, and a pod cannot reach this machine's loopback), the values that make the hook's
pods trust them, the real registry behind Google's token decision, IAM Credentials and the GKE
metadata server of the node, which knows pods by their address as GKE's does.

* ``stand_in_tls``          -> the certificate (and its server context) for the node's address.
* ``node_google_cloud``     -> OAuth, IAM and Artifact Registry on https://NODE_IP:PORT.
* ``node_google_registry``  -> factory ``(host) -> Registry`` on the node, behind Google's tokens.
* ``node_iam_credentials``  -> IAM Credentials (generateAccessToken) on the node.
* ``node_metadata``         -> the node's GKE metadata server (GCE_METADATA_HOST for pods).
* ``keyless_chart_values``  -> factory ``(namespace) -> values``: the chart keyless on Artifact
  Registry against all of the above, the hook and the helper trusting and finding them.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import layout as net
from tests.fixtures_google import AR_HOST, PROJECT
from tests.fixtures_workload_identity import keyless_values
from tests.stand_ins.google_cloud import GoogleCloud, google_token_server
from tests.stand_ins.google_workload_identity import GkeNodeMetadataServer, IamCredentialsServer, PodIdentity
from tests.stand_ins.registry import Registry, write_self_signed_cert

CA_MOUNT = "/etc/ssl/stand-ins"
ADMIN_SECRET = "google-admin"


def google_admin_secret(cluster, namespace: str, cloud: GoogleCloud) -> str:
    """The hook's admin key in a Secret, as the README has the user create it; returns its name."""
    key = base64.b64encode(json.dumps(cloud.add_principal("hook-admin")).encode()).decode()
    cluster.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": ADMIN_SECRET}, "data": {"key.json": key}}],
                  namespace=namespace)
    return ADMIN_SECRET


@dataclass(frozen=True)
class StandInTls:
    context: ssl.SSLContext
    ca_file: Path  # the (self-signed) certificate, which the clients trust


@pytest.fixture
def stand_in_tls(tmp_path) -> StandInTls:
    """A certificate for the node's address: Google's APIs are https (the chart refuses plain http
    anywhere but loopback, and a pod cannot reach this machine's loopback)."""
    cert, key = tmp_path / "stand-ins.crt", tmp_path / "stand-ins.key"
    write_self_signed_cert(cert, key, addresses=(net.NODE_IP,))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2", "http/1.1"])  # IAM's gRPC (h2) and REST share a port
    return StandInTls(context, cert)


@pytest.fixture
def node_google_cloud(stand_in_tls) -> Iterator[GoogleCloud]:
    """The Google stand-ins over https on the node's address, where the hook's pod reaches them;
    every key file made afterwards names the OAuth endpoint there."""
    cloud = GoogleCloud()
    for server in (cloud.oauth, cloud.iam, cloud.artifact_registry):
        server.address, server.tls = net.NODE_IP, stand_in_tls.context
    with cloud:
        yield cloud


def trusting_the_stand_ins(cluster, namespace: str, tls: StandInTls) -> dict[str, Any]:
    """The hook's values for an API behind a private CA, as the chart documents them: the CA in
    a ConfigMap, mounted, and named by SSL_CERT_FILE (Python's ssl), REQUESTS_CA_BUNDLE (google-auth)
    and GRPC_DEFAULT_SSL_ROOTS_FILE_PATH (IAM's gRPC client)."""
    cluster.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stand-in-ca"},
                    "data": {"ca.crt": tls.ca_file.read_text()}}], namespace=namespace)
    ca_file = f"{CA_MOUNT}/ca.crt"
    return {"extraEnv": [{"name": "BINDERHUB_REGISTRY_RETRY_SECONDS", "value": "0.05"},
                         {"name": "SSL_CERT_FILE", "value": ca_file}, {"name": "REQUESTS_CA_BUNDLE", "value": ca_file},
                         {"name": "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "value": ca_file}],
            "extraVolumes": [{"name": "stand-in-ca", "configMap": {"name": "stand-in-ca"}}],
            "extraVolumeMounts": [{"name": "stand-in-ca", "mountPath": CA_MOUNT, "readOnly": True}]}


@pytest.fixture
def node_google_registry(node_google_cloud: GoogleCloud, cluster) -> Iterator[Callable[[str], Registry]]:
    """Factory: the real registry for a Google host, behind Google's token decision, on the node."""
    started: list[Any] = []

    def make(host: str) -> Registry:
        tokens = google_token_server(node_google_cloud.authorizer(host))
        tokens.address = net.NODE_IP
        started.append(tokens.start())
        registry = Registry("token", token_server=tokens, address=net.NODE_IP)
        started.append(registry.start())
        cluster.allow_plain_http(registry.host)
        return registry

    yield make
    for server in reversed(started):
        server.stop()


@pytest.fixture
def node_iam_credentials(node_google_cloud: GoogleCloud, stand_in_tls: StandInTls) -> Iterator[IamCredentialsServer]:
    server = IamCredentialsServer(node_google_cloud.state)
    server.address, server.tls = net.NODE_IP, stand_in_tls.context
    with server:
        yield server


@pytest.fixture
def node_metadata(node_google_cloud: GoogleCloud, cluster) -> Iterator[GkeNodeMetadataServer]:
    """GKE's metadata server for the node: a pod is known by its address, its identity is its
    ServiceAccount and that ServiceAccount's iam.gke.io/gcp-service-account annotation, read
    from the API server when the pod asks."""
    def identify(address: str) -> PodIdentity | None:
        listed = cluster.kubectl("get", "pods", "-A", "--field-selector", f"status.podIP={address}", "-o", "json")
        running = [pod for pod in json.loads(listed.stdout)["items"] if pod["status"].get("phase") == "Running"]
        if len(running) != 1:
            return None
        namespace, name = running[0]["metadata"]["namespace"], running[0]["spec"].get("serviceAccountName", "default")
        account = cluster.get("serviceaccount", name, namespace) or {"metadata": {}}
        annotation = (account["metadata"].get("annotations") or {}).get("iam.gke.io/gcp-service-account", "")
        return PodIdentity(PROJECT, namespace, name, annotation)

    server = GkeNodeMetadataServer(node_google_cloud.state, identify)
    server.address = net.NODE_IP
    with server:
        yield server


@pytest.fixture
def keyless_chart_values(cluster, node_google_cloud, node_google_registry, node_iam_credentials, node_metadata,
                         stand_in_tls) -> Callable[[str], dict[str, Any]]:
    def make(namespace: str) -> dict[str, Any]:
        admin = google_admin_secret(cluster, namespace, node_google_cloud)
        values = keyless_values(node_google_cloud, node_google_registry(AR_HOST), node_iam_credentials, adminKeySecret=admin)
        del values["registryHelper"]  # the chart sets the helper's name and namespace
        values["registry"]["google"]["endpoints"]["iam"] = node_google_cloud.iam.url
        values["hook"] = trusting_the_stand_ins(cluster, namespace, stand_in_tls)
        values["hook"]["extraEnv"].append({"name": "GCE_METADATA_HOST", "value": node_metadata.host})
        return values
    return make
