"""registry.type harbor against the Harbor stand-in (held to Harbor's swagger.yaml) and the real
distribution behind Harbor's token service: the hook creates a push robot with exactly push and
pull on the project, proves it pushes, rotates it with Harbor's refresh, re-creates one deleted
or disabled by hand, deletes only its own on cleanup, and every failure is one sentence."""

from __future__ import annotations

import re
import time

import pytest
from binderhub_registry.state import CREDENTIAL_ID, DEPLOYMENT_FINGERPRINT, FINGERPRINT, INTENT_HARBOR_ROBOT, PREVIOUS_CREDENTIAL_ID

from tests.fixtures_harbor import ADMIN, ADMIN_SECRET, PROJECT, admin_secret, harbor_values
from tests.helpers import binder_deployment, push_image, run_cli, secret_auth, write_values
from tests.stand_ins.harbor import Harbor

NS = "binder"
SECRET = "binderhub-registry"


@pytest.fixture
def hook(kube_api, harbor, tmp_path):
    """Runs a subcommand in the namespace, as the Job does, with the Harbor admin's Secret."""
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS)
    kube_api.put(admin_secret(ADMIN, harbor.admin_password))
    kube_api.put(binder_deployment(NS))

    def run(revision: int = 1, command: str = "provision", crash_at: str = "", **harbor_extra):
        values = harbor_values(harbor, **harbor_extra)
        values["rotation"] = {"revision": str(revision)}
        values["restart"] = {"deployments": ["binder"]}
        path = write_values(tmp_path / f"values-{revision}.yaml", values)
        env = {"KUBECONFIG": str(kubeconfig), "BINDERHUB_REGISTRY_CRASH_AT": crash_at}
        return run_cli(command, "--values", str(path), env=env)
    return run


def annotations(kube_api) -> dict[str, str]:
    return kube_api.get("secrets", NS, SECRET)["metadata"]["annotations"]


def in_secret(kube_api) -> tuple[str, str]:
    _key, username, password = secret_auth(kube_api.get("secrets", NS, SECRET))
    return username, password


def builders(harbor: Harbor) -> list:
    """The push robots of the release (the pull robots are tests/hook/test_harbor_pull.py's)."""
    return [robot for robot in harbor.project_robots(PROJECT) if re.search(r"\+[a-z0-9.-]*-builder-[ab]$", robot.full_name)]


def robot_names(harbor: Harbor) -> set[str]:
    return {robot.full_name for robot in builders(harbor)}


def test_install_creates_a_robot_with_exactly_push_and_pull_on_the_project_and_it_pushes(hook, harbor, kube_api):
    result = hook()
    assert result.code == 0, result.stderr
    (robot,) = builders(harbor)
    assert robot.full_name == f"robot${PROJECT}+{SECRET}-builder-a"
    assert robot.permissions == [{"kind": "project", "namespace": PROJECT, "access": [
        {"resource": "repository", "action": "push"}, {"resource": "repository", "action": "pull"}]}]
    assert robot.duration == -1 and robot.expires_at == -1
    username, password = in_secret(kube_api)
    assert (username, password) == (robot.full_name, robot.secret)
    assert annotations(kube_api)[CREDENTIAL_ID] == str(robot.id)
    assert robot.secret not in result.output and harbor.admin_password not in result.output
    # the robot really pushes through Harbor's token service and the real registry
    push_image(harbor.url, f"{PROJECT}/binder-hello", "v1", token=harbor.registry_token(username, password, f"{PROJECT}/binder-hello"))


def test_a_second_run_of_the_same_revision_reuses_the_robot_without_writes_to_harbor(hook, harbor):
    assert hook().code == 0
    before = list(harbor.requests)
    again = hook()
    assert again.code == 0, again.stderr
    writes = [r for r in harbor.requests[len(before):] if r[0] in ("POST", "PATCH", "PUT", "DELETE")]
    assert writes == []


def test_upgrade_rotates_with_harbors_refresh_and_the_old_secret_works_until_the_next_rotation(hook, harbor, kube_api):
    assert hook(1).code == 0
    first = in_secret(kube_api)
    assert hook(2).code == 0  # no previous robot yet: the second one is created
    second = in_secret(kube_api)
    assert second[0] == f"robot${PROJECT}+{SECRET}-builder-b"
    assert harbor.authenticate(*first) is not None, "the secret BinderHub ran with must work until the next rotation"
    assert annotations(kube_api)[PREVIOUS_CREDENTIAL_ID] == str(harbor.authenticate(*first).id)

    third_run = hook(3)
    assert third_run.code == 0, third_run.stderr
    third = in_secret(kube_api)
    assert third[0] == first[0] and third[1] != first[1], "the -a robot again, with a refreshed secret"
    assert ("PATCH", f"/api/v2.0/robots/{harbor.authenticate(*third).id}", ADMIN, 200) in harbor.requests
    assert harbor.authenticate(*first) is None, "Harbor's refresh ends the old secret"
    assert harbor.authenticate(*second) is not None
    assert len(robot_names(harbor)) == 2
    history = kube_api.deployment_history(NS, "binder")
    assert history[-1][DEPLOYMENT_FINGERPRINT] == annotations(kube_api)[FINGERPRINT]


def test_a_robot_about_to_expire_is_rotated_even_without_an_upgrade(hook, harbor, kube_api):
    assert hook(1, robotDurationDays=30).code == 0
    first = in_secret(kube_api)
    (robot,) = builders(harbor)
    robot.expires_at = int(time.time()) + 10 * 86400  # created 20 days ago: 10 days left, renewBeforeDays 14
    result = hook(1, robotDurationDays=30)
    assert result.code == 0, result.stderr
    assert "expires within 14 days" in result.stderr
    assert in_secret(kube_api)[0] != first[0]


@pytest.mark.parametrize("by_hand", ["deleted", "disabled"])
def test_a_robot_deleted_or_disabled_by_hand_is_re_created_and_the_run_says_so(hook, harbor, kube_api, by_hand):
    assert hook(1).code == 0
    (robot,) = builders(harbor)
    if by_hand == "deleted":
        del harbor.robots[robot.id]
    else:
        robot.disabled = True
    result = hook(1)
    assert result.code == 0, result.stderr
    assert ("no longer exists in Harbor" if by_hand == "deleted" else "is disabled: deleting it") in result.stderr
    username, password = in_secret(kube_api)
    assert harbor.authenticate(username, password) is not None
    assert len(builders(harbor)) == 1


def test_cleanup_deletes_exactly_the_robots_it_created(hook, harbor, kube_api):
    others = harbor.add_system_robot("ci", [("project", "create")])
    theirs = harbor._new_robot(f"{PROJECT}+user-puller", f"robot${PROJECT}+user-puller", "project", [
        {"kind": "project", "namespace": PROJECT, "access": [{"resource": "repository", "action": "pull"}]}], -1)
    look_alike = harbor._new_robot(f"{PROJECT}+{SECRET}-builder-manual", f"robot${PROJECT}+{SECRET}-builder-manual", "project", [
        {"kind": "project", "namespace": PROJECT, "access": [{"resource": "repository", "action": "pull"}]}], -1)
    assert hook(1).code == 0 and hook(2).code == 0
    assert len(harbor.project_robots(PROJECT)) == 6  # theirs, the look-alike, two push and two pull robots of ours
    result = hook(2, command="cleanup")
    assert result.code == 0, result.stderr
    assert {r.full_name for r in harbor.project_robots(PROJECT)} == {theirs.full_name, look_alike.full_name}
    assert harbor.authenticate(*others) is not None
    assert kube_api.get("secrets", NS, SECRET) is None


def test_a_custom_robot_name_prefix_of_the_harbor_installation_is_taken_from_harbor(kube_api, harbor, hook):
    harbor.robot_prefix = "bot_"
    assert hook(1, robotName="ovh").code == 0
    assert in_secret(kube_api)[0] == f"bot_{PROJECT}+ovh-a"


def test_a_project_is_created_with_its_storage_quota_when_asked(hook, harbor):
    result = hook(1, project="binder-ovh", createProject=True, storageLimit=10 * 1024**3)
    assert result.code == 0, result.stderr
    assert harbor.projects["binder-ovh"].storage_limit == 10 * 1024**3


# -- crash safety ---------------------------------------------------------------------------------


def test_a_crash_right_after_creating_the_robot_leaks_nothing(hook, harbor, kube_api):
    crashed = hook(1, crash_at="after-robot-creation")
    assert crashed.code == 137
    assert len(builders(harbor)) == 1 and kube_api.get("secrets", NS, SECRET) is None
    converged = hook(1)
    assert converged.code == 0, converged.stderr
    assert "an interrupted run created and never used" in converged.stderr
    (robot,) = builders(harbor)
    assert in_secret(kube_api) == (robot.full_name, robot.secret)
    notes = kube_api.get("configmaps", NS, f"{SECRET}-settings")["metadata"].get("annotations") or {}
    assert INTENT_HARBOR_ROBOT not in notes


def test_a_crash_after_the_secret_is_written_keeps_the_robot_it_records(hook, harbor, kube_api):
    """The note of the robot being created outlives the Secret's write: the next run must not take
    the robot the Secret now records for one an interrupted run never used."""
    crashed = hook(1, crash_at="after-secret-written")
    assert crashed.code == 137
    written = in_secret(kube_api)
    converged = hook(1)
    assert converged.code == 0, converged.stderr
    assert "never used" not in converged.stderr
    assert in_secret(kube_api) == written and harbor.authenticate(*written) is not None
    assert robot_names(harbor) == {written[0]}


@pytest.mark.parametrize("crash_at", ["before-robot-refresh", "after-robot-refresh", "after-secret-written"])
def test_a_crash_during_a_refresh_keeps_a_working_secret_and_converges(hook, harbor, kube_api, crash_at):
    assert hook(1).code == 0 and hook(2).code == 0
    crashed = hook(3, crash_at=crash_at)
    assert crashed.code == 137
    assert harbor.authenticate(*in_secret(kube_api)) is not None, "BinderHub's secret still works"
    assert hook(3, command="check").code == 0
    converged = hook(3)
    assert converged.code == 0, converged.stderr
    assert harbor.authenticate(*in_secret(kube_api)) is not None
    assert len(builders(harbor)) == 2
    assert kube_api.deployment_history(NS, "binder")[-1][DEPLOYMENT_FINGERPRINT] == annotations(kube_api)[FINGERPRINT]


def test_a_refresh_whose_answer_is_lost_half_way_keeps_the_secret_and_the_next_run_converges(hook, harbor, kube_api):
    assert hook(1).code == 0 and hook(2).code == 0
    before = in_secret(kube_api)
    harbor.lose_next_answer = "PATCH"  # Harbor refreshed the secret; the proxy answered 502
    failed = hook(3)
    assert failed.code == 3, failed.stderr
    assert "Refreshing the secret of robot account" in failed.last_line
    assert in_secret(kube_api) == before and harbor.authenticate(*before) is not None
    converged = hook(3)
    assert converged.code == 0, converged.stderr
    assert harbor.authenticate(*in_secret(kube_api)) is not None


# -- failures: one sentence each ------------------------------------------------------------------


def test_wrong_admin_credentials_exit_1(hook, harbor, kube_api):
    kube_api.put(admin_secret(ADMIN, "Wrong-password-1"))
    result = hook()
    assert result.code == 1
    assert "rejected the credentials of 'binder-admin'" in result.last_line
    assert "Wrong-password-1" not in result.output


def test_an_admin_without_robot_permission_exits_1_naming_who_may(hook, harbor, kube_api):
    password = harbor.add_user("dev", binder="developer")
    kube_api.put(admin_secret("dev", password))
    result = hook()
    assert result.code == 1
    assert "may not manage the robot accounts of project 'binder'" in result.last_line
    assert builders(harbor) == []


def test_a_system_robot_with_robot_permissions_may_manage_them(hook, harbor, kube_api):
    name, secret = harbor.add_system_robot("binderhub-manager", [], project_access=[
        ("robot", "create"), ("robot", "list"), ("robot", "read"), ("robot", "update"), ("robot", "delete"),
        ("repository", "push"), ("repository", "pull")])
    kube_api.put(admin_secret(name, secret))
    result = hook()
    assert result.code == 0, result.stderr


def test_a_system_robot_cannot_grant_more_than_it_has(hook, harbor, kube_api):
    name, secret = harbor.add_system_robot("robot-maker", [], project_access=[("robot", "create"), ("robot", "list")])
    kube_api.put(admin_secret(name, secret))
    result = hook()
    assert result.code == 1
    assert "may not manage the robot accounts" in result.last_line


def test_a_missing_project_exits_2_saying_how_to_create_it(hook):
    result = hook(project="nope")
    assert result.code == 2
    assert "Harbor project 'nope' does not exist at" in result.last_line


def test_a_robot_name_taken_by_someone_else_exits_2(hook, harbor):
    harbor._new_robot(f"{PROJECT}+{SECRET}-builder-a", f"robot${PROJECT}+{SECRET}-builder-a", "project", [
        {"kind": "project", "namespace": PROJECT, "access": [{"resource": "repository", "action": "pull"}]}], -1)
    result = hook()
    assert result.code == 2
    assert "already has a robot account named" in result.last_line


def test_harbor_answering_a_sign_in_page_exits_2(hook, harbor):
    harbor.html = True
    result = hook()
    assert result.code == 2
    assert "answered Harbor's API with a web page" in result.last_line


@pytest.mark.parametrize("left_out", ["username", "password"])
def test_an_admin_secret_without_its_username_or_password_exits_2(hook, kube_api, harbor, left_out):
    secret = admin_secret(ADMIN, harbor.admin_password)
    del secret["data"][left_out]
    kube_api.put(secret)
    result = hook()
    assert result.code == 2
    assert "needs both a username and a password key" in result.last_line


def test_a_missing_admin_secret_exits_2(hook, kube_api):
    kube_api.delete("secrets", NS, "harbor-admin")
    result = hook()
    assert result.code == 2
    assert "named by registry.harbor.adminSecret does not exist" in result.last_line


def test_a_robot_duration_of_0_days_exits_2(hook, harbor):
    result = hook(robotDurationDays=0)
    assert result.code == 2
    assert "Harbor takes a positive number of days" in result.last_line
    assert harbor.requests == []


def test_a_create_whose_answer_is_lost_is_not_retried_and_the_next_run_deletes_the_robot_nobody_knows(hook, harbor, kube_api):
    harbor.lose_next_answer = "POST"  # Harbor created the robot; the proxy answered 502
    failed = hook()
    assert failed.code == 3, failed.stderr
    assert "Creating robot account" in failed.last_line
    (lost,) = builders(harbor)
    converged = hook()
    assert converged.code == 0, converged.stderr
    (robot,) = builders(harbor)
    assert robot.id != lost.id and in_secret(kube_api) == (robot.full_name, robot.secret)


def test_the_admin_secret_may_be_named_by_registry_existing_secret(kube_api, harbor, tmp_path):
    """The contract's registry.existingSecret holds the credentials of every type: for Harbor the
    admin's, when registry.harbor.adminSecret is left empty; a missing one is named by that value."""
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS)
    values = harbor_values(harbor, adminSecret="")
    values["registry"]["existingSecret"] = ADMIN_SECRET
    path = write_values(tmp_path / "values.yaml", values)
    env = {"KUBECONFIG": str(kubeconfig)}

    missing = run_cli("provision", "--values", str(path), env=env)
    assert missing.code == 2
    assert f"Secret '{ADMIN_SECRET}' named by registry" in missing.last_line and "existingSecret does not exist" in missing.last_line

    kube_api.put(admin_secret(ADMIN, harbor.admin_password))
    installed = run_cli("provision", "--values", str(path), env=env)
    assert installed.code == 0, installed.stderr
    assert harbor.admin_password not in installed.stdout + installed.stderr
    assert in_secret(kube_api)[0].startswith("robot$")


def test_registry_harbor_admin_secret_wins_over_registry_existing_secret(hook, kube_api, harbor, tmp_path):
    """As the README says: with both set, the admin's Secret is registry.harbor.adminSecret's (the
    one registry.existingSecret names holds an account Harbor does not know)."""
    kube_api.put(admin_secret("nobody", "not-a-password", name="other-credentials"))
    values = harbor_values(harbor)
    values["registry"]["existingSecret"] = "other-credentials"
    path = write_values(tmp_path / "both.yaml", values)
    both = run_cli("provision", "--values", str(path), env={"KUBECONFIG": str(tmp_path / "kubeconfig")})
    assert both.code == 0, both.stderr
    assert in_secret(kube_api)[0].startswith("robot$")
