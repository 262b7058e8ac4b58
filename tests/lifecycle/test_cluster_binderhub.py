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
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_chart import built_chart
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
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # a full SHA: BinderHub's git provider asks no network
PASSWORD = "alice-password-0123456789"


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
    answer: dict[str, Any] = httpx.get(f"{binder_url(release)}/health", timeout=30).json()
    return answer


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


def launch(release: HelmRelease, repository: str, ref: str) -> list[dict[str, Any]]:
    """BinderHub's launch API (the event stream a browser reads), until ready or failed."""
    spec = f"{urllib.parse.quote(repository, safe='')}/{ref}"
    events: list[dict[str, Any]] = []
    with httpx.stream("GET", f"{binder_url(release)}/build/git/{spec}", headers={"Accept": "text/event-stream"},
                      timeout=httpx.Timeout(30, read=300)) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line.removeprefix("data:")))
                if events[-1].get("phase") in ("ready", "failed"):
                    break
    return events


def user_pods(release: HelmRelease) -> list[dict[str, Any]]:
    return release.cluster.items("pods", release.namespace, selector="component=singleuser-server")


def build_pods(release: HelmRelease) -> list[dict[str, Any]]:
    return release.cluster.items("pods", release.namespace, selector="component=binderhub-build")


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

    image = image_name_binderhub_computes(release, REPOSITORY, COMMIT)
    assert image.startswith(f"{registry.host}/binder/binder-")
    push_with_the_secret(release, binderhub_images["singleuser"], image)

    events = launch(release, REPOSITORY, COMMIT)
    assert events[0]["phase"] == "built" and events[0]["imageName"] == image, events[:2]
    assert events[-1]["phase"] == "ready", events[-3:]
    assert build_pods(release) == []  # found, not built
    (pod,) = user_pods(release)
    assert pod["spec"]["containers"][0]["image"] == image
    assert {"name": "binderhub-registry-pull"} in pod["spec"]["imagePullSecrets"]
    assert {"name": "binderhub-registry"} not in pod["spec"]["imagePullSecrets"]  # user pods never get the push Secret
    assert any(event["message"].startswith("Successfully pulled") or "Successfully pulled image" in event["message"]
               for event in events), "the kubelet did not pull the image from the registry"


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
