"""The chart with registry.google.credential workload-identity: the registry helper's Deployment,
Service, ServiceAccount and token Secret, and nothing of them otherwise."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.chart.test_chart import by_kind, template
from tests.helpers import run_cli, write_values

VALUES = Path(__file__).parent / "values"
KEYLESS = VALUES / "artifact-registry-keyless.yaml"
BUILDER = "binderhub-builder@my-project.iam.gserviceaccount.com"


@pytest.mark.parametrize("version", ["3", "4"])
def test_keyless_renders_the_helper_with_no_rbac_and_a_restricted_pod(helm_binaries, version):
    docs = template(helm_binaries, version, KEYLESS)
    deployment, = by_kind(docs, "Deployment")
    service, = by_kind(docs, "Service")
    account = next(d for d in by_kind(docs, "ServiceAccount") if d["metadata"]["name"] == "binderhub-registry-helper")
    assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == BUILDER
    assert account["metadata"]["annotations"]["example.org/owner"] == "binder-team"
    assert account["automountServiceAccountToken"] is False
    for binding in by_kind(docs, "RoleBinding"):
        assert all(s["name"] != "binderhub-registry-helper" for s in binding["subjects"])
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "binderhub-registry-helper" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container, = pod["containers"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert container["args"][:1] == ["serve"] and container["readinessProbe"]["httpGet"]["path"] == "/healthz/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz/live"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"].items() >= service["spec"]["selector"].items()
    token_secret = next(d for d in by_kind(docs, "Secret") if d["metadata"]["name"] == "binderhub-registry-helper-token")
    assert len(token_secret["data"]["token"]) >= 64  # base64 of 48 random characters
    test_pod, = by_kind(docs, "Pod")
    mounts = {m["name"] for m in test_pod["spec"]["containers"][0]["volumeMounts"]}
    assert "helper-token" in mounts and "docker-config" not in mounts
    assert "http://binderhub-registry-helper.binder.svc:8080" in test_pod["spec"]["containers"][0]["args"]


@pytest.mark.parametrize("values", ["artifact-registry.yaml", "gcr.yaml", "dockerhub.yaml"])
def test_no_helper_without_workload_identity(helm_binaries, values):
    docs = template(helm_binaries, "4", VALUES / values)
    assert not by_kind(docs, "Deployment") and not by_kind(docs, "Service")
    assert not [d for d in docs if "helper" in d["metadata"]["name"]]


def test_builder_annotation_can_be_left_out(helm_binaries):
    docs = template(helm_binaries, "4", KEYLESS, "registryHelper.serviceAccount.annotateBuilder=false")
    account = next(d for d in by_kind(docs, "ServiceAccount") if d["metadata"]["name"] == "binderhub-registry-helper")
    assert account["metadata"]["annotations"] == {"example.org/owner": "binder-team"}


UPSTREAM = Path("/work/shared/upstream-charts")


def test_binderhub_chart_takes_the_keyless_settings(helm_binaries, tmp_path):
    """BinderHub's own chart (test data in shared/upstream-charts) accepts binderhub-values.yaml of
    keyless mode: its schema validates it, the binder pod gets the helper's token from the Secret,
    and BinderHub's configuration selects ExternalRegistryHelper with the helper's URL."""
    values = write_values(tmp_path / "values.yaml", {"registry": {
        "type": "artifact-registry", "artifactRegistry": {"project": "my-project", "location": "us-central1"},
        "google": {"credential": "workload-identity"}}, "registryHelper": {"name": "binderhub-registry-helper", "namespace": "binder"}})
    rendered = run_cli("render", "--values", str(values))
    assert rendered.code == 0, rendered.stderr
    settings = tmp_path / "binderhub-values.yaml"
    settings.write_text(rendered.document("ConfigMap")["data"]["binderhub-values.yaml"])
    archive = next(UPSTREAM.glob("binderhub-*.tgz"))
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "upstream", filter="data")
    result = subprocess.run([str(helm_binaries["4"]), "template", "binder", str(tmp_path / "upstream" / "binderhub"), "-f", str(settings)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    binder = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "binder")
    env = {e["name"]: e for e in binder["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BINDERHUB_CONTAINER_REGISTRY_HELPER_AUTH_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "binderhub-registry-helper-token", "key": "token"}}
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "binder-secret")
    config = yaml.safe_load(secret["stringData"]["values.yaml"])["config"]
    assert config["BinderHub"]["registry_class"] == "binderhub.registry.ExternalRegistryHelper"
    assert config["ExternalRegistryHelper"]["service_url"] == "http://binderhub-registry-helper.binder.svc:8080"
