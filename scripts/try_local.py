#!/usr/bin/env python3
"""Try the chart for real on this machine: the test cluster (scripts/cluster), a real registry
(distribution) with a token service on the node's address, and the README's commands run by the
real Helm 4: `helm install` (the hook Job proves the credentials and writes the Secret), `helm
test` (a pod pushes with that Secret), `helm uninstall` (the cleanup removes it). Prints what
happened in a few lines; exit 0 when all of it worked, 1 otherwise with the step that failed."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cluster import layout as net  # noqa: E402
from tests.cluster.__main__ import up  # noqa: E402
from tests.cluster.layout import Layout  # noqa: E402
from tests.cluster.processes import ClusterError  # noqa: E402
from tests.fixtures_chart import built_chart  # noqa: E402
from tests.fixtures_cluster import Cluster  # noqa: E402
from tests.image.container import build_image  # noqa: E402
from tests.stand_ins.registry import Registry  # noqa: E402
from tests.stand_ins.token_server import TokenServer  # noqa: E402

HELM = ROOT / ".tools" / "bin" / "helm4"
NAMESPACE = "try-local"
PASSWORD = "try-local-password-0123456789"


def say(step: str, started: float) -> None:
    print(f"[{time.monotonic() - started:5.1f} s] {step}", flush=True)


def helm(cluster: Cluster, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), f"--kubeconfig={cluster.kubeconfig}", *arguments], capture_output=True, text=True)


def main() -> int:
    started = time.monotonic()
    layout = Layout.default()
    try:
        cluster = Cluster(layout, up(layout))
    except ClusterError as error:
        print(f"The test cluster did not start: {error}", file=sys.stderr)
        return 1
    say(f"Kubernetes is up (a single node on this machine); kubeconfig {cluster.kubeconfig}", started)
    built = build_image()
    if built.returncode != 0:
        print(f"./scripts/build-image failed:\n{built.stderr[-2000:]}", file=sys.stderr)
        return 1
    image = built.stdout.strip().splitlines()[-1]
    cluster.load(image)
    say(f"hook image {image} built and loaded on the node", started)

    users = {"binder-robot": {"password": PASSWORD, "grants": [("*", {"pull", "push", "delete"})]}}
    tokens = TokenServer(users)
    tokens.address = net.NODE_IP
    with tokens, Registry(auth="token", token_server=tokens, address=net.NODE_IP) as registry, \
            tempfile.TemporaryDirectory() as tmp:
        say(f"registry {registry.url} with its token service {tokens.realm}, user binder-robot", started)
        repository, tag = image.rsplit(":", 1)
        values = Path(tmp) / "values.yaml"
        values.write_text(yaml.safe_dump({
            "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
            "binderhub": {"enabled": False},  # the credentials only (companion mode): no BinderHub images here
            "registry": {"type": "generic", "generic": {"url": registry.url, "repository": "binder",
                                                         "username": "binder-robot", "password": PASSWORD}},
        }))
        cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true")
        install = helm(cluster, "install", "binderhub-registry", str(built_chart()), "--namespace", NAMESPACE,
                       "--create-namespace", "-f", str(values), "--timeout", "5m")
        if install.returncode != 0:
            print(f"helm install failed:\n{install.stdout}{install.stderr}", file=sys.stderr)
            return 1
        secret = cluster.get("secret", "binderhub-registry", NAMESPACE) or {}
        auths = json.loads(base64.b64decode(secret.get("data", {}).get(".dockerconfigjson", "e30=")))["auths"]
        say(f"helm install: the hook Job proved push and wrote Secret {NAMESPACE}/binderhub-registry "
            f"(docker config for {', '.join(auths)}) and ConfigMap binderhub-registry-settings", started)
        test = helm(cluster, "test", "binderhub-registry", "--namespace", NAMESPACE, "--timeout", "5m")
        log = cluster.kubectl("logs", "binderhub-registry-check-push", namespace=NAMESPACE, check=False).stdout.strip()
        if test.returncode != 0:
            print(f"helm test failed:\n{test.stdout}{test.stderr}\n{log}", file=sys.stderr)
            return 1
        say(f"helm test: a pod mounting the Secret as BinderHub does pushed: {log.splitlines()[-1] if log else ''}", started)
        uninstall = helm(cluster, "uninstall", "binderhub-registry", "--namespace", NAMESPACE, "--wait", "--timeout", "5m")
        if uninstall.returncode != 0:
            print(f"helm uninstall failed:\n{uninstall.stdout}{uninstall.stderr}", file=sys.stderr)
            return 1
        left = cluster.kubectl("get", "secrets,configmaps,pods,jobs", "-o", "name", namespace=NAMESPACE).stdout.split()
        say(f"helm uninstall: the cleanup Job removed the Secret, the settings and the test pod; left of ours: "
            f"{[name for name in left if 'binderhub-registry' in name] or 'nothing'}", started)
        cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false")
    print("The cluster keeps running for more tries: `scripts/cluster down` stops it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
