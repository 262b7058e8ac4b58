"""Fixtures for tests on the real single-node cluster (``scripts/cluster``), marker ``cluster``.

``cluster`` brings the cluster up once per session (it is left running if it was up before the
session, and brought down after it otherwise). ``cluster_hook_image`` builds the hook image and
makes it available to the node. ``cluster_namespace`` is a fresh namespace per test that enforces
PodSecurity ``restricted``, as the README asks of a BinderHub namespace. ``node_registry`` starts
the real registry (and its token server) on the node's address, where pods and the kubelet reach
it as they would reach a registry on the network.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import layout as net
from tests.cluster.__main__ import ORDER, down, up
from tests.cluster.layout import Layout
from tests.cluster.node import allow_plain_http, load_image
from tests.cluster.processes import ClusterError, running_pid
from tests.fixtures_registry import default_token_users
from tests.stand_ins.registry import Registry
from tests.stand_ins.token_server import TokenServer

REPO_ROOT = Path(__file__).resolve().parent.parent
KUBECTL = REPO_ROOT / ".tools" / "bin" / "kubectl"


@dataclass
class Cluster:
    layout: Layout
    kubeconfig: Path

    def kubectl(self, *arguments: str, namespace: str | None = None, input_text: str | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(KUBECTL), f"--kubeconfig={self.kubeconfig}", *(["-n", namespace] if namespace else []), *arguments]
        result = subprocess.run(command, input=input_text, capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(arguments)} failed: {result.stderr.strip()}")
        return result

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        result = self.kubectl("get", kind, name, "-o", "json", "--show-managed-fields", namespace=namespace, check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr:
                return None
            raise AssertionError(f"kubectl get {kind} {name} failed: {result.stderr.strip()}")
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def items(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        arguments = ["get", kind, "-o", "json", *(["-l", selector] if selector else [])]
        items: list[dict[str, Any]] = json.loads(self.kubectl(*arguments, namespace=namespace).stdout)["items"]
        return items

    def apply(self, documents: list[dict[str, Any]], namespace: str | None = None) -> None:
        self.kubectl("apply", "-f", "-", namespace=namespace, input_text=yaml.safe_dump_all(documents))

    def load(self, *images: str) -> None:
        for image in images:
            load_image(self.layout, image)

    def allow_plain_http(self, host: str) -> None:
        allow_plain_http(self.layout, host)

    def restart_api_server(self) -> None:
        """Stop the API server and start it again with the same flags; back when it is ready."""
        from tests.cluster.__main__ import _readiness
        from tests.cluster.components import prepare
        from tests.cluster.processes import require, start, stop

        command = next(c.command for c in prepare(self.layout) if c.name == "kube-apiserver")
        stop(self.layout, "kube-apiserver")
        start(self.layout, "kube-apiserver", command)
        timeout, what, condition = _readiness(self.layout, "kube-apiserver")
        require(self.layout, "kube-apiserver", condition, timeout, what)  # type: ignore[arg-type]


def binder_deployment(namespace: str) -> dict[str, Any]:
    """A stand-in for an existing BinderHub's own Deployment (companion mode), admitted under
    PodSecurity restricted, running the pause image (on the node already): what the hook
    restarts, where the real BinderHub is not the point of the test."""
    labels = {"app": "binder"}
    container = {"name": "binder", "image": net.PAUSE_IMAGE, "imagePullPolicy": "Never",
                 "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "binder", "namespace": namespace},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": 65535, "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [container]}}}}


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    layout = Layout.default()
    # Another session's cluster (a component running, even one restarting) is left to it.
    was_up = any(running_pid(layout, name) is not None for name in ORDER)
    try:
        kubeconfig = up(layout)
    except ClusterError as error:
        pytest.fail(f"scripts/cluster up failed: {error}", pytrace=False)
    yield Cluster(layout, kubeconfig)
    if not was_up:
        down(layout)


@pytest.fixture(scope="session")
def cluster_hook_image(cluster: Cluster) -> tuple[str, str]:
    """(repository, tag) of the hook image, built by ./scripts/build-image and loaded on the node."""
    from tests.image.container import build_image

    proc = build_image()
    if proc.returncode != 0:
        pytest.fail(f"./scripts/build-image failed: {proc.stderr.strip()[-2000:]}", pytrace=False)
    reference = proc.stdout.strip().splitlines()[-1]
    cluster.load(reference)
    repository, tag = reference.rsplit(":", 1)
    return repository, tag


@pytest.fixture
def cluster_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"binder-{secrets.token_hex(3)}"
    labels = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}])
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def node_registry() -> Iterator[Callable[..., Registry]]:
    """Factory: ``node_registry(auth="token"|"htpasswd"|"none", users=...)`` -> a running registry
    on the node's address (``http://10.213.0.1:PORT``); token mode brings its own token server."""
    started: list[Registry | TokenServer] = []

    def make(auth: str = "htpasswd", users: dict[str, Any] | None = None) -> Registry:
        token_server = None
        if auth == "token":
            token_server = TokenServer(users or default_token_users())
            token_server.address = net.NODE_IP
            started.append(token_server.start())
            registry = Registry("token", token_server=token_server, address=net.NODE_IP)
        else:
            registry = Registry(auth, users=users, address=net.NODE_IP)  # type: ignore[arg-type]
        started.append(registry.start())
        allow_plain_http(Layout.default(), registry.host)  # the kubelet pulls user images from it
        return registry

    yield make
    for server in reversed(started):
        server.stop()
