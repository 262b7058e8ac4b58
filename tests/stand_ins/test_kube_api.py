"""The Kubernetes API stand-in, driven only through the official ``kubernetes`` client."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.stand_ins.kube_api import KubeApiServer

NS = "hub"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def apis(server: KubeApiServer, token: str | None = None) -> tuple[client.CoreV1Api, client.AppsV1Api]:
    api_client = client.ApiClient(server.configuration(token))
    return client.CoreV1Api(api_client), client.AppsV1Api(api_client)


def status_of(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ApiException) as info:
        call()
    return info.value.status, json.loads(info.value.body)


def secret_doc(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS},
            "data": {key.replace("_", "."): b64(value) for key, value in data.items()}}


@pytest.fixture
def core(kube_api: KubeApiServer) -> client.CoreV1Api:
    return apis(kube_api)[0]


@pytest.fixture
def restore_default_configuration() -> Iterator[None]:
    saved = client.Configuration.get_default_copy()
    yield
    client.Configuration.set_default(saved)


# -- plumbing --------------------------------------------------------------------------------

def test_version_and_discovery(kube_api: KubeApiServer) -> None:
    api_client = client.ApiClient(kube_api.configuration())
    assert client.VersionApi(api_client).get_code().git_version.startswith("v1.")
    assert client.CoreApi(api_client).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apps", "batch", "rbac.authorization.k8s.io"} <= groups
    names = {r.name for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert {"secrets", "configmaps", "serviceaccounts", "pods"} <= names


def test_kubeconfig_file_works_with_load_kube_config(kube_api: KubeApiServer, tmp_path: Path,
                                                     restore_default_configuration: None) -> None:
    kube_api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "other"},
                  "data": {"a": "1"}})
    path = kube_api.write_kubeconfig(tmp_path / "kubeconfig", kube_api.admin_token, "other")
    config.load_kube_config(config_file=str(path))
    _, context = config.list_kube_config_contexts(config_file=str(path))
    assert context["context"]["namespace"] == "other"
    assert client.CoreV1Api().read_namespaced_config_map("c", "other").data == {"a": "1"}



def test_kubectl_reads_with_the_kubeconfig_only_over_tls(kube_api: KubeApiServer, kube_api_tls: KubeApiServer,
                                                         kubectl_binary: Path, tmp_path: Path) -> None:
    """client-go (kubectl, Helm) drops a kubeconfig's token over plain http, as against a real
    API server: anonymous, 401. Over TLS with the certificate the kubeconfig names, it reads."""
    for server in (kube_api, kube_api_tls):
        server.put(secret_doc("s", token="kept"))
    def kubectl(server: KubeApiServer, name: str) -> subprocess.CompletedProcess[str]:
        path = server.write_kubeconfig(tmp_path / name, None, NS)
        return subprocess.run([str(kubectl_binary), "--kubeconfig", str(path), "get", "secret", "s", "-o", "json"],
                              capture_output=True, text=True, timeout=60)
    plain, tls = kubectl(kube_api, "plain"), kubectl(kube_api_tls, "tls")
    assert plain.returncode == 1 and "provide credentials" in plain.stderr
    assert {e.code for e in kube_api.audit if e.path != "/version"} == {401}
    assert tls.returncode == 0, tls.stderr
    assert kube_api_tls.url.startswith("https://") and json.loads(tls.stdout)["data"] == {"token": b64("kept")}
    assert apis(kube_api_tls)[0].read_namespaced_secret("s", NS).data == {"token": b64("kept")}


# -- CRUD ------------------------------------------------------------------------------------

def test_secret_crud(kube_api: KubeApiServer, core: client.CoreV1Api) -> None:
    created = core.create_namespaced_secret(NS, {"metadata": {"name": "s", "labels": {"app": "x"}},
                                                 "stringData": {"user": "me"}, "data": {"pw": b64("pw")}})
    assert created.data == {"pw": b64("pw"), "user": b64("me")}
    assert created.type == "Opaque" and created.metadata.uid and created.metadata.creation_timestamp
    assert kube_api.get("secrets", NS, "s")["data"]["user"] == b64("me")
    assert "stringData" not in kube_api.get("secrets", NS, "s")

    core.create_namespaced_secret(NS, {"metadata": {"name": "other", "labels": {"app": "y"}}})
    assert [s.metadata.name for s in core.list_namespaced_secret(NS, label_selector="app=x").items] == ["s"]
    assert [s.metadata.name for s in core.list_namespaced_secret(NS, label_selector="app!=x").items] == ["other"]
    assert len(core.list_namespaced_secret(NS).items) == 2

    current = kube_api.get("secrets", NS, "s")
    current["data"] = {"pw": b64("new")}
    replaced = core.replace_namespaced_secret("s", NS, current)
    assert replaced.data == {"pw": b64("new")}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    patched = core.patch_namespaced_secret("s", NS, {"data": {"extra": b64("e")}}, _content_type=MERGE)
    assert patched.data == {"pw": b64("new"), "extra": b64("e")}
    patched = core.patch_namespaced_secret("s", NS, [{"op": "remove", "path": "/data/extra"}])
    assert patched.data == {"pw": b64("new")}

    deleted = core.delete_namespaced_secret("s", NS)  # the client hands back the Status as a dict
    assert deleted["status"] == "Success" and deleted["details"]["name"] == "s"
    assert kube_api.get("secrets", NS, "s") is None


def test_configmap_crud_and_patch_types(kube_api: KubeApiServer, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}})
    # a dict body without _content_type goes out as a strategic merge patch
    assert core.patch_namespaced_config_map("c", NS, {"data": {"b": None, "c": "3"}}).data == {"a": "1", "c": "3"}
    ops = [{"op": "replace", "path": "/data/a", "value": "9"}, {"op": "add", "path": "/data/d", "value": "4"}]
    assert core.patch_namespaced_config_map("c", NS, ops).data == {"a": "9", "c": "3", "d": "4"}
    core.delete_namespaced_config_map("c", NS)
    assert status_of(lambda: core.read_namespaced_config_map("c", NS))[0] == 404


def test_unchanged_write_keeps_resource_version(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}, "data": {"a": "1"}})
    again = core.patch_namespaced_config_map("c", NS, {"data": {"a": "1"}}, _content_type=MERGE)
    assert again.metadata.resource_version == first.metadata.resource_version


# -- server-side apply -----------------------------------------------------------------------

def test_server_side_apply_creates_then_updates(kube_api: KubeApiServer, core: client.CoreV1Api) -> None:
    doc = secret_doc("reg", a="1", b="2")
    created = core.patch_namespaced_secret("reg", NS, doc, field_manager="binderhub-registry", force=True,
                                           _content_type=APPLY)
    assert created.data == {"a": b64("1"), "b": b64("2")}
    (entry,) = created.metadata.managed_fields
    assert (entry.manager, entry.operation) == ("binderhub-registry", "Apply")
    assert entry.fields_v1 == {"f:data": {"f:a": {}, "f:b": {}}}

    # a later apply that no longer mentions b removes it; the same apply again is a no-op
    updated = core.patch_namespaced_secret("reg", NS, secret_doc("reg", a="3"), field_manager="binderhub-registry",
                                           force=True, _content_type=APPLY)
    assert updated.data == {"a": b64("3")}
    assert updated.metadata.uid == created.metadata.uid
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    again = core.patch_namespaced_secret("reg", NS, secret_doc("reg", a="3"), field_manager="binderhub-registry",
                                         force=True, _content_type=APPLY)
    assert again.metadata.resource_version == updated.metadata.resource_version
    assert [(e.verb, e.code) for e in kube_api.audit] == [("patch", 201), ("patch", 200), ("patch", 200)]


def test_times_are_the_server_clock_and_move_only_when_a_write_changes_the_object(kube_api: KubeApiServer,
                                                                                core: client.CoreV1Api) -> None:
    """What the hook's restart rule reads: creationTimestamp and managedFields times are the API
    server's, to the second; an apply sets its manager's time only when it changed the object (a
    no-op apply, or one that only takes over a field with its value, keeps it), like the real
    managedFieldsUpdater; an update sets its manager's time when it changed a field."""
    kube_api.clock.freeze(dt.datetime(2026, 11, 29, 10, 0, 0, 900_000, tzinfo=dt.UTC))

    def times(name: str) -> dict[str, str]:
        secret = core.read_namespaced_secret(name, NS).to_dict()["metadata"]
        return {entry["manager"]: entry["time"].strftime("%H:%M:%S") for entry in secret["managed_fields"] if entry["time"]}

    def apply(manager: str, **data: str) -> None:
        core.patch_namespaced_secret("reg", NS, secret_doc("reg", **data), field_manager=manager, force=True, _content_type=APPLY)

    apply("hook", a="1", b="1")
    created = core.read_namespaced_secret("reg", NS).metadata.creation_timestamp
    assert created == dt.datetime(2026, 11, 29, 10, 0, 0, tzinfo=dt.UTC)  # truncated, not rounded
    kube_api.clock.advance(5)
    apply("hook", a="1", b="1")
    assert times("reg") == {"hook": "10:00:00"}
    apply("other", a="1")  # the same value under another manager: ownership only, no time (kubernetes#127938)
    assert times("reg") == {"hook": "10:00:00"}
    kube_api.clock.advance(5)
    apply("hook", a="2", b="1")
    assert times("reg") == {"hook": "10:00:10"}
    kube_api.clock.advance(5)
    core.patch_namespaced_secret("reg", NS, {"data": {"a": b64("2")}}, field_manager="kubectl-edit")  # changes nothing
    assert "kubectl-edit" not in times("reg")
    core.patch_namespaced_secret("reg", NS, {"data": {"a": b64("3")}}, field_manager="kubectl-edit")
    assert times("reg") == {"hook": "10:00:10", "kubectl-edit": "10:00:15"}
    assert core.read_namespaced_secret("reg", NS).metadata.creation_timestamp == created


def test_apply_keeps_fields_of_other_managers_and_reports_conflicts(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret(NS, {"metadata": {"name": "reg"}, "data": {"mine": b64("x")}}, field_manager="helm")
    code, body = status_of(lambda: core.patch_namespaced_secret(
        "reg", NS, secret_doc("reg", mine="y"), field_manager="hook", _content_type=APPLY))
    assert code == 409 and body["reason"] == "Conflict"
    assert body["message"].startswith('Apply failed with 1 conflict: conflict with "helm" using v1 at ')
    assert body["message"].endswith(": .data.mine")

    forced = core.patch_namespaced_secret("reg", NS, secret_doc("reg", other="z"), field_manager="hook", force=True,
                                          _content_type=APPLY)
    assert forced.data == {"mine": b64("x"), "other": b64("z")}
    assert {e.manager for e in forced.metadata.managed_fields} == {"helm", "hook"}


def test_apply_needs_a_field_manager(core: client.CoreV1Api) -> None:
    code, body = status_of(lambda: core.patch_namespaced_secret("reg", NS, secret_doc("reg"), _content_type=APPLY))
    assert code == 422
    assert body["message"] == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'


def test_apply_body_must_be_a_dict_with_client_37(core: client.CoreV1Api) -> None:
    """kubernetes 37 validates ``body`` with pydantic: a JSON string never leaves the client."""
    with pytest.raises(pydantic.ValidationError):
        core.patch_namespaced_secret("reg", NS, json.dumps(secret_doc("reg")), field_manager="m", force=True,
                                     _content_type=APPLY)


# -- errors ----------------------------------------------------------------------------------

def test_not_found_status_is_exact(core: client.CoreV1Api) -> None:
    assert status_of(lambda: core.read_namespaced_secret("gone", NS)) == (404, {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": 'secrets "gone" not found',
        "reason": "NotFound", "details": {"name": "gone", "kind": "secrets"}, "code": 404})
    code, body = status_of(lambda: apis_apps(core).read_namespaced_deployment("gone", NS))
    assert (code, body["message"], body["details"]) == (
        404, 'deployments.apps "gone" not found', {"name": "gone", "group": "apps", "kind": "deployments"})


def test_a_namespace_that_does_not_exist_refuses_creates_and_finds_nothing(kube_api: KubeApiServer, core: client.CoreV1Api) -> None:
    """As the real NamespaceLifecycle admission: a create, or an apply that creates, is a 404 about
    the namespace; a read or delete there is the object's own 404."""
    kube_api.absent_namespaces.add("nowhere")
    missing = (404, 'namespaces "nowhere" not found', {"name": "nowhere", "kind": "namespaces"})
    code, body = status_of(lambda: core.create_namespaced_secret("nowhere", {"metadata": {"name": "s"}}))
    assert (code, body["message"], body["details"]) == missing
    code, body = status_of(lambda: core.patch_namespaced_config_map(
        "c", "nowhere", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, field_manager="m",
        _content_type="application/apply-patch+yaml"))
    assert (code, body["message"], body["details"]) == missing
    code, body = status_of(lambda: core.read_namespaced_secret("s", "nowhere"))
    assert (code, body["details"]) == (404, {"name": "s", "kind": "secrets"})
    code, body = status_of(lambda: core.delete_namespaced_secret("s", "nowhere"))
    assert (code, body["details"]) == (404, {"name": "s", "kind": "secrets"})
    core.create_namespaced_secret(NS, {"metadata": {"name": "s"}})  # every other namespace exists


def apis_apps(core: client.CoreV1Api) -> client.AppsV1Api:
    return client.AppsV1Api(core.api_client)


def test_create_existing_is_already_exists(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret(NS, {"metadata": {"name": "s"}})
    code, body = status_of(lambda: core.create_namespaced_secret(NS, {"metadata": {"name": "s"}}))
    assert (code, body["reason"], body["message"]) == (409, "AlreadyExists", 'secrets "s" already exists')


def test_stale_update_is_a_conflict(core: client.CoreV1Api) -> None:
    stale = core.create_namespaced_secret(NS, {"metadata": {"name": "s"}, "data": {"a": b64("1")}})
    core.patch_namespaced_secret("s", NS, {"data": {"a": b64("2")}}, _content_type=MERGE)
    stale.data = {"a": b64("3")}
    code, body = status_of(lambda: core.replace_namespaced_secret("s", NS, stale))
    assert (code, body["reason"], body["details"]) == (409, "Conflict", {"name": "s", "kind": "secrets"})
    assert body["message"] == ('Operation cannot be fulfilled on secrets "s": the object has been modified; '
                               "please apply your changes to the latest version and try again")


def test_dockerconfigjson_secrets_are_validated(core: client.CoreV1Api) -> None:
    typed = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "reg"}, "type": "kubernetes.io/dockerconfigjson"}
    code, body = status_of(lambda: core.create_namespaced_secret(NS, {**typed, "data": {"config.json": b64("{}")}}))
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == 'Secret "reg" is invalid: data[.dockerconfigjson]: Required value'
    assert body["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "data[.dockerconfigjson]"}]

    code, body = status_of(lambda: core.create_namespaced_secret(NS, {**typed, "data": {".dockerconfigjson": b64("nope")}}))
    assert code == 422
    assert body["message"] == ('Secret "reg" is invalid: data[.dockerconfigjson]: Invalid value: '
                               "\"<secret contents redacted>\": invalid character 'n' looking for beginning of value")

    code, body = status_of(lambda: core.create_namespaced_secret(NS, {**typed, "data": {".dockerconfigjson": "%%%"}}))
    assert (code, body["message"]) == (
        400, 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0')
    ok = core.create_namespaced_secret(NS, {**typed, "stringData": {".dockerconfigjson": '{"auths": {}}'}})
    assert ok.type == "kubernetes.io/dockerconfigjson"


def test_secret_type_is_immutable(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret(NS, {"metadata": {"name": "reg"}, "data": {".dockerconfigjson": b64("{}")}})
    doc = {**secret_doc("reg"), "type": "kubernetes.io/dockerconfigjson",
           "data": {".dockerconfigjson": b64("{}")}}
    code, body = status_of(lambda: core.patch_namespaced_secret("reg", NS, doc, field_manager="m", force=True,
                                                                _content_type=APPLY))
    assert (code, body["message"]) == (
        422, 'Secret "reg" is invalid: type: Invalid value: "kubernetes.io/dockerconfigjson": field is immutable')



QUALIFIED_NAME = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                  "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def test_annotation_keys_are_qualified_names(core: client.CoreV1Api) -> None:
    """ValidateObjectMeta -> ValidateAnnotations: IsQualifiedName(strings.ToLower(key)), 256 KiB in all."""
    def apply(annotations: dict[str, str]) -> Any:
        doc = {**secret_doc("reg"), "metadata": {"name": "reg", "namespace": NS, "annotations": annotations}}
        return core.patch_namespaced_secret("reg", NS, doc, field_manager="m", force=True, _content_type=APPLY)

    code, body = status_of(lambda: apply({"bad key": "v"}))
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == f'Secret "reg" is invalid: metadata.annotations: Invalid value: "bad key": name part {QUALIFIED_NAME}'
    assert body["details"]["causes"][0]["field"] == "metadata.annotations"
    long_name = "example.org/" + "x" * 64
    code, body = status_of(lambda: apply({long_name: "v"}))
    assert body["message"] == (f'Secret "reg" is invalid: metadata.annotations: Invalid value: "{long_name}": '
                               "name part must be no more than 63 characters")
    code, body = status_of(lambda: apply({"a/b/c": "v"}))
    assert body["message"].endswith("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")
    code, body = status_of(lambda: apply({"big": "x" * (256 * 1024)}))
    assert body["message"] == 'Secret "reg" is invalid: metadata.annotations: Too long: must have at most 262144 bytes'
    assert body["details"]["causes"] == [{"reason": "FieldValueTooLong", "field": "metadata.annotations",
                                          "message": "Too long: must have at most 262144 bytes"}]
    assert status_of(lambda: core.read_namespaced_secret("reg", NS))[0] == 404

    # annotation keys are checked in lower case (labels are not), so a capitalised prefix is fine
    assert apply({"Example.com/Key": "v", "binderhub-registry.jupyter.org/credential-id": "k"}).metadata.annotations
    code, body = status_of(lambda: core.create_namespaced_config_map(NS, {"metadata": {"name": "c", "labels": {
        "Example.com/key": "v"}}}))
    assert body["message"].startswith('ConfigMap "c" is invalid: metadata.labels: Invalid value: "Example.com/key": '
                                      "prefix part a lowercase RFC 1123 subdomain must consist of")


def test_patch_may_not_rename_or_move_an_object(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(NS, {"metadata": {"name": "c"}})
    code, body = status_of(lambda: core.patch_namespaced_config_map("c", NS, {"metadata": {"name": "d"}},
                                                                    _content_type=MERGE))
    assert (code, body["reason"], body["message"]) == (
        400, "BadRequest", "the name of the object (d) does not match the name on the URL (c)")
    code, body = status_of(lambda: core.patch_namespaced_config_map("c", NS, {"metadata": {"namespace": "elsewhere"}},
                                                                    _content_type=MERGE))
    assert (code, body["message"]) == (
        400, "the namespace of the provided object does not match the namespace sent on the request")
    code, body = status_of(lambda: core.patch_namespaced_config_map(
        "c", NS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "elsewhere"}},
        field_manager="m", _content_type=APPLY))
    assert (code, body["message"]) == (
        400, "the namespace of the provided object does not match the namespace sent on the request")


# -- authentication and RBAC -----------------------------------------------------------------

def grant(server: KubeApiServer, sa: str, rules: list[dict[str, Any]], role: str = "hook") -> str:
    server.put({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": NS}})
    server.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": role, "namespace": NS},
                "rules": rules})
    server.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": role, "namespace": NS},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": NS}]})
    return server.token_for_service_account(NS, sa)


def test_rbac_resource_names(kube_api: KubeApiServer) -> None:
    kube_api.put(secret_doc("reg", a="1"))
    kube_api.put(secret_doc("someone-else", a="1"))
    token = grant(kube_api, "hook", [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["reg", "new"],
                                      "verbs": ["get", "patch", "delete"]}])
    core, _ = apis(kube_api, token)
    user = f"system:serviceaccount:{NS}:hook"

    assert core.read_namespaced_secret("reg", NS).data == {"a": b64("1")}
    code, body = status_of(lambda: core.patch_namespaced_secret("someone-else", NS, {"data": {}}, _content_type=MERGE))
    assert (code, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (f'secrets "someone-else" is forbidden: User "{user}" cannot patch resource "secrets" '
                               f'in API group "" in the namespace "{NS}"')
    assert body["details"] == {"name": "someone-else", "kind": "secrets"}
    code, body = status_of(lambda: core.create_namespaced_secret(NS, {"metadata": {"name": "reg2"}}))
    assert (code, body["message"]) == (403, f'secrets is forbidden: User "{user}" cannot create resource "secrets" '
                                            f'in API group "" in the namespace "{NS}"')
    assert status_of(lambda: core.list_namespaced_secret(NS))[0] == 403
    assert status_of(lambda: core.read_namespaced_secret("reg", "elsewhere"))[0] == 403

    # server-side apply is authorized as patch, and as create of that name when it creates the object
    code, body = status_of(lambda: core.patch_namespaced_secret("new", NS, secret_doc("new", a="2"), field_manager="hook",
                                                                force=True, _content_type=APPLY))
    assert (code, body["message"]) == (403, f'secrets "new" is forbidden: User "{user}" cannot create resource "secrets" '
                                            f'in API group "" in the namespace "{NS}"')
    assert [(e.user, e.verb, e.name, e.code) for e in kube_api.audit[-5:]] == [
        (user, "patch", "someone-else", 403), (user, "create", "", 403), (user, "list", "", 403),
        (user, "get", "reg", 403), (user, "patch", "new", 403)]
    creator = grant(kube_api, "creator", [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["new"],
                                           "verbs": ["patch", "create"]}], role="creator")
    creator_core, _ = apis(kube_api, creator)
    created = creator_core.patch_namespaced_secret("new", NS, secret_doc("new", a="2"), field_manager="hook", force=True,
                                                   _content_type=APPLY)
    assert created.data == {"a": b64("2")}


def test_rbac_wildcards_groups_and_missing_roles(kube_api: KubeApiServer) -> None:
    token = grant(kube_api, "deployer", [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}])
    core, apps = apis(kube_api, token)
    assert apps.list_namespaced_deployment(NS).items == []
    assert status_of(lambda: core.list_namespaced_config_map(NS))[0] == 403

    kube_api.put({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                  "metadata": {"name": "dangling", "namespace": NS},
                  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "absent"},
                  "subjects": [{"kind": "Group", "name": "readers"}]})
    reader_core, _ = apis(kube_api, kube_api.token_for_user("alice", ["readers"]))
    code, body = status_of(lambda: reader_core.read_namespaced_config_map("c", NS))
    assert (code, body["message"]) == (403, f'configmaps "c" is forbidden: User "alice" cannot get resource "configmaps" '
                                            f'in API group "" in the namespace "{NS}": RBAC: '
                                            'role.rbac.authorization.k8s.io "absent" not found')


def test_service_account_token_dies_with_its_service_account(kube_api: KubeApiServer) -> None:
    token = grant(kube_api, "hook", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}])
    core, _ = apis(kube_api, token)
    assert core.list_namespaced_config_map(NS).items == []
    kube_api.delete("serviceaccounts", NS, "hook")
    code, body = status_of(lambda: core.list_namespaced_config_map(NS))
    assert (code, body) == (401, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    unknown, _ = apis(kube_api, "not-a-token")
    assert status_of(lambda: unknown.list_namespaced_config_map(NS))[0] == 401
    assert kube_api.audit[-1].user == "" and kube_api.audit[-1].code == 401


# -- deployments -----------------------------------------------------------------------------

def test_deployment_patch_bumps_generation_and_records_history(kube_api: KubeApiServer) -> None:
    _, apps = apis(kube_api)
    labels = {"app": "binder"}
    apps.create_namespaced_deployment(NS, {
        "metadata": {"name": "binder"},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "binder", "image": "binder:1"}]}}}})
    restart = {"spec": {"template": {"metadata": {"annotations": {"binderhub-registry/restartedAt": "t1"}}}}}
    patched = apps.patch_namespaced_deployment("binder", NS, restart)
    assert patched.metadata.generation == 2 and patched.spec.replicas == 1
    relabel = apps.patch_namespaced_deployment("binder", NS, {"metadata": {"labels": {"x": "y"}}})
    assert relabel.metadata.generation == 2
    assert kube_api.deployment_history(NS, "binder") == [{}, {"binderhub-registry/restartedAt": "t1"}]

    code, body = status_of(lambda: apps.create_namespaced_deployment(NS, {
        "metadata": {"name": "bad"}, "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {}}}}))
    assert code == 422 and "`selector` does not match template `labels`" in body["message"]

    # the whole object is validated after a strategic merge patch, pod-template annotations too
    bad = {"spec": {"template": {"metadata": {"annotations": {"restarted at": "t2"}}}}}
    code, body = status_of(lambda: apps.patch_namespaced_deployment(
        "binder", NS, bad, _content_type="application/strategic-merge-patch+json"))
    assert (code, body["message"]) == (422, 'Deployment.apps "binder" is invalid: spec.template.metadata.annotations: '
                                            f'Invalid value: "restarted at": name part {QUALIFIED_NAME}')
    assert kube_api.deployment_history(NS, "binder") == [{}, {"binderhub-registry/restartedAt": "t1"}]


def test_direct_helpers(kube_api: KubeApiServer) -> None:
    stored = kube_api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})
    assert stored["metadata"]["namespace"] == "default" and stored["metadata"]["resourceVersion"] == "1"
    assert [c["metadata"]["name"] for c in kube_api.list("configmaps", "default")] == ["c"]
    assert kube_api.list("configmaps", "elsewhere") == []
    assert kube_api.delete("configmaps", "default", "c") and not kube_api.delete("configmaps", "default", "c")
    assert kube_api.get("ConfigMap", "default", "c") is None
