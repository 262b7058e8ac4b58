"""`provision` against the stand-in API, whose clock the test moves (no sleeps): a BinderHub
Deployment created after the hook last changed the Secret and settings (Helm creates `binder`
after the pre-install hook) is not restarted by the next run with the same values, nor by any
later one; one created before them (an existing BinderHub in companion mode), or in the same
second, or a Secret changed since, restarts it as before; a new registry prefix restarts it."""

from __future__ import annotations

import json

from binderhub_registry.state import DEPLOYMENT_FINGERPRINT, FINGERPRINT

from tests.helpers import binder_deployment, generic_values, run_cli, write_values

NS = "binder"
SECRET = "binderhub-registry"


def provision(kube_api, tmp_path, registry_server, revision: int = 1, **values):
    """A hook run as at release ``revision`` (the chart passes it; it is kept in the Secret's annotations)."""
    registry = generic_values(registry_server.url, "alice", registry_server.password("alice"))
    path = write_values(tmp_path / "values.yaml", {**registry, "rotation": {"revision": str(revision)}, **values})
    env = {"KUBECONFIG": str(kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS))}
    result = run_cli("provision", "--values", str(path), "--log-format", "json", env=env)
    assert result.code == 0, result.stderr
    steps = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return steps[-1]["restarted"], " ".join(step.get("message", "") for step in steps)


def deployment_patches(kube_api) -> int:
    return len([e for e in kube_api.audit if e.verb == "patch" and e.resource == "deployments"])


def test_binderhub_created_after_the_install_hook_is_not_restarted_by_the_first_upgrade(kube_api, tmp_path, htpasswd_registry):
    kube_api.clock.freeze()
    assert provision(kube_api, tmp_path, htpasswd_registry)[0] == []  # install: no binder yet
    kube_api.clock.advance(1)
    kube_api.put(binder_deployment(NS))  # Helm creates it after the pre-install hook

    restarted, messages = provision(kube_api, tmp_path, htpasswd_registry, revision=2)
    assert restarted == []
    assert "Deployment binder: already runs with this credential and settings" in messages
    binder = kube_api.get("deployments", NS, "binder")
    fingerprint = kube_api.get("secrets", NS, SECRET)["metadata"]["annotations"][FINGERPRINT]
    assert binder["metadata"]["generation"] == 1 and kube_api.deployment_history(NS, "binder") == [{}]  # no rollout
    assert binder["metadata"]["annotations"][DEPLOYMENT_FINGERPRINT] == fingerprint  # noted for later upgrades

    kube_api.clock.advance(60)  # a later upgrade, after that one changed the Secret (its revision): still no restart
    patches = deployment_patches(kube_api)
    assert provision(kube_api, tmp_path, htpasswd_registry, revision=3)[0] == []
    assert deployment_patches(kube_api) == patches

    kube_api.clock.advance(60)  # another prefix: BinderHub must read it, one rollout
    restarted, _ = provision(kube_api, tmp_path, htpasswd_registry, revision=4, registry={
        **generic_values(htpasswd_registry.url, "alice", htpasswd_registry.password("alice"))["registry"], "prefix": "other-"})
    assert restarted == ["binder"]
    fingerprint = kube_api.get("secrets", NS, SECRET)["metadata"]["annotations"][FINGERPRINT]
    assert kube_api.deployment_history(NS, "binder") == [{}, {DEPLOYMENT_FINGERPRINT: fingerprint}]


def test_binderhub_created_in_the_same_second_as_the_secret_is_restarted(kube_api, tmp_path, htpasswd_registry):
    kube_api.clock.freeze()
    provision(kube_api, tmp_path, htpasswd_registry)
    kube_api.put(binder_deployment(NS))  # the same second: it may have read what was there before
    assert provision(kube_api, tmp_path, htpasswd_registry)[0] == ["binder"]


def test_an_existing_binderhub_created_before_the_secret_is_restarted(kube_api, tmp_path, htpasswd_registry):
    """Companion mode: BinderHub was installed long before; the first run that names its
    Deployment restarts it although the Secret stays the same."""
    kube_api.clock.freeze()
    kube_api.put(binder_deployment(NS))
    kube_api.clock.advance(86400)
    assert provision(kube_api, tmp_path, htpasswd_registry, restart={"deployments": []})[0] == []
    kube_api.clock.advance(60)
    assert provision(kube_api, tmp_path, htpasswd_registry)[0] == ["binder"]


def test_binderhub_is_restarted_when_the_secret_changed_after_it_was_created(kube_api, tmp_path, htpasswd_registry):
    kube_api.clock.freeze()
    provision(kube_api, tmp_path, htpasswd_registry)
    kube_api.clock.advance(1)
    kube_api.put(binder_deployment(NS))
    kube_api.clock.advance(1)
    secret = kube_api.get("secrets", NS, SECRET)
    secret["metadata"]["labels"]["edited"] = "by-hand"
    kube_api.put(secret, manager="kubectl-edit")  # after binder started: the rule cannot tell what changed
    assert provision(kube_api, tmp_path, htpasswd_registry)[0] == ["binder"]
