"""registry.type ecr on the real cluster: the real Helm installs, tests, upgrades and uninstalls
the chart (companion mode), the hook and the registry helper running in pods of our image with the
access keys of registry.ecr.accessKeySecret (moto checks no IRSA web identity token, so the
access-key path is the honest one here), reaching moto through boto3's standard AWS_ENDPOINT_URL
(hook.extraEnv, which the helper inherits) on the node's address, and the real registry behind the
ECR token gate as registry.ecr.registryUrl. Install proves push on a probe repository it deletes;
the helper becomes Ready, creates a repository when asked as BinderHub asks, and (pullSecret
helper) writes its ECR token into the pull Secret, with which the kubelet pulls a user pod's image;
uninstall removes what the hook and `helm test` created and leaves the repositories BinderHub pushed to."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.cluster.processes import wait_for
from tests.helpers import write_values
from tests.lifecycle.helm_release import HelmRelease
from tests.lifecycle.test_cluster_harbor import assert_the_kubelet_pulls_only_with_the_pull_secret, in_secret, push_tiny_image
from tests.stand_ins.aws import access_keys

pytestmark = pytest.mark.cluster

SECRET = "binderhub-registry"
PULL_SECRET = f"{SECRET}-pull"
HELPER = f"{SECRET}-helper"
HELPER_PORT = 8080
KEYS = "aws-keys"
REPOSITORY = "binder/binder-octocat-2dhello-abc123"


def ecr_release(helm_release, aws, tmp_path) -> tuple[HelmRelease, object]:
    """Our chart beside BinderHub (companion), registry.type ecr with pullSecret helper."""
    extra_env = [{"name": "BINDERHUB_REGISTRY_RETRY_SECONDS", "value": "0.05"},
                 {"name": "AWS_ENDPOINT_URL", "value": aws.front.url}, {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"}]
    release = helm_release(SECRET, binderhub={"enabled": False}, hook={"extraEnv": extra_env})
    keys = {key: base64.b64encode(value.encode()).decode() for key, value in access_keys().items()}
    release.cluster.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": KEYS}, "data": keys}], namespace=release.namespace)
    values = {"registry": {"type": "ecr", "prefix": "binder-", "ecr": {
        "region": aws.region, "account": aws.account, "registryUrl": aws.registry.url, "accessKeySecret": KEYS,
        "pullSecret": "helper"}}}  # with registryUrl, helm test reads the account from values (the registry host names none)
    return release, write_values(tmp_path / "values.yaml", values)


def helper_ready(release: HelmRelease) -> bool:
    deployment = release.get("deployment", HELPER)
    assert deployment is not None, "no registry helper Deployment"
    return deployment["status"].get("readyReplicas", 0) == deployment["spec"]["replicas"]


def ask_helper(release: HelmRelease, method: str, path: str) -> httpx.Response:
    """As BinderHub's ExternalRegistryHelper asks: through the Service, with the mounted bearer
    token. Helm sees the helper Ready a moment before kube-proxy writes the Service's rules (the
    node refuses the connection until then), so a refused connection is asked again, for 2 min at most."""
    service, token = release.get("service", HELPER), release.get("secret", f"{SECRET}-helper-token")
    assert service is not None and token is not None
    bearer = base64.b64decode(token["data"]["token"]).decode().strip()
    answers: list[httpx.Response] = []

    def answered() -> bool:
        try:
            answers.append(httpx.request(method, f"http://{service['spec']['clusterIP']}:{HELPER_PORT}{path}",
                                         headers={"Authorization": f"Bearer {bearer}"}, timeout=60))
        except httpx.ConnectError:
            return False
        return True

    assert wait_for(answered, 120, interval=0.5), f"the helper's Service refused {method} {path} for 2 minutes"
    return answers[-1]


def written_by_the_helper(release: HelmRelease) -> bool:
    secret = release.get("secret", PULL_SECRET)
    assert secret is not None
    return any(entry.get("manager") == "binderhub-registry-helper" for entry in secret["metadata"].get("managedFields") or [])


def test_install_repository_test_pull_secret_upgrade_uninstall(helm_release, node_aws, tmp_path):
    aws = node_aws
    release, values = ecr_release(helm_release, aws, tmp_path)
    release.install([values], "--wait")
    assert any(r.is_upload_start("binder/binder-push-check") and r.status == 202 for r in aws.registry.seen())
    assert aws.repositories() == set()  # the probe repository the hook created is gone
    assert helper_ready(release)
    assert release.get("role", HELPER) is not None and release.get("rolebinding", HELPER) is not None

    created = ask_helper(release, "POST", f"/repo/{REPOSITORY}")
    assert created.status_code == 200, created.text
    assert REPOSITORY in aws.repositories()

    tested = release.test(check=False)
    assert tested.returncode == 0, release.test_log() or tested.output
    assert "with the registry helper's short-lived credentials" in release.test_log()

    # the helper wrote its ECR token into the pull Secret at start; the gate takes it, the kubelet pulls with it
    assert written_by_the_helper(release)
    username, password = in_secret(release, PULL_SECRET)
    assert username == "AWS" and aws.front.valid(password, aws.account)
    credentials = ask_helper(release, "POST", f"/token/{REPOSITORY}:v1").json()
    push_tiny_image(aws.registry.url, REPOSITORY, "v1", auth=httpx.BasicAuth(credentials["username"], credentials["password"]))
    image = f"{aws.registry.host}/{REPOSITORY}:v1"
    assert_the_kubelet_pulls_only_with_the_pull_secret(release, image)
    ready = ask_helper(release, "GET", "/healthz/ready").json()
    assert ready["pullSecret"].startswith("holds a token until "), ready

    release.upgrade([values], "--wait")
    assert helper_ready(release)
    username, password = in_secret(release, PULL_SECRET)
    assert aws.front.valid(password, aws.account)
    assert ask_helper(release, "GET", f"/image/{REPOSITORY}:v1").status_code == 200
    logs = release.cluster.kubectl("logs", f"deployment/{HELPER}", "--all-containers", namespace=release.namespace).stdout
    assert password not in logs and '"pull-secret"' in logs

    release.uninstall()
    assert aws.repositories() == {REPOSITORY}  # BinderHub's repository stays; the probes are gone
    for kind, name in (("secret", PULL_SECRET), ("secret", SECRET), ("deployment", HELPER), ("role", HELPER)):
        assert release.get(kind, name) is None, f"{kind} {name} left after uninstall"
