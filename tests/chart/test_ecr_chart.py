"""The chart with registry.type ecr: the registry helper (as for keyless Google, without Google's
annotation), IRSA's role ARN on the hook's and the helper's ServiceAccounts, the access keys of
registry.ecr.accessKeySecret in the hook's, the cleanup's and the helper's environment (never in
the test Pod's), and the binder pod's settings sending BinderHub to the helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.test_chart import by_kind, template

ECR = Path(__file__).parent / "values" / "ecr.yaml"
ROLE = "arn:aws:iam::123456789012:role/binderhub"


def env_names(pod_spec: dict) -> set[str]:
    return {e["name"] for c in pod_spec["containers"] for e in c.get("env") or []}


@pytest.mark.parametrize("version", ["3", "4"])
def test_irsa_annotates_the_hook_and_the_helper_and_the_helper_runs(helm_binaries, version):
    docs = template(helm_binaries, version, ECR)
    accounts = {d["metadata"]["name"]: d["metadata"].get("annotations") or {} for d in by_kind(docs, "ServiceAccount")}
    assert accounts["binderhub-registry-helper"] == {"eks.amazonaws.com/role-arn": ROLE}  # no GKE annotation
    assert accounts["binderhub-registry-hook"]["eks.amazonaws.com/role-arn"] == ROLE
    deployment, = by_kind(docs, "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][0] == "serve"
    values_secret = next(d for d in by_kind(docs, "Secret") if d["metadata"]["name"] == "binderhub-registry-helper-values")
    assert "region: eu-west-1" in values_secret["stringData"]["values.yaml"]
    test_pod, = by_kind(docs, "Pod")
    assert "--registry-helper" in test_pod["spec"]["containers"][0]["args"]
    for doc in docs:  # no access keys anywhere without accessKeySecret
        assert "AWS_ACCESS_KEY_ID" not in str(doc)


@pytest.mark.parametrize("value", ["registry.ecr.accessKeySecret", "registry.existingSecret"])
def test_the_access_key_secret_reaches_the_hook_the_cleanup_and_the_helper_only(helm_binaries, value):
    docs = template(helm_binaries, "4", ECR, "registry.ecr.roleArn=", f"{value}=aws-keys")
    jobs = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in by_kind(docs, "Job")}
    pods = [*jobs.values(), by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]]
    for pod in pods:
        env = {e["name"]: e for c in pod["containers"] for e in c.get("env") or []}
        assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "aws-keys", "key": "AWS_SECRET_ACCESS_KEY"}
        assert "AWS_ACCESS_KEY_ID" in env
    assert len(pods) == 3
    test_pod, = by_kind(docs, "Pod")
    assert "AWS_ACCESS_KEY_ID" not in env_names(test_pod["spec"])
    for account in by_kind(docs, "ServiceAccount"):
        assert "eks.amazonaws.com/role-arn" not in (account["metadata"].get("annotations") or {})


def test_an_ecr_value_helm_refuses_in_the_clis_words(helm_binaries):
    from tests.chart.test_chart import built_chart, helm

    result = helm(helm_binaries, "4", "template", "binderhub", str(built_chart()), "-f", str(ECR), "--set", "registry.ecr.region=")
    assert result.returncode != 0
    assert "registry.ecr.region must be set for registry.type=ecr." in result.stderr


@pytest.mark.parametrize("version", ["3", "4"])
def test_pull_secret_none_gives_the_helper_no_kubernetes_access(helm_binaries, version):
    docs = template(helm_binaries, version, ECR)
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert "--pull-secret" not in pod["containers"][0]["args"]
    assert [r["metadata"]["name"] for r in by_kind(docs, "Role")] == ["binderhub-registry-hook"]


@pytest.mark.parametrize("version", ["3", "4"])
def test_pull_secret_helper_lets_the_helper_get_and_patch_the_pull_secret_only(helm_binaries, version):
    docs = template(helm_binaries, version, ECR, "registry.ecr.pullSecret=helper")
    pod = by_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    args = pod["containers"][0]["args"]
    assert args[args.index("--pull-secret") + 1] == "binderhub-registry-pull"
    roles = {r["metadata"]["name"]: r["rules"] for r in by_kind(docs, "Role")}
    assert roles["binderhub-registry-helper"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["binderhub-registry-pull"], "verbs": ["get", "patch", "update"]}]
    binding = next(b for b in by_kind(docs, "RoleBinding") if b["metadata"]["name"] == "binderhub-registry-helper")
    assert binding["roleRef"]["name"] == "binderhub-registry-helper"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "binderhub-registry-helper", "namespace": "binder"}]
