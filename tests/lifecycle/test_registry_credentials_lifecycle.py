"""Docker Hub and generic registries, whose credentials the tool cannot mint: install, test,
and upgrades that re-validate and pick up new credentials (from values or an existing Secret),
rolling BinderHub only when the credential really changed; uninstall removes what the hook wrote."""

from __future__ import annotations

import base64

from binderhub_registry.state import DEPLOYMENT_FINGERPRINT, FINGERPRINT

from tests.helpers import binder_deployment, generic_values, secret_auth, write_values

NS = "binder"
# These tests put an existing BinderHub's Deployment in place: the chart is its companion.
COMPANION = {"binderhub": {"enabled": False}}


def auths_key_and_login(kube_api) -> tuple[str, str]:
    key, username, password = secret_auth(kube_api.get("secrets", NS, "binderhub-registry"))
    return key, f"{username}:{password}"


def test_docker_hub_install_test_token_change_and_uninstall(make_release, kube_api, dockerhub, dockerhub_values, tmp_path):
    kube_api.put(binder_deployment(NS))
    dockerhub.add_account("binderbot")
    first = dockerhub.add_token("binderbot", "read-write")
    release = make_release()
    release.install([write_values(tmp_path / "v1.yaml", {**dockerhub_values("binderbot", first), **COMPANION})])
    assert auths_key_and_login(kube_api) == ("https://index.docker.io/v1/", f"binderbot:{first}")
    (test_run,) = release.test()
    assert "BinderHub can push to binderbot/binder-" in test_run.runs[-1].logs

    # Same credentials again: validated, nothing restarted.
    restarts = len(kube_api.deployment_history(NS, "binder"))
    release.upgrade([tmp_path / "v1.yaml"])
    assert len(kube_api.deployment_history(NS, "binder")) == restarts

    # A new token in values: picked up, BinderHub rolled once.
    second = dockerhub.add_token("binderbot", "read-write")
    (hook,) = release.upgrade([write_values(tmp_path / "v2.yaml", {**dockerhub_values("binderbot", second), **COMPANION})])
    assert auths_key_and_login(kube_api) == ("https://index.docker.io/v1/", f"binderbot:{second}")
    assert "Deployment binder: restarted" in hook.runs[-1].logs
    history = kube_api.deployment_history(NS, "binder")
    assert len(history) == restarts + 1
    assert history[-1][DEPLOYMENT_FINGERPRINT] == kube_api.get("secrets", NS, "binderhub-registry")["metadata"]["annotations"][FINGERPRINT]

    release.uninstall()
    assert kube_api.get("secrets", NS, "binderhub-registry") is None


def test_generic_upgrade_picks_up_a_rotated_password_from_the_existing_secret(make_release, kube_api, make_registry, tmp_path):
    users = {"robot": {"password": "first-password-0123456789", "grants": [("*", {"pull", "push", "delete"})]}}
    registry = make_registry(auth="token", users=users)
    kube_api.put(binder_deployment(NS))

    def credentials_secret(password: str) -> None:
        kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "robot-credentials", "namespace": NS},
                      "data": {"username": base64.b64encode(b"robot").decode(), "password": base64.b64encode(password.encode()).decode()}})

    credentials_secret("first-password-0123456789")
    values = generic_values(registry.url, "robot", "")
    values["registry"]["existingSecret"] = "robot-credentials"
    values.update(COMPANION)
    path = write_values(tmp_path / "values.yaml", values)
    release = make_release()
    release.install([path])
    assert auths_key_and_login(kube_api)[1] == "robot:first-password-0123456789"

    # The registry admin rotates the robot's password and the GitOps tool updates the Secret.
    registry.token_server.users["robot"]["password"] = "second-password-0123456789"
    credentials_secret("second-password-0123456789")
    (hook,) = release.upgrade([path])
    assert auths_key_and_login(kube_api)[1] == "robot:second-password-0123456789"
    assert "Deployment binder: restarted" in hook.runs[-1].logs
    assert "second-password" not in hook.runs[-1].logs
