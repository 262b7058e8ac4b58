"""The chart with registry.google.credential workload-identity: the registry helper's Deployment,
Service, ServiceAccount and token Secret, and nothing of them otherwise."""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path

import pytest

from tests.binder_pod import companion_binder_pod, one_release_binder_pod
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
    args = test_pod["spec"]["containers"][0]["args"]
    assert {m["name"] for m in test_pod["spec"]["containers"][0]["volumeMounts"]} >= {"binderhub-registry"}  # the binder pod's volume
    assert args[args.index("--registry-helper") + 1] == "http://binderhub-registry-helper.binder.svc:8080"
    assert args[args.index("--registry-helper-token-file") + 1] == "/etc/binderhub/registry/helper/token"
    assert token_secret["metadata"]["name"] == "binderhub-registry-helper-token"  # what the binder pod's volume names


def test_the_helpers_grace_period_covers_its_drain_and_shutdown_and_its_secrets_are_read_only(helm_binaries):
    """Kubernetes kills the pod after terminationGracePeriodSeconds: it must outlast the drain
    (not-ready while Kubernetes takes it out of the Service) and the graceful shutdown after it,
    or requests in flight are cut. The helper writes nowhere but /tmp."""
    docs = template(helm_binaries, "4", KEYLESS)
    deployment, = by_kind(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container, = pod["containers"]
    args = container["args"]
    drain, graceful = float(args[args.index("--drain-seconds") + 1]), float(args[args.index("--graceful-seconds") + 1])
    assert pod["terminationGracePeriodSeconds"] > drain + graceful
    assert {m["name"]: m.get("readOnly", False) for m in container["volumeMounts"]} == {"values": True, "helper-token": True, "tmp": False}


def test_the_test_pod_checks_and_provisions_nothing(helm_binaries):
    test_pod, = by_kind(template(helm_binaries, "4", KEYLESS), "Pod")
    container, = test_pod["spec"]["containers"]
    assert container["command"] == ["binderhub-registry"] and container["args"][0] == "check"


@pytest.mark.parametrize("values", ["artifact-registry.yaml", "gcr.yaml", "dockerhub.yaml"])
def test_no_helper_without_workload_identity(helm_binaries, values):
    docs = template(helm_binaries, "4", VALUES / values)
    assert not by_kind(docs, "Deployment") and not by_kind(docs, "Service")
    assert not [d for d in docs if "helper" in d["metadata"]["name"]]


def test_builder_annotation_can_be_left_out(helm_binaries):
    docs = template(helm_binaries, "4", KEYLESS, "registryHelper.serviceAccount.annotateBuilder=false")
    account = next(d for d in by_kind(docs, "ServiceAccount") if d["metadata"]["name"] == "binderhub-registry-helper")
    assert account["metadata"]["annotations"] == {"example.org/owner": "binder-team"}


def keyless_hook_objects(tmp_path: Path) -> list[dict]:
    """What the hook writes in keyless mode (offline `render`), and the helper's token Secret."""
    values = write_values(tmp_path / "values.yaml", {"registry": {
        "type": "artifact-registry", "artifactRegistry": {"project": "my-project", "location": "us-central1"},
        "google": {"credential": "workload-identity"}}, "registryHelper": {"name": "binderhub-registry-helper", "namespace": "binder"}})
    rendered = run_cli("render", "--values", str(values))
    assert rendered.code == 0, rendered.stderr
    token = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "binderhub-registry-helper-token"},
             "data": {"token": base64.b64encode(b"the-helper-token-0123456789").decode()}}
    return [*rendered.documents(), token]


def test_binderhub_starts_with_the_helper_in_one_release_and_as_companion(helm_binaries, tmp_path):
    """BinderHub's own chart, started by its own binderhub_config.py from the volumes (one release,
    and companion with binderhub-values.yaml): ExternalRegistryHelper with the helper's URL and the
    token of the helper's Secret, which the binder pod's one projected volume carries."""
    objects = keyless_hook_objects(tmp_path)
    configmap = next(d for d in objects if d["kind"] == "ConfigMap")
    pods = [one_release_binder_pod(helm_binaries["4"], KEYLESS, objects),
            companion_binder_pod(helm_binaries["4"], configmap["data"]["binderhub-values.yaml"], objects, tmp_path)]
    for pod in pods:
        with pod.registry_client() as client:
            assert client.service_url == "http://binderhub-registry-helper.binder.svc:8080"
            assert client.auth_token == "the-helper-token-0123456789"
        assert pod.config["BinderHub"]["image_prefix"] == "us-central1-docker.pkg.dev/my-project/binderhub/binder-"


def test_the_longest_secret_name_keeps_every_keyless_object_name_within_kubernetes_limit(helm_binaries):
    """output.secretName at its maximum: the settings ConfigMap and the helper's token Secret append
    to it, and each name must stay a valid Kubernetes name (253 characters)."""
    longest = "a" * 240
    docs = template(helm_binaries, "4", KEYLESS, f"output.secretName={longest}", "binderhub.enabled=false")
    token_secret = next(d for d in by_kind(docs, "Secret") if d["metadata"]["name"].endswith("-helper-token"))
    assert token_secret["metadata"]["name"] == f"{longest}-helper-token"
    assert max(len(d["metadata"]["name"]) for d in docs) == 253


def test_an_upgrade_keeps_the_helpers_bearer_token_and_an_install_makes_a_fresh_one(helm_binaries, kube_api_tls, tmp_path):
    """The token Secret looks itself up (Helm's `lookup`, live on install and upgrade, and on
    `helm template --dry-run=server`): BinderHub's token survives an upgrade; only an install
    (no Secret yet) makes a new one of 48 random characters.

    Helm 3 only: Helm 4.1.4's server dry-run also maps every rendered kind through discovery
    (NetworkPolicy, PodDisruptionBudget, ClusterRole, StatefulSet, ... which the stand-in does not
    serve), so it fails before rendering."""
    kubeconfig = str(kube_api_tls.write_kubeconfig(tmp_path / "kubeconfig", None, "binder"))

    def token_secret() -> dict:
        docs = template(helm_binaries, "3", KEYLESS, args=("--dry-run=server", "--kubeconfig", kubeconfig))
        return next(d for d in by_kind(docs, "Secret") if d["metadata"]["name"].endswith("-helper-token"))

    fresh = token_secret()
    name = fresh["metadata"]["name"]
    assert re.fullmatch(r"[A-Za-z0-9]{48}", base64.b64decode(fresh["data"]["token"]).decode())
    assert [e.code for e in kube_api_tls.audit if e.resource == "secrets" and e.name == name] == [404]

    existing = base64.b64encode(secrets.token_hex(24).encode()).decode()
    kube_api_tls.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "binder"},
                      "data": {"token": existing}})
    assert token_secret()["data"]["token"] == existing
    assert token_secret()["data"]["token"] == existing  # and on the upgrade after
