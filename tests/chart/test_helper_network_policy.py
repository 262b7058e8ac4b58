"""The registry helper's NetworkPolicy (keyless Google only): it selects exactly the helper's pods
and admits, on the helper's port only, the binder pods as BinderHub's own chart renders them (one
release and companion) and this release's `helm test` Pod, and no other pod of the release nor a
BinderHub user's notebook or build pod. Evaluated on the objects the real Helm 3 and 4 render,
with tests/label_selector.py reading selectors as Kubernetes does."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.binder_pod import deployment_named, rendered
from tests.chart.test_chart import assert_valid_kubernetes, by_kind, template
from tests.chart.test_keyless_chart import KEYLESS, keyless_hook_objects
from tests.fixtures_chart import binderhub_archive
from tests.label_selector import ingress_ports, selector_matches

NAMESPACE = "binder"
Obj = dict[str, Any]
# Labels KubeSpawner gives a BinderHub user's notebook pod (z2jh's files/hub/jupyterhub_config.py
# common_labels, KubeSpawner's component_label) and BinderHub gives a build pod (build.py).
NOTEBOOK_POD = {"app": "jupyterhub", "app.kubernetes.io/name": "jupyterhub", "release": "binderhub",
                "app.kubernetes.io/instance": "binderhub", "app.kubernetes.io/managed-by": "kubespawner",
                "component": "singleuser-server", "hub.jupyter.org/servername": "", "hub.jupyter.org/username": "x"}
BUILD_POD = {"name": "build-abc", "component": "binderhub-build"}


def pod_templates(docs: list[Obj]) -> dict[str, dict[str, str]]:
    """The labels of every pod the rendered objects would run, by "Kind/name"."""
    pods = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            pods[f"{doc['kind']}/{doc['metadata']['name']}"] = doc["spec"]["template"]["metadata"].get("labels") or {}
        elif doc["kind"] == "Pod":
            pods[f"Pod/{doc['metadata']['name']}"] = doc["metadata"].get("labels") or {}
    return pods


def the_policy(docs: list[Obj]) -> Obj:
    (policy,) = [d for d in by_kind(docs, "NetworkPolicy") if d["metadata"]["name"] == "binderhub-registry-helper"]
    return policy


def helper_port(docs: list[Obj]) -> int:
    """The helper's container port the Service sends to (its targetPort, by name or number)."""
    (service,) = [d for d in by_kind(docs, "Service") if d["metadata"]["name"] == "binderhub-registry-helper"]
    (service_port,) = service["spec"]["ports"]
    return container_port(docs, service_port["targetPort"])


def container_port(docs: list[Obj], port: int | str) -> int:
    deployment = deployment_named(docs, "binderhub-registry-helper")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(number)


def admitted_ports(docs: list[Obj], labels: dict[str, str], namespace: str = NAMESPACE) -> list[int | None]:
    """The helper's container ports a pod may reach (None: every port)."""
    rules = ingress_ports(the_policy(docs), labels, namespace, NAMESPACE)
    for rule in rules:
        assert rule is None or rule.get("protocol", "TCP") == "TCP"
    return [None if rule is None else container_port(docs, rule["port"]) for rule in rules]


@pytest.mark.parametrize("version", ["3", "4"])
def test_one_release_admits_the_binder_and_test_pods_on_the_helper_port_only(helm_binaries, version):
    docs = template(helm_binaries, version, KEYLESS, own=False)  # BinderHub's and JupyterHub's objects too
    policy, pods = the_policy(docs), pod_templates(docs)
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress stays open: DNS, metadata server, Google APIs
    selected = [name for name, labels in pods.items() if selector_matches(policy["spec"]["podSelector"], labels)]
    assert selected == ["Deployment/binderhub-registry-helper"]
    port = helper_port(docs)
    assert port == 8080
    admitted = {name: admitted_ports(docs, labels) for name, labels in pods.items()}
    assert admitted.pop("Deployment/binder") == [port]  # labels as BinderHub's own chart renders them
    assert admitted.pop("Pod/binderhub-registry-check-push") == [port]
    assert "Deployment/hub" in admitted and "Deployment/proxy" in admitted
    assert {name: ports for name, ports in admitted.items() if ports} == {}  # hub, proxy, hook Jobs, helper...
    assert admitted_ports(docs, NOTEBOOK_POD) == [] and admitted_ports(docs, BUILD_POD) == []
    assert admitted_ports(docs, pods["Deployment/binder"], namespace="elsewhere") == []


def test_companion_mode_admits_the_binder_pods_of_the_other_release(helm_binaries, tmp_path):
    """binderhub.enabled=false, BinderHub installed as release `binder` in the same namespace with
    the binderhub-values.yaml the hook wrote (as NOTES.txt tells companion users)."""
    docs = template(helm_binaries, "4", KEYLESS, "binderhub.enabled=false")
    assert not [d for d in docs if d["metadata"]["name"] == "binder"]
    configmap = next(d for d in keyless_hook_objects(tmp_path) if d["kind"] == "ConfigMap")
    values = tmp_path / "binderhub-values.yaml"
    values.write_text(configmap["data"]["binderhub-values.yaml"])
    binderhub = rendered(helm_binaries["4"], "binder", str(binderhub_archive()), "--namespace", NAMESPACE, "-f", str(values))
    binder_labels = deployment_named(binderhub, "binder")["spec"]["template"]["metadata"]["labels"]
    assert binder_labels["release"] == "binder"
    assert admitted_ports(docs, binder_labels) == [8080]
    hub_labels = deployment_named(binderhub, "hub")["spec"]["template"]["metadata"]["labels"]
    assert admitted_ports(docs, hub_labels) == []


def test_a_binder_pod_selector_replaces_the_default(helm_binaries):
    labels = {"app.kubernetes.io/name": "my-binder", "app.kubernetes.io/component": "api"}
    docs = template(helm_binaries, "4", KEYLESS,
                    "registryHelper.networkPolicy.binderPodSelector.matchLabels.app\\.kubernetes\\.io/name=my-binder",
                    "registryHelper.networkPolicy.binderPodSelector.matchExpressions[0].key=app.kubernetes.io/component",
                    "registryHelper.networkPolicy.binderPodSelector.matchExpressions[0].operator=In",
                    "registryHelper.networkPolicy.binderPodSelector.matchExpressions[0].values={api,web}")
    assert admitted_ports(docs, labels) == [8080]
    assert admitted_ports(docs, {**labels, "app.kubernetes.io/component": "worker"}) == []
    assert admitted_ports(docs, {"app": "binder", "component": "binder"}) == []  # not merged with the default


@pytest.mark.parametrize("version", ["3", "4"])
def test_extra_ingress_rules_are_appended_and_valid_kubernetes(helm_binaries, version, tmp_path):
    extra = [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other-binder"}},
                        "podSelector": {"matchLabels": {"component": "binder"}}}],
              "ports": [{"port": "http", "protocol": "TCP"}]},
             {"from": [{"ipBlock": {"cidr": "10.8.0.0/16"}}], "ports": [{"port": 8080}]}]
    values = tmp_path / "extra.yaml"
    values.write_text(yaml.safe_dump({"registryHelper": {"networkPolicy": {"ingress": extra}}}))
    docs = template(helm_binaries, version, [KEYLESS, values])
    default_rules = the_policy(template(helm_binaries, version, KEYLESS))["spec"]["ingress"]
    assert the_policy(docs)["spec"]["ingress"] == default_rules + extra
    assert admitted_ports(docs, {"component": "binder"}, namespace="other-binder") == [8080]
    out = tmp_path / "policy.yaml"
    out.write_text(yaml.safe_dump(the_policy(docs)))
    for kube_version in ("1.28.0", "1.37.0"):
        assert_valid_kubernetes(kube_version, [str(out)])


@pytest.mark.parametrize("version", ["3", "4"])
def test_no_policy_when_disabled_or_without_the_helper(helm_binaries, version):
    assert by_kind(template(helm_binaries, version, KEYLESS, "registryHelper.networkPolicy.enabled=false"), "NetworkPolicy") == []
    assert by_kind(template(helm_binaries, version, KEYLESS.parent / "artifact-registry.yaml"), "NetworkPolicy") == []


def test_without_the_helm_test_pod_only_the_binder_pods_are_admitted(helm_binaries):
    docs = template(helm_binaries, "4", KEYLESS, "test.enabled=false")
    (rule,) = the_policy(docs)["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app": "binder", "component": "binder"}}}]


@pytest.mark.parametrize(("operator", "values", "labels", "matches"), [
    ("In", ["a", "b"], {"k": "b"}, True), ("In", ["a"], {}, False),
    ("NotIn", ["a"], {"k": "b"}, True), ("NotIn", ["a"], {}, True), ("NotIn", ["a"], {"k": "a"}, False),
    ("Exists", [], {"k": ""}, True), ("Exists", [], {}, False),
    ("DoesNotExist", [], {}, True), ("DoesNotExist", [], {"k": "a"}, False),
])
def test_the_selector_matcher_reads_expressions_as_kubernetes(operator, values, labels, matches):
    selector = {"matchLabels": {"app": "binder"}, "matchExpressions": [{"key": "k", "operator": operator, "values": values}]}
    assert selector_matches(selector, {"app": "binder", **labels}) is matches
    assert selector_matches(selector, labels) is False  # matchLabels too, all of them
    assert selector_matches({}, labels) is True
