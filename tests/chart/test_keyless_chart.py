"""The chart with registry.google.credential workload-identity: the registry helper's Deployment,
Service, ServiceAccount and token Secret, and nothing of them otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.test_chart import by_kind, template

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
