"""The real BinderHub on the test cluster: `helm install binderhub ./chart` (one release, the real
Helm 3 and 4) brings up binder, hub and proxy from images built here (scripts/build-test-images);
BinderHub's own /health finds the registry with our settings; a launch finds an image pushed with
our Secret under the name BinderHub computes (no build), and the kubelet pulls it for the user pod
with the pull Secret the chart wires into JupyterHub. Values that only the test cluster needs are
in values/binderhub-on-the-test-cluster.yaml."""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from binderhub_registry.helper_contract import HELPER_PORT
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures_chart import binderhub_archive, built_chart
from tests.helpers import generic_values, write_values
from tests.lifecycle.helm_release import HelmRelease

pytestmark = [pytest.mark.cluster, pytest.mark.binderhub, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
TEST_VALUES = Path(__file__).parent / "values" / "binderhub-on-the-test-cluster.yaml"
IMAGES = {
    "binderhub": "quay.io/jupyterhub/k8s-binderhub:1.0.0-0.dev.git.3959.hb9fad995",
    "hub": "quay.io/jupyterhub/k8s-hub:4.2.0",
    "chp": "quay.io/jupyterhub/configurable-http-proxy:4.6.3",
    "singleuser": "quay.io/jupyterhub/k8s-singleuser-sample:4.2.0",
}
REPOSITORY = "https://example.org/binder-examples/requirements"
COMMIT = secrets.token_hex(20)  # a full SHA (BinderHub's git provider asks no network), new each session: no image name a node already has
PASSWORD = "alice-password-0123456789"


def ONE_HELM(version: str) -> pytest.MarkDecorator:  # noqa: N802 - reads as a marker
    """The launch tests run with Helm 3 and 4; the others, minutes each, with one of them (the
    Helm commands are the same as the launch test's, the point is BinderHub's behaviour)."""
    return pytest.mark.parametrize("helm_version", [version], ids=[f"helm{version}"])


@pytest.fixture
def cluster_namespace(cluster) -> Iterator[str]:
    """BinderHub's namespace enforces PodSecurity ``baseline``: its binder pod and JupyterHub's user
    pods do not meet ``restricted`` (privilege escalation, capabilities, runAsNonRoot, seccomp);
    this chart's own pods do (test_cluster_generic.py)."""
    name = f"binder-{secrets.token_hex(3)}"
    labels = {f"pod-security.kubernetes.io/{mode}": "baseline" for mode in ("enforce", "audit", "warn")}
    cluster.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}])
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def binderhub_images(cluster) -> dict[str, str]:
    """BinderHub's, JupyterHub's and the sample user image, built here and loaded on the node."""
    proc = subprocess.run([str(ROOT / "scripts" / "build-test-images"), *IMAGES], capture_output=True, text=True, timeout=3000)
    if proc.returncode != 0:
        pytest.fail(f"./scripts/build-test-images failed: {proc.stderr.strip()[-3000:]}", pytrace=False)
    cluster.load(*(image for name, image in IMAGES.items() if name != "singleuser"))
    return IMAGES


def binder_url(release: HelmRelease) -> str:
    service = release.get("service", "binder")
    assert service is not None
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"


def health(release: HelmRelease) -> dict[str, Any]:
    """BinderHub's /health through its Service. Helm reports binder ready when its pod is Ready;
    kube-proxy writes the Service's rules a moment later (until then the node refuses the
    connection), so a refused connection is asked again until the rules exist (at most 2 min)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            answer: dict[str, Any] = httpx.get(f"{binder_url(release)}/health", timeout=30).json()
            return answer
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # polling kube-proxy's rules, which the API does not show


def image_name_binderhub_computes(release: HelmRelease, repository: str, ref: str) -> str:
    """Ask BinderHub's own code, in the binder pod, for the image name of a repository at a ref."""
    settings = release.get("configmap", "binderhub-registry-settings")
    assert settings is not None
    prefix = json.loads(settings["data"]["registry.json"])["binderhubConfig"]["BinderHub"]["image_prefix"]
    code = ("import sys; from binderhub.builder import _safe_build_slug; prefix, slug, ref = sys.argv[1:]; "
            "print(f'{prefix}{_safe_build_slug(slug, limit=255 - len(prefix))}:{ref}'.replace('_', '-').lower())")
    return release.cluster.kubectl("exec", "deploy/binder", "--", "python", "-c", code, prefix, repository, ref,
                                   namespace=release.namespace).stdout.strip()


def push_with_the_secret(release: HelmRelease, source: str, destination: str) -> None:
    """Push ``source`` to ``destination`` with the credentials of the Secret the hook wrote, as a
    build pod does."""
    secret = release.get("secret", "binderhub-registry")
    assert secret is not None
    auths = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]
    (entry,) = auths.values()
    credentials = base64.b64decode(entry["auth"]).decode()
    subprocess.run(["podman", "push", "--quiet", "--tls-verify=false", "--creds", credentials, source, f"docker://{destination}"],
                   check=True, capture_output=True, timeout=300)


def launch(release: HelmRelease, repository: str, ref: str, until: tuple[str, ...] = ("ready", "failed")) -> list[dict[str, Any]]:
    """BinderHub's launch API (the event stream a browser reads), until one of the phases ``until``."""
    spec = f"{urllib.parse.quote(repository, safe='')}/{ref}"
    events: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{binder_url(release)}/build/git/{spec}", headers={"Accept": "text/event-stream"},
                      timeout=httpx.Timeout(30, read=300)) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
                if events[-1].get("phase") in until:
                    break
    return events


def user_pods(release: HelmRelease) -> list[dict[str, Any]]:
    return release.cluster.items("pods", release.namespace, selector="component=singleuser-server")


def build_pods(release: HelmRelease) -> list[dict[str, Any]]:
    return release.cluster.items("pods", release.namespace, selector="component=binderhub-build")


def launch_a_pushed_image(release: HelmRelease, source: str, prefix: str) -> tuple[str, list[dict[str, Any]]]:
    """The image BinderHub names (under ``prefix``), pushed with the release's Secret: a launch finds
    it (no build pod) and becomes ready. The image's name and the launch's events."""
    image = image_name_binderhub_computes(release, REPOSITORY, COMMIT)
    assert image.startswith(prefix), image
    push_with_the_secret(release, source, image)
    events = launch(release, REPOSITORY, COMMIT)
    assert events[0]["phase"] == "built" and events[0]["imageName"] == image, events[:2]
    assert events[-1]["phase"] == "ready", events[-3:]
    assert build_pods(release) == []  # found, not built
    return image, events


def install(helm_release, node_registry, tmp_path, chart: Path | None = None, **values: Any) -> tuple[HelmRelease, Any]:
    registry = node_registry("htpasswd", users={"alice": PASSWORD})
    release = helm_release("binderhub", **values)
    if chart is not None:
        release.chart = chart
    registry_values = write_values(tmp_path / "registry.yaml", generic_values(registry.url, "alice", PASSWORD))
    release.install([registry_values, TEST_VALUES], "--wait", "--timeout", "8m")
    return release, registry


def test_binderhub_starts_with_our_settings_and_launches_a_pushed_image(helm_release, node_registry, binderhub_images,
                                                                       tmp_path):
    release, registry = install(helm_release, node_registry, tmp_path)
    ready = {d["metadata"]["name"]: d["status"].get("readyReplicas") for d in release.cluster.items("deployments", release.namespace)}
    assert ready["binder"] == ready["hub"] == ready["proxy"] == 1, ready
    checks = {check["service"]: check["ok"] for check in health(release)["checks"]}
    assert checks["Docker registry"] is True and checks["JupyterHub API"] is True

    image, _ = launch_a_pushed_image(release, binderhub_images["singleuser"], f"{registry.host}/binder/binder-")
    (pod,) = user_pods(release)
    assert pod["spec"]["containers"][0]["image"] == image
    assert {"name": "binderhub-registry-pull"} in pod["spec"]["imagePullSecrets"]
    assert {"name": "binderhub-registry"} not in pod["spec"]["imagePullSecrets"]  # user pods never get the push Secret
    # The kubelet's own record (BinderHub's stream relays it only if KubeSpawner saw it in time).
    pulled = [event["message"] for event in release.cluster.items("events", release.namespace)
              if event["involvedObject"].get("name") == pod["metadata"]["name"] and event["reason"] == "Pulled"]
    assert any(message.startswith("Successfully pulled image") and image in message for message in pulled), pulled


@ONE_HELM("3")
def test_without_the_pull_secret_the_user_pod_never_pulls(helm_release, node_registry, binderhub_images, tmp_path):
    """The wiring broken on purpose: a copy of the chart whose JupyterHub is not given our pull
    Secret. BinderHub still finds the image (it reads the registry with its own mount), but the
    kubelet cannot pull it: the launch never becomes ready."""
    chart = tmp_path / "chart"
    shutil.copytree(built_chart(), chart)
    check = chart / "templates" / "_binderhub.tpl"
    text = check.read_text()
    start = text.index('{{- fail (printf "binderhub.jupyterhub.imagePullSecrets lacks')
    check.write_text(text[:start] + text[text.index("\n", start):])
    release, _ = install(helm_release, node_registry, tmp_path, chart=chart,
                         binderhub={"jupyterhub": {"imagePullSecrets": [], "singleuser": {"startTimeout": 60}}})
    image = image_name_binderhub_computes(release, REPOSITORY, COMMIT)
    push_with_the_secret(release, binderhub_images["singleuser"], image)

    events = launch(release, REPOSITORY, COMMIT)
    assert events[0]["phase"] == "built"
    assert events[-1]["phase"] == "failed", events[-3:]
    messages = "".join(event.get("message", "") for event in events)
    assert "401 Unauthorized" in messages or "authorization failed" in messages or "ErrImagePull" in messages, messages[-2000:]


def binder_pods(release: HelmRelease) -> list[str]:
    return sorted(pod["metadata"]["name"] for pod in release.cluster.items("pods", release.namespace, selector="component=binder"))


def settle_binder(release: HelmRelease, before: list[str]) -> None:
    """Wait for binder's rollout, and for its earlier pods to be gone (the Service then reaches only the new one)."""
    release.cluster.kubectl("rollout", "status", "deployment/binder", "--timeout=300s", namespace=release.namespace)
    gone = [f"pod/{name}" for name in before]
    if gone:
        release.cluster.kubectl("wait", "--for=delete", *gone, "--timeout=300s", namespace=release.namespace)


@ONE_HELM("4")
def test_binderhub_follows_what_the_hook_writes_on_upgrade(helm_release, node_registry, binderhub_images, tmp_path):
    """A wrong password: the hook refuses, BinderHub keeps the registry it had. A second
    registry: the hook writes, binder restarts, and BinderHub checks, names and finds images there."""
    release, first = install(helm_release, node_registry, tmp_path)
    pods = binder_pods(release)

    wrong = write_values(tmp_path / "wrong.yaml", generic_values(first.url, "alice", "wrong-password-0123456789"))
    refused = release.upgrade([wrong, TEST_VALUES], "--wait", "--timeout", "8m", check=False)
    assert refused.returncode != 0
    assert "rejected the login of user 'alice'" in refused.output, refused.output[-3000:]
    assert binder_pods(release) == pods  # not restarted
    assert {check["service"]: check["ok"] for check in health(release)["checks"]}["Docker registry"] is True

    second = node_registry("htpasswd", users={"bob": "bob-password-0123456789"})
    moved = write_values(tmp_path / "second.yaml", generic_values(second.url, "bob", "bob-password-0123456789"))
    release.upgrade([moved, TEST_VALUES], "--wait", "--timeout", "8m")
    settle_binder(release, pods)
    assert binder_pods(release) != pods  # restarted for the new registry
    first.stop()  # BinderHub no longer needs the first registry for anything
    assert {check["service"]: check["ok"] for check in health(release)["checks"]}["Docker registry"] is True

    launch_a_pushed_image(release, binderhub_images["singleuser"], f"{second.host}/binder/binder-")


@ONE_HELM("3")
def test_companion_mode_with_binderhubs_own_chart(helm_release, node_registry, binderhub_images, tmp_path):
    """README's companion mode: our release first, then BinderHub's own chart with
    `-f my-binder-release.yaml -f binderhub-values.yaml` (from our settings ConfigMap); the launch
    works, and a registry change in our release restarts their binder."""
    first = node_registry("htpasswd", users={"alice": PASSWORD})
    ours = helm_release("binderhub-registry", binderhub={"enabled": False})
    ours.install([write_values(tmp_path / "first.yaml", generic_values(first.url, "alice", PASSWORD))])
    companion = ours.cluster.kubectl("get", "configmap", "binderhub-registry-settings",
                                     "-o", r"jsonpath={.data.binderhub-values\.yaml}", namespace=ours.namespace).stdout
    companion_values = tmp_path / "binderhub-values.yaml"
    companion_values.write_text(companion)
    my_binder_release = write_values(tmp_path / "my-binder-release.yaml", yaml.safe_load(TEST_VALUES.read_text())["binderhub"])
    theirs = HelmRelease(ours.cluster, ours.helm, binderhub_archive(), "binder", ours.namespace, tmp_path / "helm-binder")
    theirs.install([my_binder_release, companion_values], "--wait", "--timeout", "8m")

    launch_a_pushed_image(ours, binderhub_images["singleuser"], f"{first.host}/binder/binder-")
    (pod,) = user_pods(ours)
    assert {"name": "binderhub-registry-pull"} in pod["spec"]["imagePullSecrets"]

    pods = binder_pods(ours)
    second = node_registry("htpasswd", users={"bob": "bob-password-0123456789"})
    second_values = generic_values(second.url, "bob", "bob-password-0123456789", repository="other")
    second_values["registry"]["prefix"] = "other-"
    ours.upgrade([write_values(tmp_path / "second.yaml", second_values)])
    # What their release was given once is the same whatever the registry: nothing to copy again.
    assert ours.cluster.kubectl("get", "configmap", "binderhub-registry-settings", "-o", r"jsonpath={.data.binderhub-values\.yaml}",
                                namespace=ours.namespace).stdout == companion
    settle_binder(ours, pods)
    assert binder_pods(ours) != pods  # their binder, restarted by our hook
    assert image_name_binderhub_computes(ours, REPOSITORY, COMMIT).startswith(f"{second.host}/other/other-")


def helper_requests(release: HelmRelease, endpoint: str, status: str) -> float:
    """Requests the registry helper's pods answered at ``endpoint`` with ``status`` (their /metrics)."""
    total = 0.0
    for pod in release.cluster.items("pods", release.namespace, selector="app.kubernetes.io/component=registry-helper"):
        metrics = httpx.get(f"http://{pod['status']['podIP']}:{HELPER_PORT}/metrics", timeout=30).text
        for family in text_string_to_metric_families(metrics):
            total += sum(sample.value for sample in family.samples if sample.name == "binderhub_registry_helper_requests_total"
                         and sample.labels.get("endpoint") == endpoint and sample.labels.get("status") == status)
    return total


def push_with_the_helpers_credentials(release: HelmRelease, source: str, destination: str) -> None:
    """A build pod's push, keyless: credentials from the helper's POST /token (with the bearer
    token BinderHub mounts), as BinderHub hands them to repo2docker."""
    service = release.get("service", "binderhub-registry-helper")
    token_secret = release.get("secret", "binderhub-registry-helper-token")
    assert service is not None and token_secret is not None
    bearer = base64.b64decode(token_secret["data"]["token"]).decode().strip()
    name = destination.split("/", 1)[1]
    answer = httpx.post(f"http://{service['spec']['clusterIP']}:{HELPER_PORT}/token/{name}",
                        headers={"Authorization": f"Bearer {bearer}"}, timeout=60)
    assert answer.status_code == 200, answer.text
    credentials = answer.json()
    subprocess.run(["podman", "push", "--quiet", "--tls-verify=false", "--creds",
                    f"{credentials['username']}:{credentials['password']}", source, f"docker://{destination}"],
                   check=True, capture_output=True, timeout=300)


@ONE_HELM("4")
def test_keyless_binderhub_finds_images_through_the_registry_helper(helm_release, keyless_chart_values, binderhub_images, tmp_path):
    """One release, keyless Google: BinderHub's real ExternalRegistryHelper client, in the binder
    pod, asks our registry helper; an image pushed with the helper's credentials is found (no
    build). The user pod's pull is the node's business on GKE (its node identity), not ours."""
    release = helm_release("binderhub")
    values = keyless_chart_values(release.namespace)
    release.install([write_values(tmp_path / "keyless.yaml", values), TEST_VALUES], "--wait", "--timeout", "8m")
    checks = {check["service"]: check["ok"] for check in health(release)["checks"]}
    assert checks["JupyterHub API"] is True, checks

    image = image_name_binderhub_computes(release, REPOSITORY, COMMIT)
    registry_host = values["registry"]["google"]["registryUrl"].split("://", 1)[1]
    assert image.startswith(f"{registry_host}/binder-test/binder/"), image
    push_with_the_helpers_credentials(release, binderhub_images["singleuser"], image)
    found_before = helper_requests(release, "image", "200")

    events = launch(release, REPOSITORY, COMMIT, until=("built", "failed"))
    assert events[-1]["phase"] == "built" and events[-1]["imageName"] == image, events[-3:]
    assert build_pods(release) == []  # found, not built
    assert helper_requests(release, "image", "200") > found_before  # BinderHub's client asked our helper
