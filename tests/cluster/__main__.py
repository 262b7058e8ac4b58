"""``scripts/cluster``: a single-node Kubernetes cluster from the real components, for the tests.

    scripts/cluster up              build what is missing, start everything; idempotent;
                                    the last line printed is the admin kubeconfig's path
    scripts/cluster down            stop everything it started, pods included; the cluster's
                                    contents go, loaded images stay
    scripts/cluster status          each component, running or not, and the node's condition
    scripts/cluster kubeconfig      the admin kubeconfig's path
    scripts/cluster load IMAGE...   make podman's local images available to the node by name

Exit 0 on success, 1 with one sentence (and the failing component's last log lines) otherwise.
"""

from __future__ import annotations

import argparse
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.cluster import layout as net
from tests.cluster import node
from tests.cluster.build import BUILDS, build
from tests.cluster.components import Component, prepare
from tests.cluster.layout import REPO_ROOT, Layout
from tests.cluster.processes import ClusterError, kill_matching, require, running_pid, start, stop

KUBECTL = REPO_ROOT / ".tools" / "bin" / "kubectl"
ORDER = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet", "kube-proxy",
         "coredns"]

CLUSTER_ADDONS = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "system:coredns"}}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: "system:coredns"}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:coredns"}}
subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}}]
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels: {{k8s-app: kube-dns}}
spec:
  clusterIP: {net.DNS_SERVICE_IP}
  ports:
  - {{name: dns, port: 53, protocol: UDP, targetPort: 53}}
  - {{name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-node
  namespace: kube-system
  labels: {{kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: binderhub-registry-test}}
addressType: IPv4
endpoints: [{{addresses: ["{net.NODE_IP}"], conditions: {{ready: true}}}}]
ports:
- {{name: dns, port: 53, protocol: UDP}}
- {{name: dns-tcp, port: 53, protocol: TCP}}
"""


def kubectl(layout: Layout, *arguments: str, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(KUBECTL), f"--kubeconfig={layout.admin_kubeconfig}", *arguments],
                            input=input_text, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(arguments[:3])} failed: {result.stderr.strip()[-500:]}")
    return result


def _https_ok(url: str, layout: Layout, client: str | None = None) -> bool:
    context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
    if client is None:  # a component's own self-signed serving certificate, on loopback
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_cert_chain(str(layout.pki / f"{client}.crt"), str(layout.pki / f"{client}.key"))
    try:
        with urllib.request.urlopen(url, context=context, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _node_ready(layout: Layout) -> bool:
    result = kubectl(layout, "get", "node", net.NODE_NAME, "-o", "json", check=False)
    if result.returncode != 0:
        return False
    conditions = json.loads(result.stdout)["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _default_service_account(layout: Layout) -> bool:
    return kubectl(layout, "get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0


def _readiness(layout: Layout, name: str) -> tuple[float, str, object]:
    api = f"https://{net.NODE_IP}:{net.API_PORT}"
    checks = {
        "etcd": (60, "healthy",
                 lambda: _https_ok(f"https://127.0.0.1:{net.ETCD_CLIENT_PORT}/health", layout, "apiserver-etcd-client")),
        "kube-apiserver": (120, "ready", lambda: _https_ok(f"{api}/readyz", layout, "admin")),
        "kube-controller-manager": (60, "healthy", lambda: _https_ok("https://127.0.0.1:10257/healthz", layout)),
        "kube-scheduler": (60, "healthy", lambda: _https_ok("https://127.0.0.1:10259/healthz", layout)),
        "containerd": (60, "serving",
                       lambda: layout.containerd_socket.exists() and node.crictl(layout, "version", check=False).returncode == 0),
        "kubelet": (120, "a Ready node", lambda: _node_ready(layout)),
        "kube-proxy": (60, "healthy", lambda: _http_ok("http://127.0.0.1:10256/healthz")),
        "coredns": (60, "ready", lambda: _http_ok("http://127.0.0.1:18181/ready")),
    }
    return checks[name]


def up(layout: Layout) -> Path:
    for spec in BUILDS:
        build(spec)
    if not any(running_pid(layout, name) for name in ORDER):
        down(layout)  # what a stop without `down` left (mounts, links, a stale etcd) goes first
    node.network_up()
    components = {component.name: component for component in prepare(layout)}
    for name in ORDER:
        component: Component = components[name]
        if name == "kubelet":
            node.build_pause_image()
            node.load_image(layout, net.PAUSE_IMAGE)
        if name == "coredns":
            kubectl(layout, "apply", "--server-side", "--force-conflicts", "-f", "-", input_text=CLUSTER_ADDONS)
        start(layout, name, component.command)
        timeout, what, condition = _readiness(layout, name)
        require(layout, name, condition, timeout, what)  # type: ignore[arg-type]
    require(layout, "kube-controller-manager", lambda: _default_service_account(layout), 60,
            "done creating the default ServiceAccount")
    return layout.admin_kubeconfig


def down(layout: Layout) -> None:
    stop(layout, "kubelet")
    if running_pid(layout, "containerd") is not None:
        node.crictl(layout, "rmp", "--force", "--all", check=False)
    for name in reversed(ORDER):
        if name != "kubelet":
            stop(layout, name)
    kill_matching(str(layout.containerd_socket))  # shims of containers the runtime no longer tracked
    proxy = layout.kubernetes("kube-proxy")
    if proxy.exists():
        subprocess.run([str(proxy), "--cleanup"], capture_output=True)
    node.unmount_under(layout.kubelet_root, layout.containerd_socket.parent, layout.containerd_root)
    node.network_down()
    node.remove_state(layout)


def status(layout: Layout) -> int:
    running = 0
    for name in ORDER:
        pid = running_pid(layout, name)
        running += pid is not None
        print(f"{name:24} {'running, pid ' + str(pid) if pid else 'stopped'}")
    if running:
        print(f"{'node':24} {'Ready' if _node_ready(layout) else 'not Ready'}")
    return 0 if running == len(ORDER) else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status", "kubeconfig", "load"])
    parser.add_argument("images", nargs="*")
    arguments = parser.parse_args(argv)
    layout = Layout.default()
    try:
        if arguments.command == "up":
            print(up(layout))
        elif arguments.command == "down":
            down(layout)
        elif arguments.command == "status":
            return status(layout)
        elif arguments.command == "kubeconfig":
            print(layout.admin_kubeconfig)
        else:
            for image in arguments.images:
                copied = node.load_image(layout, image)
                print(f"{image}: {'loaded' if copied else 'already on the node'}")
    except ClusterError as error:
        print(f"scripts/cluster {arguments.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
