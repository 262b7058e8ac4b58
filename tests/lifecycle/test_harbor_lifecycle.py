"""`helm install / test / upgrade / uninstall` of the chart (BinderHub in the same release) with
registry.type harbor, played like Helm does (real Helm 3 and 4 rendering, the stand-in API with
RBAC, the Harbor stand-in held to Harbor's swagger.yaml in front of the real registry): install
creates the push robot, `helm test` proves it, each upgrade rotates with Harbor's refresh and
restarts BinderHub, a robot deleted by hand is re-created, uninstall deletes exactly the robots
the hook created."""

from __future__ import annotations

import pytest

from tests.fixtures_harbor import ADMIN, PROJECT, admin_secret, harbor_values
from tests.helpers import secret_auth, write_values
from tests.lifecycle.harness import HookFailed

NS = "binder"
SECRET = "binderhub-registry"
FINGERPRINT = "binderhub-registry.jupyter.org/credential-fingerprint"


def in_secret(kube_api) -> tuple[str, str]:
    _key, username, password = secret_auth(kube_api.get("secrets", NS, SECRET))
    return username, password


def binder_fingerprint(kube_api) -> str:
    return kube_api.get("deployments", NS, "binder")["spec"]["template"]["metadata"].get("annotations", {}).get(FINGERPRINT, "")


def test_install_test_upgrades_rotate_a_hand_deleted_robot_returns_uninstall_removes_ours(make_release, kube_api, harbor, tmp_path):
    kube_api.put(admin_secret(ADMIN, harbor.admin_password))
    theirs = harbor._new_robot(f"{PROJECT}+ovh-user-puller", f"robot${PROJECT}+ovh-user-puller", "project", [
        {"kind": "project", "namespace": PROJECT, "access": [{"resource": "repository", "action": "pull"}]}], -1)
    values = write_values(tmp_path / "values.yaml", harbor_values(harbor))
    release = make_release("binderhub")

    (hook,) = release.install([values])
    assert hook.runs[-1].exit_code == 0, hook.runs[-1].logs
    first = in_secret(kube_api)
    assert first[0] == f"robot${PROJECT}+{SECRET}-builder-a" and harbor.authenticate(*first) is not None

    (test_run,) = release.test()
    assert "BinderHub can push to" in test_run.runs[-1].logs

    release.upgrade([values])  # revision 2: a second robot; the first keeps working
    second = in_secret(kube_api)
    assert second[0] != first[0] and harbor.authenticate(*first) is not None
    started = binder_fingerprint(kube_api)

    release.upgrade([values])  # revision 3: Harbor's refresh of the first robot
    third = in_secret(kube_api)
    assert third[0] == first[0] and harbor.authenticate(*first) is None and harbor.authenticate(*third) is not None
    assert binder_fingerprint(kube_api) != started, "BinderHub restarted to read the new secret"

    (robot,) = [r for r in harbor.project_robots(PROJECT) if r.full_name == third[0]]
    del harbor.robots[robot.id]  # deleted by hand in Harbor's UI
    (hook,) = release.upgrade([values])
    assert "no longer exists in Harbor" in hook.runs[-1].logs
    assert harbor.authenticate(*in_secret(kube_api)) is not None

    (cleanup,) = release.uninstall()
    assert cleanup.runs[-1].exit_code == 0, cleanup.runs[-1].logs
    assert [r.full_name for r in harbor.project_robots(PROJECT)] == [theirs.full_name]
    assert kube_api.get("secrets", NS, SECRET) is None


def test_without_the_roles_rule_for_the_harbor_admin_secret_the_install_fails_naming_the_role(make_release, kube_api, harbor, tmp_path):
    """The chart's Role grants `get` on the Secret named by registry.harbor.adminSecret (the install
    above succeeds with it); a Role without that rule fails the install at once, saying so."""
    def drop_admin_secret_rule(docs):
        for doc in docs:
            if doc["kind"] == "Role":
                doc["rules"] = [rule for rule in doc["rules"] if rule.get("resourceNames") != ["harbor-admin"]]
        return docs

    kube_api.put(admin_secret(ADMIN, harbor.admin_password))
    values = write_values(tmp_path / "values.yaml", harbor_values(harbor))
    with pytest.raises(HookFailed) as failed:
        make_release("binderhub", mutate=drop_admin_secret_rule).install([values])
    assert "the chart's Role must allow it" in failed.value.last_log_line
    assert harbor.project_robots(PROJECT) == []
