"""The README's four commands, for real: the real Helm 3 and 4 install, test, upgrade and
uninstall the chart on the real cluster (API server, controller-manager, scheduler, kubelet,
containerd), the hook running in a pod of our image, against the real registry on the node's
address, in a namespace that enforces PodSecurity ``restricted``."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers import generic_values, write_values
from tests.lifecycle.helm_release import HelmRelease

pytestmark = pytest.mark.cluster

SECRET = "binderhub-registry"
HOOK = "binderhub-registry-hook"


def docker_config(release: HelmRelease) -> dict:
    secret = release.get("secret", SECRET)
    assert secret is not None, "the hook wrote no Secret"
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    return json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))


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


def test_wrong_password_fails_the_install_with_the_hooks_sentence(helm_release, node_registry, helm_version, tmp_path):
    registry = node_registry("htpasswd", users={"alice": "alice-password-0123456789"})
    values = write_values(tmp_path / "values.yaml", generic_values(registry.url, "alice", "wrong-password-0123456789"))
    release = helm_release("binderhub-registry", binderhub={"enabled": False})

    failed = release.install([values], check=False)
    assert failed.returncode != 0
    sentence = "rejected the login of user 'alice'"
    # README, Troubleshooting: Helm 4 prints the hook's last line; with Helm 3 it is the Job's log.
    if helm_version == "4":
        assert sentence in failed.output, failed.output
    else:
        assert sentence in release.logs(HOOK).strip().splitlines()[-1]
    assert release.get("secret", SECRET) is None
    assert "wrong-password-0123456789" not in failed.output + release.logs(HOOK)
