"""registry.type harbor on the real cluster: the real Helm 3 and 4 install, test, upgrade and
uninstall the chart (companion mode), the hook running in a pod of our image against the Harbor
stand-in (held to Harbor's swagger.yaml) on the node's address, in front of the real registry.
Install creates the push and pull robots, `helm test` proves the push robot from inside the
cluster, each upgrade rotates with Harbor's refresh, a robot deleted by hand is re-created,
uninstall deletes exactly the robots the hook created; and the kubelet pulls an image for a user
pod with the pull Secret (and cannot without it), while the registry refuses a push with the
pull robot."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster import layout as net
from tests.cluster.processes import wait_for
from tests.fixtures_chart import built_chart
from tests.fixtures_harbor import ADMIN, ADMIN_SECRET, PROJECT, harbor_values
from tests.helpers import write_values
from tests.lifecycle.helm_release import HelmRelease, HelmResult
from tests.stand_ins.harbor import Harbor

pytestmark = pytest.mark.cluster

SECRET = "binderhub-registry"
PULL_SECRET = f"{SECRET}-pull"


@pytest.fixture
def node_harbor(cluster) -> Iterator[Harbor]:
    """The Harbor stand-in on the node's address (hook pods and the kubelet reach it), with project
    ``binder`` and its Project Admin; every request and answer kept to Harbor's swagger.yaml."""
    harbor = Harbor()
    harbor.address = net.NODE_IP
    with harbor:
        harbor.add_project(PROJECT)
        harbor.admin_password = harbor.add_user(ADMIN, binder="admin")  # type: ignore[attr-defined]
        cluster.allow_plain_http(harbor.host)
        yield harbor
        assert harbor.violations == [], "requests or answers outside Harbor's published API"


def install_harbor_release(helm_release, harbor: Harbor, tmp_path, check: bool = True,
                           chart: Path | None = None) -> tuple[HelmRelease, Path, HelmResult]:
    """`helm install` of the chart (companion mode) with registry.type harbor and the admin's Secret:
    the release, the values file, Helm's result."""
    release = helm_release("binderhub-registry", binderhub={"enabled": False})
    if chart is not None:
        release.chart = chart
    release.cluster.kubectl("create", "secret", "generic", ADMIN_SECRET, f"--from-literal=username={ADMIN}",
                            f"--from-literal=password={harbor.admin_password}", namespace=release.namespace)
    values = write_values(tmp_path / "values.yaml", harbor_values(harbor))
    return release, values, release.install([values], check=check)


def in_secret(release: HelmRelease, name: str) -> tuple[str, str]:
    secret = release.get("secret", name)
    assert secret is not None and secret["type"] == "kubernetes.io/dockerconfigjson"
    (entry,) = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"].values()
    username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return username, password


def test_install_test_upgrades_rotate_a_hand_deleted_robot_returns_uninstall_removes_ours(helm_release, node_harbor, tmp_path):
    harbor = node_harbor
    theirs = harbor._new_robot(f"{PROJECT}+ovh-user-puller", f"robot${PROJECT}+ovh-user-puller", "project", [
        {"kind": "project", "namespace": PROJECT, "access": [{"resource": "repository", "action": "pull"}]}], -1)
    release, values, _installed = install_harbor_release(helm_release, harbor, tmp_path)

    first, first_pull = in_secret(release, SECRET), in_secret(release, PULL_SECRET)
    assert first[0] == f"robot${PROJECT}+{SECRET}-builder-a" and harbor.authenticate(*first) is not None
    assert first_pull[0] == f"robot${PROJECT}+{SECRET}-puller-a" and harbor.authenticate(*first_pull) is not None
    release.test()
    assert "BinderHub can push to" in release.test_log()

    release.upgrade([values])  # revision 2: the -b robots; the -a ones keep working until the next rotation
    second, second_pull = in_secret(release, SECRET), in_secret(release, PULL_SECRET)
    assert second[0].endswith("-builder-b") and second_pull[0].endswith("-puller-b")
    assert harbor.authenticate(*first) is not None and harbor.authenticate(*first_pull) is not None

    release.upgrade([values])  # revision 3: Harbor's refresh of the -a robots ends their old secrets
    third, third_pull = in_secret(release, SECRET), in_secret(release, PULL_SECRET)
    assert third[0] == first[0] and harbor.authenticate(*first) is None and harbor.authenticate(*third) is not None
    assert third_pull[0] == first_pull[0] and harbor.authenticate(*first_pull) is None
    assert harbor.authenticate(*third_pull) is not None

    (robot,) = [r for r in harbor.project_robots(PROJECT) if r.full_name == third[0]]
    del harbor.robots[robot.id]  # deleted by hand in Harbor's UI
    created_before = sum(1 for r in harbor.requests if r[:2] == ("POST", "/api/v2.0/robots"))
    release.upgrade([values])
    assert harbor.authenticate(*in_secret(release, SECRET)) is not None
    assert sum(1 for r in harbor.requests if r[:2] == ("POST", "/api/v2.0/robots")) == created_before + 1

    release.uninstall()
    assert [r.full_name for r in harbor.project_robots(PROJECT)] == [theirs.full_name]
    assert release.get("secret", SECRET) is None and release.get("secret", PULL_SECRET) is None


def tiny_image() -> tuple[bytes, bytes]:
    """An image of one small file: (config, layer), with the layer's diff id in the config, as
    containerd checks when it unpacks."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as archive:
        data = b"pulled with the pull Secret\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    content = layer.getvalue()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/hello"]},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(content).hexdigest()]}}).encode()
    return config, content


def push_tiny_image(registry_url: str, repository: str, tag: str, token: str = "", auth: httpx.Auth | None = None) -> None:
    """Push ``tiny_image`` with a bearer ``token`` or with ``auth`` (HTTP Basic, as ECR takes)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=registry_url, headers=headers, auth=auth, timeout=30) as client:
        def blob(data: bytes) -> str:
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            location = client.post(f"/v2/{repository}/blobs/uploads/").raise_for_status().headers["Location"]
            client.put(f"{location}{'&' if '?' in location else '?'}digest={digest}", content=data).raise_for_status()
            return digest

        config, layer = tiny_image()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blob(layer), "size": len(layer)}],
        }).encode()
        client.put(f"/v2/{repository}/manifests/{tag}", content=manifest,
                   headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}).raise_for_status()


def user_pod(name: str, image: str, pull_secrets: list[str]) -> dict:
    """A pod as a user pod pulls (restricted PodSecurity), naming ``pull_secrets``."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "restartPolicy": "Never", "imagePullSecrets": [{"name": secret} for secret in pull_secrets],
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "user", "image": image, "imagePullPolicy": "Always", "securityContext": {
            "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}}


def pull_events(release: HelmRelease, pod: str) -> list[str]:
    return [f"{event['reason']}: {event['message']}" for event in release.cluster.items("events", release.namespace)
            if event["involvedObject"]["kind"] == "Pod" and event["involvedObject"]["name"] == pod
            and event["reason"] in ("Pulled", "Failed")]


def assert_the_kubelet_pulls_only_with_the_pull_secret(release: HelmRelease, image: str) -> None:
    """Two user pods of ``image``: the one naming the pull Secret is pulled, the other is not."""
    release.cluster.apply([user_pod("with-pull-secret", image, [PULL_SECRET]), user_pod("without", image, [])],
                          namespace=release.namespace)
    assert wait_for(lambda: pull_events(release, "with-pull-secret") and pull_events(release, "without"), 180, interval=1)
    assert pull_events(release, "with-pull-secret")[0].startswith("Pulled: Successfully pulled image"), pull_events(
        release, "with-pull-secret")
    assert "Failed: Failed to pull image" in pull_events(release, "without")[0], pull_events(release, "without")


def test_a_user_pod_pulls_with_the_pull_secret_and_the_pull_robot_cannot_push(helm_release, node_harbor, tmp_path):
    harbor = node_harbor
    release, _values, _installed = install_harbor_release(helm_release, harbor, tmp_path)
    repository, image = f"{PROJECT}/binder-hello", f"{harbor.host}/{PROJECT}/binder-hello:v1"
    pusher, puller = in_secret(release, SECRET), in_secret(release, PULL_SECRET)
    push_tiny_image(harbor.url, repository, "v1", harbor.registry_token(*pusher, repository))  # as a build pod pushes

    assert_the_kubelet_pulls_only_with_the_pull_secret(release, image)

    token = harbor.registry_token(*puller, repository, "pull,push")
    refused = httpx.post(f"{harbor.url}/v2/{repository}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert refused.status_code == 401 and "insufficient_scope" in refused.headers.get("WWW-Authenticate", "")


def test_without_the_roles_rule_for_the_harbor_admin_secret_the_install_fails_naming_the_role(helm_release, node_harbor, tmp_path):
    """The chart's Role grants `get` on the Secret named by registry.harbor.adminSecret (the
    installs above succeed with it); a Role without that rule fails the install at once, with the
    real RBAC 403 in the hook's sentence, and nothing is created in Harbor."""
    chart = tmp_path / "chart"
    shutil.copytree(built_chart(), chart)
    role = chart / "templates" / "shared" / "role.yaml"
    rules = role.read_text()
    assert rules.count('{{- if eq .Values.registry.type "harbor" }}') == 1
    role.write_text(rules.replace('{{- if eq .Values.registry.type "harbor" }}', "{{- if false }}"))
    _release, _values, failed = install_harbor_release(helm_release, node_harbor, tmp_path, check=False, chart=chart)
    assert failed.returncode != 0
    assert "forbids the hook to get secrets 'harbor-admin'" in failed.output and "the chart's Role must allow it" in failed.output
    assert node_harbor.project_robots(PROJECT) == []
