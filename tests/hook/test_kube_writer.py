"""The hook takes over the Secret and settings ConfigMap after someone edited them: server-side
apply with ``force``, so fields another field manager changed (``kubectl edit``, ``kubectl apply
--server-side``) are the hook's again instead of a 409 Conflict failing every later upgrade. The
edits are made as kubectl makes them (its field managers and patch types), on the stand-in API,
which answers 409 to a non-forced apply like the real server. And `helm uninstall`'s cleanup Job,
run as the chart renders it (its args, its values Secret, its ServiceAccount's Role), deletes every
object the hook wrote and the `helm test` Pod, and nothing else; the hook Job restarts exactly the
Deployments its Role names, also when `null` removed `restart.deployments`' default."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import yaml

from tests.chart.test_chart import by_kind, template
from tests.helpers import binder_deployment, generic_values, run_cli, write_values

NS = "binder"
SECRET = "binderhub-registry"
SETTINGS = "binderhub-registry-settings"


def provision(kube_api, tmp_path, registry, *args: str):
    values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", registry.password("alice")))
    env = {"KUBECONFIG": str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS))}
    return run_cli("provision", "--values", str(values), *args, env=env)


def kubectl_edit(kube_api, resource: str, name: str, patch: dict) -> None:
    """What `kubectl edit` sends: a strategic merge patch under field manager kubectl-edit."""
    response = httpx.patch(f"{kube_api.url}/api/v1/namespaces/{NS}/{resource}/{name}", params={"fieldManager": "kubectl-edit"},
                           headers={"Authorization": f"Bearer {kube_api.admin_token}",
                                    "Content-Type": "application/strategic-merge-patch+json"}, content=json.dumps(patch))
    assert response.status_code == 200, response.text


def kubectl_apply_server_side(kube_api, resource: str, name: str, document: dict) -> None:
    """What `kubectl apply --server-side --force-conflicts` sends: an apply patch under field
    manager kubectl, forced (without it the server refuses: the hook owns those fields)."""
    response = httpx.patch(f"{kube_api.url}/api/v1/namespaces/{NS}/{resource}/{name}",
                           params={"fieldManager": "kubectl", "force": "true"},
                           headers={"Authorization": f"Bearer {kube_api.admin_token}",
                                    "Content-Type": "application/apply-patch+yaml"}, content=yaml.safe_dump(document))
    assert response.status_code == 200, response.text


def owners(obj: dict, field: str) -> set[str]:
    return {entry["manager"] for entry in obj["metadata"]["managedFields"] if field in json.dumps(entry.get("fieldsV1", {}))}


@pytest.mark.parametrize("editor", ["kubectl edit", "kubectl apply --server-side --force-conflicts"])
def test_the_hook_takes_back_a_secret_and_settings_someone_edited(kube_api, tmp_path, htpasswd_registry, editor):
    first = provision(kube_api, tmp_path, htpasswd_registry)
    assert first.code == 0, first.stderr
    written = kube_api.get("secrets", NS, SECRET)["data"]["config.json"]
    settings = kube_api.get("configmaps", NS, SETTINGS)["data"]["binderhub-values.yaml"]

    stale = base64.b64encode(b'{"auths": {}}').decode()
    if editor == "kubectl edit":
        kubectl_edit(kube_api, "secrets", SECRET, {"data": {"config.json": stale}})
        kubectl_edit(kube_api, "configmaps", SETTINGS, {"data": {"binderhub-values.yaml": "edited: by hand\n"}})
    else:
        kubectl_apply_server_side(kube_api, "secrets", SECRET, {"apiVersion": "v1", "kind": "Secret",
                                                                "metadata": {"name": SECRET}, "data": {"config.json": stale}})
        kubectl_apply_server_side(kube_api, "configmaps", SETTINGS, {"apiVersion": "v1", "kind": "ConfigMap",
                                                                     "metadata": {"name": SETTINGS},
                                                                     "data": {"binderhub-values.yaml": "edited: by hand\n"}})
    edited_by = "kubectl-edit" if editor == "kubectl edit" else "kubectl"
    assert edited_by in owners(kube_api.get("secrets", NS, SECRET), "f:config.json")

    again = provision(kube_api, tmp_path, htpasswd_registry)
    assert again.code == 0, again.stderr
    secret = kube_api.get("secrets", NS, SECRET)
    assert json.loads(base64.b64decode(secret["data"]["config.json"])) == json.loads(base64.b64decode(written))
    assert kube_api.get("configmaps", NS, SETTINGS)["data"]["binderhub-values.yaml"] == settings
    assert owners(secret, "f:config.json") == {"binderhub-registry"}
    assert owners(kube_api.get("configmaps", NS, SETTINGS), "f:binderhub-values.yaml") == {"binderhub-registry"}


def test_binderhub_is_rolled_once_for_a_new_credential_and_not_again_for_the_same_one(kube_api, tmp_path, htpasswd_registry):
    kube_api.put(binder_deployment(NS))
    first = provision(kube_api, tmp_path, htpasswd_registry, "--log-format", "json")
    assert first.code == 0, first.stderr
    assert json.loads(first.stderr.splitlines()[-1])["restarted"] == ["binder"]
    patches = [e for e in kube_api.audit if e.verb == "patch" and e.resource == "deployments"]
    assert len(patches) == 1

    again = provision(kube_api, tmp_path, htpasswd_registry, "--log-format", "json")
    assert again.code == 0, again.stderr
    assert json.loads(again.stderr.splitlines()[-1])["restarted"] == []
    assert [e for e in kube_api.audit if e.verb == "patch" and e.resource == "deployments"] == patches


def test_an_identity_rbac_forbids_to_write_exits_2_at_once_naming_the_role(kube_api, tmp_path, htpasswd_registry):
    """403 from the API is configuration (the chart's Role), exit 2 so the Job is not retried; not an outage."""
    values = write_values(tmp_path / "values.yaml", generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", kube_api.token_for_user("nobody"), NS)
    result = run_cli("provision", "--values", str(values), env={"KUBECONFIG": str(kubeconfig)})
    assert result.code == 2, result.stderr
    assert "forbids the hook to" in result.last_line and result.last_line.endswith("the chart's Role must allow it.")


def test_a_namespace_that_does_not_exist_fails_the_hook_instead_of_writing_nowhere(kube_api, tmp_path, htpasswd_registry):
    """The reads there find nothing (absent is fine); the write is a 404 about the namespace, which
    must end the hook (exit 2), not count as done."""
    kube_api.absent_namespaces.add("nowhere")
    result = provision(kube_api, tmp_path, htpasswd_registry, "--namespace", "nowhere")
    assert result.code == 2, result.stderr
    assert "nowhere" in result.last_line and "namespace" in result.last_line
    assert [(e.verb, e.namespace, e.code) for e in kube_api.audit if e.verb == "patch"] == [("patch", "nowhere", 404)]


def chart_pods(kube_api, helm_binaries, tmp_path, values: dict) -> tuple[dict[str, list[str]], dict[str, str]]:
    """`helm template` of the chart with ``values``: its ServiceAccount, Role and RoleBinding put in
    the stand-in; the CLI args of each pod (hook, cleanup, test) by the command it runs, reading the
    values Secret's file; and the environment with KUBECONFIG holding that account's token."""
    docs = template(helm_binaries, "4", write_values(tmp_path / "helm-values.yaml", values))
    for doc in [*by_kind(docs, "ServiceAccount"), *by_kind(docs, "Role"), *by_kind(docs, "RoleBinding")]:
        kube_api.put({**doc, "metadata": {**doc["metadata"], "namespace": NS}})
    (values_secret,) = [doc for doc in by_kind(docs, "Secret") if "values.yaml" in doc.get("stringData", {})]
    mounted = tmp_path / "values.yaml"
    mounted.write_text(values_secret["stringData"]["values.yaml"])
    pods = [doc["spec"]["template"]["spec"] for doc in by_kind(docs, "Job")] + [doc["spec"] for doc in by_kind(docs, "Pod")]
    (account,) = {pod["serviceAccountName"] for pod in pods}
    token = kube_api.token_for_service_account(NS, account)
    env = {"KUBECONFIG": str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", token, NS))}
    args = {}
    for pod in pods:
        (container,) = pod["containers"]
        command = [str(mounted) if arg == "/etc/binderhub-registry/values/values.yaml" else arg for arg in container["args"]]
        args[command[0]] = command
    return args, env


def test_uninstall_deletes_everything_the_hook_wrote_and_the_test_pod_and_nothing_else(kube_api, tmp_path, htpasswd_registry,
                                                                                      helm_binaries):
    pods, env = chart_pods(kube_api, helm_binaries, tmp_path,
                      generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")))
    provisioned = run_cli(*pods["provision"], env=env)
    assert provisioned.code == 0, provisioned.stderr
    written = [("secrets", SECRET), ("secrets", f"{SECRET}-pull"), ("configmaps", SETTINGS)]
    assert all(kube_api.get(resource, NS, name) is not None for resource, name in written)
    test_pod = pods["cleanup"][pods["cleanup"].index("--test-pod") + 1]
    kube_api.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": test_pod, "namespace": NS},
                  "spec": {"containers": [{"name": "check", "image": "binderhub-registry"}]}})  # what `helm test` leaves
    kube_api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "binder-config", "namespace": NS}, "data": {}})

    cleaned = run_cli(*pods["cleanup"], env=env)
    assert cleaned.code == 0, cleaned.stderr
    gone = [*written, ("pods", test_pod)]
    assert [(resource, name) for resource, name in gone if kube_api.get(resource, NS, name) is not None] == []
    assert {(e.resource, e.name) for e in kube_api.audit if e.verb == "delete" and e.code == 200} == set(gone)
    assert kube_api.get("configmaps", NS, "binder-config") is not None


@pytest.mark.parametrize(("restart", "rolled"), [({}, ["binder"]), ({"deployments": None}, []), ({"deployments": []}, [])],
                         ids=["default", "null", "empty list"])
def test_the_hook_as_the_chart_runs_it_restarts_exactly_the_deployments_its_role_names(kube_api, tmp_path, htpasswd_registry,
                                                                                      helm_binaries, restart, rolled):
    """`--set restart.deployments=null` (Helm removes the default, and the Role names no Deployment)
    restarts none, like []: the hook's values say so, instead of leaving the hook to bring back the
    default `binder`, which its Role forbids it to read (exit 2, a failed install)."""
    kube_api.put(binder_deployment(NS))
    values = {**generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice")), "restart": restart}
    pods, env = chart_pods(kube_api, helm_binaries, tmp_path, values)
    result = run_cli(*pods["provision"], env=env)
    assert result.code == 0, result.stderr
    assert {event.name for event in kube_api.audit if event.resource == "deployments"} == set(rolled)
    assert len(kube_api.deployment_history(NS, "binder")) == 1 + len(rolled)
