"""The README's four commands, for real: the real Helm 3 and 4 install, test, upgrade and
uninstall the chart on the real cluster (API server, controller-manager, scheduler, kubelet,
containerd), the hook running in a pod of our image, against the real registry on the node's
address, in a namespace that enforces PodSecurity ``restricted``."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from tests.cluster import layout as net
from tests.fixtures_chart import built_chart
from tests.fixtures_cluster import binder_deployment
from tests.helpers import generic_values, write_values
from tests.lifecycle.helm_release import HelmRelease
from tests.stand_ins.dockerhub import DockerHub

pytestmark = pytest.mark.cluster

SECRET = "binderhub-registry"
HOOK = "binderhub-registry-hook"


def docker_config(release: HelmRelease) -> dict:
    secret = release.get("secret", SECRET)
    assert secret is not None, "the hook wrote no Secret"
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))


def login(release: HelmRelease) -> str:
    """``user:password`` of the one entry of the Secret's docker config."""
    (entry,) = docker_config(release)["auths"].values()
    return base64.b64decode(entry["auth"]).decode()


def pod_events(release: HelmRelease) -> list[dict]:
    events = release.cluster.items("events", release.namespace)
    return [event for event in events if event["involvedObject"]["kind"] in ("Pod", "Job")]


def ours(release: HelmRelease) -> list[str]:
    """Every object left in the namespace that carries the release's name."""
    found = release.cluster.kubectl(
        "get", "secrets,configmaps,jobs,pods,serviceaccounts,roles,rolebindings,deployments,services",
        "-o", "name", namespace=release.namespace).stdout.split()
    return [name for name in found if "binderhub-registry" in name]


def test_companion_install_test_upgrade_uninstall(helm_release, node_registry, tmp_path):
    registry = node_registry("token")
    password = registry.token_server.password("pusher")
    values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "pusher", password))
    release = helm_release("binderhub-registry", binderhub={"enabled": False})

    installed = release.install([values])
    assert "STATUS: deployed" in installed.stdout
    auths = docker_config(release)["auths"]
    assert list(auths) == [registry.url]
    assert base64.b64decode(auths[registry.url]["auth"]).decode() == f"pusher:{password}"
    settings = release.get("configmap", f"{SECRET}-settings")
    assert settings is not None and registry.url in settings["data"]["registry.json"]
    # The hook ran in a pod of our image, admitted under PodSecurity restricted, and is gone.
    events = pod_events(release)
    assert any("already present on machine" in e["message"] and release.base_values["image"]["tag"] in e["message"]
               for e in events), events
    assert not [e for e in events if "violates PodSecurity" in e["message"]]
    assert release.get("job", HOOK) is None
    # The push proof reached the registry from inside the cluster.
    assert any(request.username == "pusher" for request in registry.token_server.requests)

    tested = release.test()
    assert "BinderHub can push to" in release.test_log()
    assert password not in installed.output + tested.output + release.test_log()

    release.upgrade([values])
    assert list(docker_config(release)["auths"]) == [registry.url]

    release.uninstall()
    assert release.get("secret", SECRET) is None
    assert release.get("configmap", f"{SECRET}-settings") is None
    assert ours(release) == []


def test_wrong_password_fails_the_install_with_the_hooks_sentence(helm_release, node_registry, tmp_path):
    registry = node_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", "wrong-password-0123456789"))
    release = helm_release("binderhub-registry", binderhub={"enabled": False})

    failed = release.install([values], check=False)
    assert failed.returncode != 0
    sentence = "rejected the login of user 'alice'"
    # README: Helm prints the failed hook's log (hook-output-log-policy), and it stays in the Job's log.
    assert sentence in failed.output, failed.output
    assert sentence in release.logs(HOOK).strip().splitlines()[-1]
    assert release.get("secret", SECRET) is None
    assert "wrong-password-0123456789" not in failed.output + release.logs(HOOK)


def binder_replica_sets(release: HelmRelease) -> list[str]:
    """The ReplicaSets of BinderHub's Deployment: one per rollout of its pod template."""
    return sorted(rs["metadata"]["name"] for rs in release.cluster.items("replicasets", release.namespace)
                  if any(owner["kind"] == "Deployment" and owner["name"] == "binder"
                         for owner in rs["metadata"].get("ownerReferences", [])))


def test_one_release_writes_before_binderhub_and_rolls_it_only_for_a_change(helm_release, node_registry, tmp_path):
    first_registry = node_registry("token")
    second_registry = node_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    first = write_values(tmp_path / "first.yaml", generic_values(
        first_registry.url, "pusher", first_registry.token_server.password("pusher")))
    second = write_values(tmp_path / "second.yaml", generic_values(second_registry.url, "alice", "alice-password-0123456789"))
    release = helm_release("binderhub")

    release.install([first])
    secret, binder = release.get("secret", SECRET), release.get("deployment", "binder")
    assert secret is not None and binder is not None
    # pre-install: the hook wrote the Secret before Helm created BinderHub (API server times)
    written = min(entry["time"] for entry in secret["metadata"]["managedFields"] if entry["manager"] == "binderhub-registry")
    assert written <= binder["metadata"]["creationTimestamp"]
    installed = binder_replica_sets(release)
    assert len(installed) == 1

    # The same values again: binder already reads what the hook wrote (the rule that compares
    # the API server's managedFields times), so no rollout, twice.
    for _ in range(2):
        release.upgrade([first])
        assert binder_replica_sets(release) == installed

    # Another registry: BinderHub's own values are unchanged, the hook rolls binder.
    release.upgrade([second])
    assert list(docker_config(release)["auths"]) == [second_registry.url]
    rolled = binder_replica_sets(release)
    assert len(rolled) == 2 and installed[0] in rolled

    # Only the prefix changes: the docker config is the same, but BinderHub must restart to read
    # the new image_prefix; the same values again restart nothing.
    prefixed = generic_values(second_registry.url, "alice", "alice-password-0123456789")
    prefixed["registry"]["prefix"] = "other-"
    third = write_values(tmp_path / "third.yaml", prefixed)
    release.upgrade([third])
    settings = release.get("configmap", f"{SECRET}-settings")
    assert settings is not None and f"{second_registry.host}/binder/other-" in settings["data"]["registry.json"]
    assert len(binder_replica_sets(release)) == 3
    release.upgrade([third])
    assert len(binder_replica_sets(release)) == 3

    release.uninstall()
    assert release.get("secret", SECRET) is None
    assert ours(release) == []


def test_a_role_without_a_rule_fails_the_install_with_the_real_403(helm_release, node_registry, tmp_path):
    """The Role the chart renders, less ``patch`` on the Secret: the real RBAC authorizer refuses
    the hook's server-side apply, and the install fails with the hook's sentence (exit 2, no retry)."""
    chart = tmp_path / "chart"
    shutil.copytree(built_chart(), chart)
    role = chart / "templates" / "shared" / "role.yaml"
    rules = role.read_text()
    assert rules.count("verbs: [get, create, patch, delete]") == 2
    role.write_text(rules.replace("verbs: [get, create, patch, delete]", "verbs: [get, create, delete]", 1))
    registry = node_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", "alice-password-0123456789"))
    release = helm_release("binderhub-registry", binderhub={"enabled": False})
    release.chart = chart

    failed = release.install([values], check=False)
    assert failed.returncode != 0
    last_line = release.logs(HOOK).strip().splitlines()[-1]
    assert "forbids the hook to patch secrets 'binderhub-registry-pull'" in last_line  # the pull Secret, written first
    assert "the chart's Role must allow it" in last_line
    job = release.get("job", HOOK)
    assert job is not None and job["status"].get("failed") == 1  # exit 2: the pod failure policy fails the Job at once
    assert "forbids the hook to patch secrets" in failed.output


def hold_before_writing(release: HelmRelease) -> None:
    """The hook waits 15 s before it writes the Secret (faults.py), announcing it in its log."""
    release.base_values["hook"]["extraEnv"] += [{"name": "BINDERHUB_REGISTRY_HOLD_AT", "value": "before-secret-written"},
                                                {"name": "BINDERHUB_REGISTRY_HOLD_SECONDS", "value": "15"}]


def holding_hook_pod(release: HelmRelease) -> str:
    """The name of the hook pod once it holds before writing (polls its log, at most 3 minutes)."""
    from tests.cluster.processes import wait_for

    found: list[str] = []

    def holding() -> bool:
        for pod in release.cluster.items("pods", release.namespace, selector=f"job-name={HOOK}"):
            name = pod["metadata"]["name"]
            log = release.cluster.kubectl("logs", name, namespace=release.namespace, check=False).stdout
            if "holding at before-secret-written" in release.cluster.kubectl(
                    "logs", name, namespace=release.namespace, check=False).stderr + log:
                found.append(name)
                return True
        return False

    assert wait_for(holding, 180, interval=0.5), "the hook pod never reached its hold"
    return found[0]


def test_a_hook_pod_deleted_mid_run_leaves_nothing_broken(helm_release, node_registry, tmp_path):
    """``kubectl delete pod`` on the hook while it runs: the Job's next pod finishes the work,
    `helm install` succeeds, and what it wrote pushes."""
    registry = node_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", "alice-password-0123456789"))
    release = helm_release("binderhub-registry", binderhub={"enabled": False})
    hold_before_writing(release)

    install = release.start_install([values])
    first_pod = holding_hook_pod(release)
    release.cluster.kubectl("delete", "pod", first_pod, "--wait=false", namespace=release.namespace)
    output, _ = install.communicate(timeout=300)
    assert install.returncode == 0, output
    assert list(docker_config(release)["auths"]) == [registry.url]
    release.test()
    assert "BinderHub can push to" in release.test_log()


def test_an_api_server_restarted_while_the_hook_runs_leaves_nothing_broken(helm_release, node_registry, tmp_path):
    """The API server stops and starts while the hook holds before writing: Helm and the hook get
    over it (the hook's Job retries if its write fails), and the install succeeds."""
    registry = node_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", "alice-password-0123456789"))
    release = helm_release("binderhub-registry", binderhub={"enabled": False})
    hold_before_writing(release)

    install = release.start_install([values])
    holding_hook_pod(release)
    release.cluster.restart_api_server()
    output, _ = install.communicate(timeout=300)
    assert install.returncode == 0, output
    assert list(docker_config(release)["auths"]) == [registry.url]
    release.test()
    assert "BinderHub can push to" in release.test_log()


def test_a_password_rotated_in_the_existing_secret_is_picked_up_and_binderhub_restarted(helm_release, node_registry, cluster,
                                                                                         tmp_path):
    """The registry's admin rotates the robot's password and a GitOps tool updates the Secret
    named by registry.existingSecret: the next upgrade proves and writes it, and restarts BinderHub."""
    registry = node_registry("token", users={"robot": {"password": "first-password-0123456789",
                                                       "grants": [("*", {"pull", "push", "delete"})]}})
    release = helm_release("binderhub-registry", binderhub={"enabled": False})

    def credentials_secret(password: str) -> None:
        cluster.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "robot-credentials"},
                        "stringData": {"password": password}}], namespace=release.namespace)

    credentials_secret("first-password-0123456789")
    cluster.apply([binder_deployment(release.namespace)], namespace=release.namespace)
    values = generic_values(registry.url, "robot", "")
    values["registry"]["existingSecret"] = "robot-credentials"
    path = write_values(tmp_path / "values.yaml", values)
    release.install([path])
    assert login(release) == "robot:first-password-0123456789"
    rollouts = binder_replica_sets(release)

    registry.token_server.users["robot"]["password"] = "second-password-0123456789"
    credentials_secret("second-password-0123456789")
    upgraded = release.upgrade([path])
    assert login(release) == "robot:second-password-0123456789"
    assert len(binder_replica_sets(release)) == len(rollouts) + 1
    assert "second-password" not in upgraded.output


def test_docker_hub_install_test_token_change_and_uninstall(helm_release, cluster, tmp_path):
    """Docker Hub (its token service, and its registry answering 401 for what does not exist),
    on the node: a token proven and written, kept as it is by the same values, a new token picked
    up with one restart of BinderHub, the Secret gone on uninstall."""
    with DockerHub(address=net.NODE_IP) as hub:
        cluster.allow_plain_http(hub.registry_url.split("://", 1)[1])
        hub.add_account("binderbot")
        first = hub.add_token("binderbot", "read-write")
        release = helm_release("binderhub-registry", binderhub={"enabled": False})
        cluster.apply([binder_deployment(release.namespace)], namespace=release.namespace)

        def values(token: str) -> Path:
            return write_values(tmp_path / f"{token[-6:]}.yaml", {"registry": {"type": "dockerhub", "dockerhub": {
                "username": "binderbot", "password": token, "registryUrl": hub.registry_url, "authUrl": hub.auth_url}}})

        release.install([values(first)])
        assert login(release) == f"binderbot:{first}"
        release.test()
        assert "BinderHub can push to binderbot/binder-" in release.test_log()
        rollouts = binder_replica_sets(release)

        release.upgrade([values(first)])
        assert binder_replica_sets(release) == rollouts  # validated again, nothing restarted

        second = hub.add_token("binderbot", "read-write")
        release.upgrade([values(second)])
        assert login(release) == f"binderbot:{second}"
        assert len(binder_replica_sets(release)) == len(rollouts) + 1

        release.uninstall()
        assert release.get("secret", SECRET) is None


def test_a_missing_existing_secret_fails_the_install_with_its_name(helm_release, node_registry, tmp_path):
    registry = node_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    values = generic_values(registry.url, "alice", "")
    values["registry"]["existingSecret"] = "nowhere"
    release = helm_release("binderhub-registry", binderhub={"enabled": False})
    failed = release.install([write_values(tmp_path / "values.yaml", values)], check=False)
    assert failed.returncode != 0
    assert "Secret 'nowhere' named by registry.existingSecret does not exist" in failed.output


def test_a_cleanup_the_role_forbids_fails_the_uninstall_and_keeps_the_secret(helm_release, node_registry, tmp_path):
    """README, uninstall: exit 2 (here the Role lacks delete) is not retried, `helm uninstall`
    fails at once with the cleanup's sentence, and the Secret stays until the cause is fixed."""
    chart = tmp_path / "chart"
    shutil.copytree(built_chart(), chart)
    role = chart / "templates" / "shared" / "role.yaml"
    role.write_text(role.read_text().replace("verbs: [get, create, patch, delete]", "verbs: [get, create, patch]"))
    registry = node_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", "alice-password-0123456789"))
    release = helm_release("binderhub-registry", binderhub={"enabled": False})
    release.chart = chart
    release.install([values])

    failed = release.uninstall(check=False)
    assert failed.returncode != 0
    assert "forbids the hook to delete secrets" in failed.output
    job = release.get("job", "binderhub-registry-cleanup")
    assert job is not None and job["status"].get("failed") == 1  # not retried although hook.backoffLimit is 1
    assert release.get("secret", SECRET) is not None
