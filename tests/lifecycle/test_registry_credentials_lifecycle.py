"""Docker Hub and generic registries, whose credentials the tool cannot mint: install, test,
and upgrades that re-validate and pick up new credentials (from values or an existing Secret),
rolling BinderHub only when the credential really changed; uninstall removes what the hook wrote."""

from __future__ import annotations

import base64
import json

from tests.helpers import generic_values, write_values

NS = "binder"
FINGERPRINT = "binderhub-registry.jupyter.org/credential-fingerprint"


def binder_deployment(kube_api) -> None:
    kube_api.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "binder", "namespace": NS},
                  "spec": {"selector": {"matchLabels": {"app": "binder"}}, "template": {"metadata": {"labels": {"app": "binder"}},
                           "spec": {"containers": [{"name": "binder", "image": "binder"}]}}}})


def secret_auth(kube_api) -> tuple[str, str]:
    secret = kube_api.get("secrets", NS, "binderhub-registry")
    (key, entry), = json.loads(base64.b64decode(secret["data"]["config.json"]))["auths"].items()
    return key, base64.b64decode(entry["auth"]).decode()


def test_docker_hub_install_test_token_change_and_uninstall(make_release, kube_api, dockerhub, dockerhub_values, tmp_path):
    binder_deployment(kube_api)
    dockerhub.add_account("binderbot")
    first = dockerhub.add_token("binderbot", "read-write")
    release = make_release()
    release.install([write_values(tmp_path / "v1.yaml", dockerhub_values("binderbot", first))])
    assert secret_auth(kube_api) == ("https://index.docker.io/v1/", f"binderbot:{first}")
    (test_run,) = release.test()
    assert "BinderHub can push to binderbot/binder-" in test_run.runs[-1].logs

    # Same credentials again: validated, nothing restarted.
    restarts = len(kube_api.deployment_history(NS, "binder"))
    release.upgrade([tmp_path / "v1.yaml"])
    assert len(kube_api.deployment_history(NS, "binder")) == restarts

    # A new token in values: picked up, BinderHub rolled once.
    second = dockerhub.add_token("binderbot", "read-write")
    (hook,) = release.upgrade([write_values(tmp_path / "v2.yaml", dockerhub_values("binderbot", second))])
    assert secret_auth(kube_api) == ("https://index.docker.io/v1/", f"binderbot:{second}")
    assert "Deployment binder: restarted" in hook.runs[-1].logs
    history = kube_api.deployment_history(NS, "binder")
    assert len(history) == restarts + 1
    assert history[-1][FINGERPRINT] == kube_api.get("secrets", NS, "binderhub-registry")["metadata"]["annotations"][
        "binderhub-registry.jupyter.org/fingerprint"]

    release.uninstall()
    assert kube_api.get("secrets", NS, "binderhub-registry") is None


def test_generic_upgrade_picks_up_a_rotated_password_from_the_existing_secret(make_release, kube_api, make_registry, tmp_path):
    users = {"robot": {"password": "first-password-0123456789", "grants": [("*", {"pull", "push", "delete"})]}}
    registry = make_registry(auth="token", users=users)
    binder_deployment(kube_api)

    def credentials_secret(password: str) -> None:
        kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "robot-credentials", "namespace": NS},
                      "data": {"username": base64.b64encode(b"robot").decode(), "password": base64.b64encode(password.encode()).decode()}})

    credentials_secret("first-password-0123456789")
    values = generic_values(registry.url, "robot", "")
    values["registry"]["existingSecret"] = "robot-credentials"
    path = write_values(tmp_path / "values.yaml", values)
    release = make_release()
    release.install([path])
    assert secret_auth(kube_api)[1] == "robot:first-password-0123456789"

    # The registry admin rotates the robot's password and the GitOps tool updates the Secret.
    registry.token_server.users["robot"]["password"] = "second-password-0123456789"
    credentials_secret("second-password-0123456789")
    (hook,) = release.upgrade([path])
    assert secret_auth(kube_api)[1] == "robot:second-password-0123456789"
    assert "Deployment binder: restarted" in hook.runs[-1].logs
    assert "second-password" not in hook.runs[-1].logs
