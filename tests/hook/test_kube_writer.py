"""The hook takes over the Secret and settings ConfigMap after someone edited them: server-side
apply with ``force``, so fields another field manager changed (``kubectl edit``, ``kubectl apply
--server-side``) are the hook's again instead of a 409 Conflict failing every later upgrade. The
edits are made as kubectl makes them (its field managers and patch types), on the stand-in API,
which answers 409 to a non-forced apply like the real server.

The hook and cleanup Jobs also run here as the chart runs them (tests/chart renders it with the real
Helm 4): the rendered args and values file, under the chart's ServiceAccount, its Role enforced by
the stand-in as RBAC does: a first install creates every object the hook writes, and the uninstall
cleanup deletes them and the Pod `helm test` left behind."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
import yaml
from binderhub_registry.settings import pull_secret_name, settings_configmap_name

from tests.chart.test_chart import by_kind, template
from tests.helpers import CliResult, binder_deployment, generic_values, run_cli, write_values

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


class ChartRelease:
    """The chart rendered by Helm 4 for a registry, its ServiceAccount, Role and RoleBinding in the
    stand-in API (which enforces the Role as RBAC does), and its Jobs run as the chart runs them:
    the rendered args, the rendered values file, the ServiceAccount's token."""

    def __init__(self, kube_api, helm_binaries, tmp_path, registry) -> None:
        values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", registry.password("alice")))
        self.docs = template(helm_binaries, "4", values)
        for doc in [*by_kind(self.docs, "ServiceAccount"), *by_kind(self.docs, "Role"), *by_kind(self.docs, "RoleBinding")]:
            kube_api.put(in_namespace(doc))
        self.kube_api, self.tmp_path = kube_api, tmp_path

    def job(self, hook: str) -> dict:
        (job,) = [d for d in by_kind(self.docs, "Job") if hook in d["metadata"]["annotations"]["helm.sh/hook"].split(",")]
        return job

    def hook_values(self) -> dict:
        """The values file the Jobs mount (the rendered values Secret)."""
        volumes = self.job("pre-install")["spec"]["template"]["spec"]["volumes"]
        (secret_name,) = [v["secret"]["secretName"] for v in volumes if v["name"] == "values"]
        (secret,) = [d for d in by_kind(self.docs, "Secret") if d["metadata"]["name"] == secret_name]
        return yaml.safe_load(secret["stringData"]["values.yaml"])

    def service_account_user(self) -> str:
        """The user the hook Job's requests are made as."""
        return f"system:serviceaccount:{NS}:{self.job('pre-install')['spec']['template']['spec']['serviceAccountName']}"

    def run(self, hook: str) -> CliResult:
        """The Job of ``hook`` (pre-install, pre-delete) as its pod runs it."""
        spec = self.job(hook)["spec"]["template"]["spec"]
        args = list(spec["containers"][0]["args"])
        args[args.index("--values") + 1] = str(write_values(self.tmp_path / "hook-values.yaml", self.hook_values()))
        token = self.kube_api.token_for_service_account(NS, spec["serviceAccountName"])
        kubeconfig = self.kube_api.write_kubeconfig(self.tmp_path / "kubeconfig", token, NS)
        return run_cli(*args, env={"KUBECONFIG": str(kubeconfig)})

    def written_names(self) -> dict[str, list[str]]:
        """What the hook writes, named by the values and the hook's own naming functions."""
        secret = self.hook_values()["output"]["secretName"]
        return {"secrets": [secret, pull_secret_name(secret)], "configmaps": [settings_configmap_name(secret)]}


def in_namespace(doc: dict) -> dict:
    return {**doc, "metadata": {**doc["metadata"], "namespace": NS}}


@pytest.fixture
def release(kube_api, helm_binaries, tmp_path, htpasswd_registry) -> ChartRelease:
    return ChartRelease(kube_api, helm_binaries, tmp_path, htpasswd_registry)


def test_a_first_install_creates_the_hooks_objects_with_no_more_than_the_charts_role(release, kube_api):
    """On a fresh namespace each server-side apply is also a create of that name: the chart's Role
    must grant it on the Secret, the pull Secret and the settings ConfigMap, or the install fails."""
    result = release.run("pre-install")
    assert result.code == 0, result.stderr
    for resource, names in release.written_names().items():
        for name in names:
            assert kube_api.get(resource, NS, name) is not None, (resource, name)
            creates = [e for e in kube_api.audit if e.resource == resource and e.name == name and e.verb == "patch"]
            assert creates and {e.user for e in creates} == {release.service_account_user()}
    assert [e for e in kube_api.audit if e.code == 403] == []


def test_the_uninstall_cleanup_deletes_the_pod_helm_test_left_and_the_hooks_objects(release, kube_api):
    """Helm deletes no test hook: the cleanup Job deletes the chart's test Pod, exit 0."""
    assert release.run("pre-install").code == 0
    (test_pod,) = by_kind(release.docs, "Pod")
    kube_api.put(in_namespace(test_pod))  # what `helm test` leaves behind
    result = release.run("pre-delete")
    assert result.code == 0, result.stderr
    assert kube_api.get("pods", NS, test_pod["metadata"]["name"]) is None
    for resource, names in release.written_names().items():
        assert [name for name in names if kube_api.get(resource, NS, name) is not None] == []
