"""Where the test cluster lives and how it is addressed: one place for every path and address.

Programs come from ``.tools/`` (built by ``tests/cluster/build.py``); the cluster's state (PKI,
etcd's data, containerd's images, the kubelet's pods, logs, pid files) lives under one state
directory outside the checkout, so that a fresh clone on the same machine finds the images it
loaded before. The node has an address of its own on the loopback device, so that the cluster
does not depend on how the machine's network is set up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
TOOLS = REPO_ROOT / ".tools"

NODE_NAME = "binderhub-test-node"
NODE_IP = "10.213.0.1"
POD_CIDR = "10.214.0.0/24"
POD_GATEWAY = "10.214.0.1"
SERVICE_CIDR = "10.215.0.0/24"
KUBERNETES_SERVICE_IP = "10.215.0.1"
DNS_SERVICE_IP = "10.215.0.10"
CLUSTER_DOMAIN = "cluster.local"
BRIDGE = "bhr-cni0"

API_PORT = 6443
ETCD_CLIENT_PORT = 23790
ETCD_PEER_PORT = 23800
KUBELET_PORT = 10250
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
CONTAINERD_NAMESPACE = "k8s.io"


def _version_dir(name: str) -> Path:
    """The newest built ``.tools/<name>-<version>`` (tests/cluster/build.py writes them)."""
    from tests.cluster.build import BUILDS

    for spec in BUILDS:
        if spec.name == name:
            return spec.destination()
    raise KeyError(name)


@dataclass(frozen=True)
class Layout:
    state: Path

    @classmethod
    def default(cls) -> Layout:
        return cls(Path(os.environ.get("BINDERHUB_REGISTRY_CLUSTER_DIR", "/var/lib/binderhub-registry-cluster")))

    # programs
    def kubernetes(self, name: str) -> Path:
        return _version_dir("kubernetes") / name

    def etcd(self) -> Path:
        return _version_dir("etcd") / "etcd"

    def coredns(self) -> Path:
        return _version_dir("coredns") / "coredns"

    # state
    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def config(self) -> Path:
        return self.state / "config"

    @property
    def etcd_data(self) -> Path:
        return self.state / "etcd"

    @property
    def containerd_root(self) -> Path:
        return self.state / "containerd"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def cni_config(self) -> Path:
        return self.state / "cni"

    @property
    def containerd_socket(self) -> Path:
        # unix socket paths are limited to 107 bytes: keep it short whatever the state path
        return Path("/run/binderhub-registry-cluster/containerd.sock")

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kubeconfig("admin")

    def kubeconfig(self, component: str) -> Path:
        return self.config / f"{component}.kubeconfig"

    def pid_file(self, component: str) -> Path:
        return self.run / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs / f"{component}.log"
