"""`helm install binderhub ./chart` with BinderHub's chart as a dependency, played like Helm does
(real Helm 3 and 4 rendering, the stand-in API, real registries): the hook's Secret exists before
the binder Deployment; BinderHub's own binderhub_config.py in that Deployment's pod reads the
current settings; the first `helm upgrade` with the same values does not restart it (Helm created
it after the hook wrote what it reads); `helm upgrade` to another registry, or to another prefix
only, rolls `binder` although BinderHub's values did not change; `helm test`; `helm uninstall`
removes what the hook wrote; companion mode writes the same binderhub-values.yaml whatever the
registry, and restarts an existing BinderHub for what it has not read yet."""

from __future__ import annotations

import httpx

from tests.binder_pod import BinderPod
from tests.helpers import binder_deployment, generic_values, push_image, write_values

NS = "binder"
SECRET = "binderhub-registry"
ANNOTATION = "binderhub-registry.jupyter.org/"


def running_binder(kube_api) -> BinderPod:
    """The binder pod as it starts now: its volumes from the API, BinderHub's config file run."""
    kinds = {"Secret": "secrets", "ConfigMap": "configmaps"}
    return BinderPod.start(kube_api.get("deployments", NS, "binder"), lambda kind, name: kube_api.get(kinds[kind], NS, name))


def first_write(kube_api, resource: str, name: str) -> int:
    """Index in the API's audit log of the first successful write of an object (a create is a
    POST to the collection, whose audit entry names no object: the body's name counts)."""
    return next(i for i, e in enumerate(kube_api.audit)
                if e.resource == resource and e.verb in ("create", "patch") and e.code < 300 and e.name in (name, ""))


def test_one_release_install_upgrade_test_uninstall(make_release, kube_api, make_registry, token_server, tmp_path):
    token_registry = make_registry("token", token_server=token_server)
    password = "alice-password-0123456789"
    basic_registry = make_registry("htpasswd", users={"alice": password})
    first = write_values(tmp_path / "first.yaml", generic_values(token_registry.url, "pusher", token_server.password("pusher")))
    release = make_release("binderhub")

    (hook,) = release.install([first])
    assert hook.runs[-1].exit_code == 0, hook.runs[-1].logs
    # pre-install hook: the Secret and settings are written before Helm creates the binder Deployment.
    assert kube_api.get("deployments", NS, "binder") is not None
    created = first_write(kube_api, "deployments", "binder")  # the first Deployment Helm created
    assert first_write(kube_api, "secrets", SECRET) < created
    assert first_write(kube_api, "configmaps", f"{SECRET}-settings") < created
    assert {d["kind"] for d in release.unserved} >= {"NetworkPolicy"}  # JupyterHub's too
    assert kube_api.get("services", NS, "binder") is not None  # Services are served (the registry helper's is routed)

    binder = running_binder(kube_api)
    assert binder.section("DockerRegistry")["url"] == token_registry.url
    assert binder.section("KubernetesBuildExecutor")["push_secret"] == SECRET
    token = httpx.get(token_server.realm, params={"service": token_server.service, "scope": "repository:binder/binder-x:pull,push"},
                      auth=("pusher", token_server.password("pusher"))).json()["token"]
    push_image(token_registry.url, "binder/binder-x", "v1", token=token)
    with binder.registry_client() as client:
        assert client.image_found(binder.section("BinderHub")["image_prefix"] + "x:v1").found

    (test_run,) = release.test()
    assert "BinderHub can push to" in test_run.runs[-1].logs

    # The first upgrade with the same values: binder was created after the hook wrote what it
    # reads, so it is not restarted (nor by the next one).
    installed = kube_api.get("deployments", NS, "binder")["metadata"]["generation"]
    assert len(kube_api.deployment_history(NS, "binder")) == 1
    for _ in range(2):
        (hook,) = release.upgrade([first])
        assert "Deployment binder: already runs with this credential" in hook.runs[-1].logs
        assert len(kube_api.deployment_history(NS, "binder")) == 1
        assert kube_api.get("deployments", NS, "binder")["metadata"]["generation"] == installed

    # Another registry: BinderHub's values are the same, the hook rolls binder, which then reads it.
    rolls = len(kube_api.deployment_history(NS, "binder"))
    second = write_values(tmp_path / "second.yaml", generic_values(basic_registry.url, "alice", password))
    (hook,) = release.upgrade([second])
    assert "Deployment binder: restarted" in hook.runs[-1].logs
    history = kube_api.deployment_history(NS, "binder")
    assert len(history) == rolls + 1
    fingerprint = kube_api.get("secrets", NS, SECRET)["metadata"]["annotations"][ANNOTATION + "fingerprint"]
    assert history[-1][ANNOTATION + "credential-fingerprint"] == fingerprint
    binder = running_binder(kube_api)
    assert binder.section("DockerRegistry")["url"] == basic_registry.url
    assert "token_url" not in binder.section("DockerRegistry")
    push_image(basic_registry.url, "binder/binder-y", "v1", auth=httpx.BasicAuth("alice", password))
    with binder.registry_client() as client:
        assert client.image_found(binder.section("BinderHub")["image_prefix"] + "y:v1").found

    # Only the prefix changes: the docker config is the same, BinderHub must still restart.
    third = write_values(tmp_path / "third.yaml", {**generic_values(basic_registry.url, "alice", password),
                                                    "registry": {**generic_values(basic_registry.url, "alice", password)["registry"],
                                                                 "prefix": "other-"}})
    (hook,) = release.upgrade([third])
    assert len(kube_api.deployment_history(NS, "binder")) == rolls + 2
    assert running_binder(kube_api).section("BinderHub")["image_prefix"] == f"{basic_registry.host}/binder/other-"

    # The same values again: nothing BinderHub reads changed, no restart.
    release.upgrade([third])
    assert len(kube_api.deployment_history(NS, "binder")) == rolls + 2

    (cleanup,) = release.uninstall()
    assert cleanup.runs[-1].exit_code == 0
    for resource, name in (("secrets", SECRET), ("configmaps", f"{SECRET}-settings"), ("deployments", "binder")):
        assert kube_api.get(resource, NS, name) is None


def test_companion_binderhub_values_are_the_same_for_every_registry(make_release, kube_api, make_registry, token_server, tmp_path):
    token_registry = make_registry("token", token_server=token_server)
    basic_registry = make_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    companion = {"binderhub": {"enabled": False}}
    release = make_release("binderhub")
    # BinderHub's own release, installed a day before: it must read the new Secret, once.
    existing = kube_api.put(binder_deployment(NS))
    kube_api.clock.advance(86400)
    first_values = write_values(tmp_path / "first.yaml", {
        **generic_values(token_registry.url, "pusher", token_server.password("pusher")), **companion})
    (hook,) = release.install([first_values])
    assert "Deployment binder: restarted" in hook.runs[-1].logs
    assert kube_api.get("deployments", NS, "binder")["metadata"]["uid"] == existing["metadata"]["uid"]  # not ours to create
    first = kube_api.get("configmaps", NS, f"{SECRET}-settings")["data"]
    (hook,) = release.upgrade([first_values])
    assert "Deployment binder: already runs with this credential" in hook.runs[-1].logs
    assert len(kube_api.deployment_history(NS, "binder")) == 2
    second_values = generic_values(basic_registry.url, "alice", "alice-password-0123456789", repository="other")
    second_values["registry"]["prefix"] = "other-"
    release.upgrade([write_values(tmp_path / "second.yaml", {**second_values, **companion})])
    second = kube_api.get("configmaps", NS, f"{SECRET}-settings")["data"]
    assert second["registry.json"] != first["registry.json"]
    assert second["binderhub-values.yaml"] == first["binderhub-values.yaml"]
