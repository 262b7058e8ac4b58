"""Each component of the test cluster: its certificate, configuration files and command line.

Configured as kubeadm configures a single control-plane node, with what this machine needs:
cgroup v1 with the cgroupfs driver (no systemd), no image garbage collection (no registry to
pull a removed image back from), kube-proxy leaving the conntrack sysctls alone, and containerd
capping pods' OOM score adjustment at its own (the machine withholds CAP_SYS_RESOURCE).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.cluster import layout as net
from tests.cluster.layout import Layout
from tests.cluster.pki import CertificateAuthority, Identity, service_account_keys


@dataclass(frozen=True)
class Component:
    name: str
    command: list[str]


def _kubeconfig(path: Path, ca: Path, cert: Path, key: Path, user: str) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "binderhub-test", "cluster": {
            "server": f"https://{net.NODE_IP}:{net.API_PORT}", "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "binderhub-test", "context": {"cluster": "binderhub-test", "user": user}}],
        "current-context": "binderhub-test",
    }
    _write(path, yaml.safe_dump(document)).chmod(0o600)
    return path


def _write(path: Path, text: str) -> Path:
    """Write ``text`` unless the file already holds it, in one rename (kube-proxy watches its
    configuration file and exits when its content changes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return path
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
    return path


def _client(ca: CertificateAuthority, layout: Layout, component: str, user: str, group: str | None = None) -> Path:
    cert, key = ca.issue(Identity(stem=component, common_name=user, organization=group, client=True))
    return _kubeconfig(layout.kubeconfig(component), ca.cert_path, cert, key, user)


def prepare(layout: Layout) -> list[Component]:
    """Write every certificate and file the components read; return them in start order."""
    for directory in (layout.pki, layout.logs, layout.run, layout.config, layout.etcd_data,
                      layout.kubelet_root, layout.cni_config, layout.containerd_socket.parent):
        directory.mkdir(parents=True, exist_ok=True)
    ca = CertificateAuthority(layout.pki)
    sa_private, sa_public = service_account_keys(layout.pki)
    ca_file = str(ca.cert_path)

    etcd_cert, etcd_key = ca.issue(Identity(
        stem="etcd-server", common_name="etcd", server=True, client=True,
        dns_names=("localhost",), ip_addresses=("127.0.0.1",)))
    etcd_client_cert, etcd_client_key = ca.issue(Identity(
        stem="apiserver-etcd-client", common_name="kube-apiserver-etcd-client", client=True))
    api_cert, api_key = ca.issue(Identity(
        stem="apiserver", common_name="kube-apiserver", server=True,
        dns_names=("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   f"kubernetes.default.svc.{net.CLUSTER_DOMAIN}", "localhost", net.NODE_NAME),
        ip_addresses=(net.NODE_IP, net.KUBERNETES_SERVICE_IP, "127.0.0.1")))
    kubelet_client_cert, kubelet_client_key = ca.issue(Identity(
        stem="apiserver-kubelet-client", common_name="kube-apiserver-kubelet-client", organization="system:masters", client=True))
    kubelet_cert, kubelet_key = ca.issue(Identity(
        stem="kubelet-server", common_name=net.NODE_NAME, server=True, dns_names=(net.NODE_NAME,), ip_addresses=(net.NODE_IP,)))

    _client(ca, layout, "admin", "kubernetes-admin", "system:masters")
    controller_manager = _client(ca, layout, "controller-manager", "system:kube-controller-manager")
    scheduler = _client(ca, layout, "scheduler", "system:kube-scheduler")
    kubelet = _client(ca, layout, "kubelet", f"system:node:{net.NODE_NAME}", "system:nodes")
    proxy = _client(ca, layout, "kube-proxy", "system:kube-proxy")
    coredns = _client(ca, layout, "coredns", "system:coredns")

    etcd_url = f"https://127.0.0.1:{net.ETCD_CLIENT_PORT}"
    peer_url = f"http://127.0.0.1:{net.ETCD_PEER_PORT}"
    components = [
        Component("etcd", [
            str(layout.etcd()), "--name=node", f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=node={peer_url}", "--listen-metrics-urls=",
            f"--cert-file={etcd_cert}", f"--key-file={etcd_key}", f"--trusted-ca-file={ca_file}", "--client-cert-auth",
            "--unsafe-no-fsync",  # a test cluster: its data is thrown away with it
            "--log-level=warn",
        ]),
        Component("kube-apiserver", [
            str(layout.kubernetes("kube-apiserver")),
            f"--advertise-address={net.NODE_IP}", f"--bind-address={net.NODE_IP}", f"--secure-port={net.API_PORT}",
            f"--etcd-servers={etcd_url}", f"--etcd-cafile={ca_file}",
            f"--etcd-certfile={etcd_client_cert}", f"--etcd-keyfile={etcd_client_key}",
            f"--client-ca-file={ca_file}", f"--tls-cert-file={api_cert}", f"--tls-private-key-file={api_key}",
            f"--kubelet-client-certificate={kubelet_client_cert}", f"--kubelet-client-key={kubelet_client_key}",
            f"--kubelet-certificate-authority={ca_file}", "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-issuer=https://kubernetes.default.svc.{net.CLUSTER_DOMAIN}",
            f"--service-account-key-file={sa_public}", f"--service-account-signing-key-file={sa_private}",
            f"--service-cluster-ip-range={net.SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # on top of the default plugins (PodSecurity among them), as kubeadm does
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true", "--profiling=false",
        ]),
        Component("kube-controller-manager", [
            str(layout.kubernetes("kube-controller-manager")),
            f"--kubeconfig={controller_manager}", f"--authentication-kubeconfig={controller_manager}",
            f"--authorization-kubeconfig={controller_manager}", "--bind-address=127.0.0.1", "--leader-elect=false",
            f"--service-account-private-key-file={sa_private}", f"--root-ca-file={ca_file}",
            f"--cluster-signing-cert-file={ca_file}", f"--cluster-signing-key-file={layout.pki / 'ca.key'}",
            "--use-service-account-credentials=true", f"--service-cluster-ip-range={net.SERVICE_CIDR}",
            "--profiling=false",
        ]),
        Component("kube-scheduler", [
            str(layout.kubernetes("kube-scheduler")),
            f"--kubeconfig={scheduler}", f"--authentication-kubeconfig={scheduler}",
            f"--authorization-kubeconfig={scheduler}", "--bind-address=127.0.0.1", "--leader-elect=false",
            "--profiling=false",
        ]),
        Component("containerd", ["containerd", f"--config={_containerd_config(layout)}"]),
        Component("kubelet", [
            str(layout.kubernetes("kubelet")),
            f"--config={_kubelet_config(layout, ca_file, kubelet_cert, kubelet_key)}", f"--kubeconfig={kubelet}",
            f"--hostname-override={net.NODE_NAME}", f"--node-ip={net.NODE_IP}", f"--root-dir={layout.kubelet_root}",
        ]),
        Component("kube-proxy", [str(layout.kubernetes("kube-proxy")), f"--config={_proxy_config(layout, proxy)}"]),
        Component("coredns", [str(layout.coredns()), "-conf", str(_corefile(layout, coredns)), "-dns.port", "53"]),
    ]
    _cni_config(layout)
    return components


def _containerd_config(layout: Layout) -> Path:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    text = f"""version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_socket.parent / 'containerd-state'}"
[grpc]
  address = "{layout.containerd_socket}"
[{cri}]
  sandbox_image = "{net.PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  BinaryName = "/usr/sbin/runc"
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{layout.cni_config / 'net.d'}"
[{cri}.registry]
  config_path = "{layout.config / 'certs.d'}"
"""
    return _write(layout.config / "containerd.toml", text)


def _kubelet_config(layout: Layout, ca_file: str, cert: Path, key: Path) -> Path:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": net.NODE_IP,
        "port": net.KUBELET_PORT,
        "healthzBindAddress": "127.0.0.1",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": ca_file}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(cert),
        "tlsPrivateKeyFile": str(key),
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [net.DNS_SERVICE_IP],
        "clusterDomain": net.CLUSTER_DOMAIN,
        "resolvConf": str(_write(layout.config / "resolv.conf", "")),
        # no registry here: an image removed by garbage collection could never come back
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "staticPodPath": "",
        "oomScoreAdj": 0,
    }
    return _write(layout.config / "kubelet.yaml", yaml.safe_dump(config))


def _proxy_config(layout: Layout, kubeconfig: Path) -> Path:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": net.POD_CIDR,
        "hostnameOverride": net.NODE_NAME,
        "bindAddress": net.NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{net.NODE_IP}/32"],
        "oomScoreAdj": 0,
        # leave the machine's conntrack sysctls alone
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
    return _write(layout.config / "kube-proxy.yaml", yaml.safe_dump(config))


def _corefile(layout: Layout, kubeconfig: Path) -> Path:
    # Names of the cluster only: nothing is forwarded off the machine.
    text = f""".:53 {{
    bind {net.NODE_IP}
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes {net.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} binderhub-test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
    loadbalance
}}
"""
    return _write(layout.config / "Corefile", text)


def _cni_config(layout: Layout) -> Path:
    config = {
        "cniVersion": "1.0.0",
        "name": "binderhub-test",
        "plugins": [
            {
                "type": "bridge", "bridge": net.BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(layout.cni_config / "ipam"),
                         "ranges": [[{"subnet": net.POD_CIDR, "gateway": net.POD_GATEWAY}]],
                         "routes": [{"dst": "0.0.0.0/0"}]},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return _write(layout.cni_config / "net.d" / "10-binderhub-test.conflist", json.dumps(config, indent=2))
