"""Pull credentials for user pods (registry.pullCredentials, registry.harbor.pullRobotName): the hook
writes the pull Secret ``<secretName>-pull`` that JupyterHub's imagePullSecrets name. With Harbor it
holds a pull-only robot the hook creates, rotates and deletes with the push robot; with generic and
Docker Hub the credentials of registry.pullCredentials.existingSecret, proven to pull and proven
not to push (the real distribution refuses the push); without them, a copy of the push
credentials. Against the real registry, the Harbor stand-in and the Docker Hub stand-in."""

from __future__ import annotations

import base64

import httpx
import pytest
from binderhub_registry.state import CREDENTIAL_ID, INTENT_HARBOR_PULL_ROBOT, PREVIOUS_CREDENTIAL_ID

from tests.fixtures_harbor import ADMIN, PROJECT, admin_secret, harbor_values
from tests.helpers import push_image, run_cli, secret_auth, write_values
from tests.hook.test_harbor import hook  # noqa: F401  (the fixture: provision as the Job does, with the Harbor admin)

NS = "binder"
SECRET = "binderhub-registry"
PULL_SECRET = f"{SECRET}-pull"
PULL_ONLY = [{"kind": "project", "namespace": PROJECT, "access": [{"resource": "repository", "action": "pull"}]}]


def credentials(kube_api, name: str) -> tuple[str, str]:
    _key, username, password = secret_auth(kube_api.get("secrets", NS, name))
    return username, password


def pullers(harbor) -> list:
    return [robot for robot in harbor.project_robots(PROJECT) if "-puller-" in robot.full_name]


def pulls(registry_url: str, repository: str, tag: str, token: str) -> int:
    return httpx.get(f"{registry_url}/v2/{repository}/manifests/{tag}", timeout=10, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/vnd.oci.image.manifest.v1+json"}).status_code


def starts_an_upload(registry_url: str, repository: str, token: str) -> int:
    return httpx.post(f"{registry_url}/v2/{repository}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"},
                      timeout=10).status_code


# -- Harbor: the pull robot ----------------------------------------------------------------------


def test_harbor_writes_a_pull_robot_with_exactly_pull_that_pulls_and_that_the_registry_refuses_a_push(hook, harbor, kube_api):  # noqa: F811
    result = hook()
    assert result.code == 0, result.stderr
    secret = kube_api.get("secrets", NS, PULL_SECRET)
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    (robot,) = pullers(harbor)
    assert robot.full_name == f"robot${PROJECT}+{SECRET}-puller-a" and robot.permissions == PULL_ONLY
    assert credentials(kube_api, PULL_SECRET) == (robot.full_name, robot.secret)
    assert credentials(kube_api, SECRET)[0] == f"robot${PROJECT}+{SECRET}-builder-a"
    assert secret["metadata"]["annotations"][CREDENTIAL_ID] == str(robot.id)
    assert robot.secret not in result.output
    assert "proven to pull and not to push" in result.stderr

    pusher = credentials(kube_api, SECRET)
    push_image(harbor.url, f"{PROJECT}/binder-hello", "v1", token=harbor.registry_token(*pusher, f"{PROJECT}/binder-hello"))
    puller_token = harbor.registry_token(robot.full_name, robot.secret, f"{PROJECT}/binder-hello", "pull,push")
    assert pulls(harbor.url, f"{PROJECT}/binder-hello", "v1", puller_token) == 200
    assert starts_an_upload(harbor.url, f"{PROJECT}/binder-hello", puller_token) == 401  # distribution: insufficient_scope


def test_harbor_upgrades_rotate_the_pull_robot_and_the_old_secret_pulls_until_the_next_rotation(hook, harbor, kube_api):  # noqa: F811
    assert hook(1).code == 0
    first = credentials(kube_api, PULL_SECRET)
    assert hook(2).code == 0
    second = credentials(kube_api, PULL_SECRET)
    assert second[0] == f"robot${PROJECT}+{SECRET}-puller-b"
    assert harbor.authenticate(*first) is not None, "pods being created may still pull with the secret before"
    annotations = kube_api.get("secrets", NS, PULL_SECRET)["metadata"]["annotations"]
    assert annotations[PREVIOUS_CREDENTIAL_ID] == str(harbor.authenticate(*first).id)
    assert hook(3).code == 0
    third = credentials(kube_api, PULL_SECRET)
    assert third[0] == first[0] and harbor.authenticate(*first) is None and harbor.authenticate(*third) is not None
    assert len(pullers(harbor)) == 2


def test_harbor_re_creates_a_pull_robot_deleted_by_hand_and_says_so(hook, harbor, kube_api):  # noqa: F811
    assert hook(1).code == 0
    (robot,) = pullers(harbor)
    del harbor.robots[robot.id]
    result = hook(1)
    assert result.code == 0, result.stderr
    assert f"robot account {robot.id} in the Secret no longer exists in Harbor" in result.stderr
    assert harbor.authenticate(*credentials(kube_api, PULL_SECRET)) is not None


def test_harbor_a_crash_right_after_creating_the_pull_robot_leaks_nothing(hook, harbor, kube_api):  # noqa: F811
    crashed = hook(1, crash_at="after-pull-robot-creation")
    assert crashed.code == 137
    assert len(pullers(harbor)) == 1 and kube_api.get("secrets", NS, PULL_SECRET) is None
    converged = hook(1)
    assert converged.code == 0, converged.stderr
    assert "an interrupted run created and never used" in converged.stderr
    (robot,) = pullers(harbor)
    assert credentials(kube_api, PULL_SECRET) == (robot.full_name, robot.secret)
    notes = kube_api.get("configmaps", NS, f"{SECRET}-settings")["metadata"].get("annotations") or {}
    assert INTENT_HARBOR_PULL_ROBOT not in notes


def test_harbor_cleanup_deletes_the_pull_robots_and_the_pull_secret(hook, harbor, kube_api):  # noqa: F811
    theirs = harbor._new_robot(f"{PROJECT}+ovh-user-puller", f"robot${PROJECT}+ovh-user-puller", "project", PULL_ONLY, -1)
    assert hook(1).code == 0 and hook(2).code == 0
    result = hook(2, command="cleanup")
    assert result.code == 0, result.stderr
    assert "deleted 2 pull robot account(s)" in result.stderr
    assert [robot.full_name for robot in harbor.project_robots(PROJECT)] == [theirs.full_name]
    assert kube_api.get("secrets", NS, PULL_SECRET) is None


def test_harbor_a_pull_robot_that_may_push_is_refused(hook, harbor, kube_api, monkeypatch):  # noqa: F811
    """Were Harbor to give the pull robot push (here: it widens what it is asked for), the proof
    on the registry finds it and the run fails before the Secret holds it."""
    create = harbor._create_robot

    def widened(caller, body):
        body["permissions"][0]["access"] = [{"resource": "repository", "action": a} for a in ("pull", "push")]
        return create(caller, body)

    monkeypatch.setattr(harbor, "_create_robot", widened)
    result = hook()
    assert result.code == 1
    assert "The pull credentials (the pull robot account the hook created) can push to" in result.last_line
    assert kube_api.get("secrets", NS, PULL_SECRET) is None


# -- generic and Docker Hub: separate pull credentials from a Secret -------------------------------


@pytest.fixture
def provision(kube_api, tmp_path):
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", None, NS)

    def run(values: dict, pull: tuple[str, str] | None = None, pull_secret: str = "read-only", command: str = "provision"):
        if pull is not None:
            data = {key: base64.b64encode(value.encode()).decode() for key, value in zip(("username", "password"), pull, strict=True)
                    if value}
            kube_api.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "read-only", "namespace": NS},
                          "type": "Opaque", "data": data})
        if pull_secret:
            values = {**values, "registry": {**values["registry"], "pullCredentials": {"existingSecret": pull_secret}}}
        path = write_values(tmp_path / "values.yaml", values)
        return run_cli(command, "--values", str(path), env={"KUBECONFIG": str(kubeconfig)})
    return run


def generic(registry, username: str, password: str) -> dict:
    return {"registry": {"type": "generic", "generic": {"url": registry.url, "repository": "binder", "username": username,
                                                        "password": password}}}


def test_without_pull_credentials_user_pods_pull_with_a_copy_of_the_push_credentials(provision, kube_api, token_registry):
    result = provision(generic(token_registry, "pusher", token_registry.token_server.password("pusher")), pull_secret="")
    assert result.code == 0, result.stderr
    pull, push = kube_api.get("secrets", NS, PULL_SECRET), kube_api.get("secrets", NS, SECRET)
    assert pull["data"] == push["data"]
    # the release state (credential ids, origin, fingerprint) is the Secret's alone: a copy carrying it would be
    # read as a pull credential's own state on the next run and at uninstall
    assert push["metadata"]["annotations"] and not pull["metadata"].get("annotations")


def test_generic_pull_only_credentials_are_proven_and_written_into_the_pull_secret(provision, kube_api, token_registry):
    puller = ("puller", token_registry.token_server.password("puller"))
    result = provision(generic(token_registry, "pusher", token_registry.token_server.password("pusher")), pull=puller)
    assert result.code == 0, result.stderr
    assert credentials(kube_api, PULL_SECRET) == puller
    assert credentials(kube_api, SECRET)[0] == "pusher"
    assert puller[1] not in result.output
    assert "token grants pull; the registry refuses an upload" in result.stderr


def test_generic_pull_credentials_that_can_push_exit_1(provision, kube_api, token_registry):
    pusher = ("pusher", token_registry.token_server.password("pusher"))
    result = provision(generic(token_registry, *pusher), pull=pusher)
    assert result.code == 1
    assert "can push to binder/binder-push-check (the token service grants it push); user pods run untrusted code" in result.last_line
    assert kube_api.get("secrets", NS, PULL_SECRET) is None


def test_on_a_registry_that_lets_every_account_push_pull_credentials_cannot_be_told_apart_and_exit_1(provision, htpasswd_registry):
    alice = ("alice", htpasswd_registry.password("alice"))
    result = provision(generic(htpasswd_registry, *alice), pull=alice)
    assert result.code == 1
    assert "(the registry let them start an upload); user pods run untrusted code" in result.last_line


def test_a_basic_auth_registry_refusing_the_push_proves_pull_only(provision, kube_api, make_basic_auth_registry):
    registry = make_basic_auth_registry({"ci": ("ci-password-0123456789", [("*", {"pull", "push", "delete"})]),
                                         "reader": ("reader-password-0123456789", [("*", {"pull"})]),
                                         "nobody": ("nobody-password-0123456789", [])})
    values = generic(registry, "ci", "ci-password-0123456789")
    assert provision(values, pull=("reader", "reader-password-0123456789")).code == 0
    assert credentials(kube_api, PULL_SECRET)[0] == "reader"
    cannot = provision(values, pull=("nobody", "nobody-password-0123456789"))
    assert cannot.code == 1
    assert "cannot pull from binder/binder-push-check as user 'nobody'" in cannot.last_line
    wrong = provision(values, pull=("reader", "wrong-password-0123456789"))
    assert wrong.code == 1
    assert "rejected the login of user 'reader'" in wrong.last_line


def test_a_missing_pull_credentials_secret_exits_2(provision, token_registry):
    result = provision(generic(token_registry, "pusher", token_registry.token_server.password("pusher")), pull_secret="nowhere")
    assert result.code == 2
    assert "Secret 'nowhere' named by registry.pullCredentials.existingSecret does not exist" in result.last_line


def test_pull_credentials_without_a_username_exit_2(provision, token_registry):
    result = provision(generic(token_registry, "pusher", token_registry.token_server.password("pusher")), pull=("", "some-password-0123"))
    assert result.code == 2
    assert "needs both a `username` and a `password` key" in result.last_line


def test_docker_hub_a_read_only_token_is_pull_credentials_a_read_write_one_is_not(provision, kube_api, dockerhub, dockerhub_values):
    dockerhub.add_account("binderorg")
    values = dockerhub_values("binderorg", dockerhub.add_token("binderorg", "read-write"))
    read_only = dockerhub.add_token("binderorg", "read-only")
    result = provision(values, pull=("binderorg", read_only))
    assert result.code == 0, result.stderr
    assert credentials(kube_api, PULL_SECRET) == ("binderorg", read_only)
    refused = provision(values, pull=("binderorg", dockerhub.add_token("binderorg", "read-write")))
    assert refused.code == 1
    assert "can push to binderorg/binder-push-check (the token service grants it push)" in refused.last_line


def test_uninstall_deletes_the_pull_secret(provision, kube_api, token_registry):
    values = generic(token_registry, "pusher", token_registry.token_server.password("pusher"))
    assert provision(values, pull=("puller", token_registry.token_server.password("puller"))).code == 0
    cleanup = provision(values, command="cleanup")
    assert cleanup.code == 0, cleanup.stderr
    assert kube_api.get("secrets", NS, PULL_SECRET) is None and kube_api.get("secrets", NS, SECRET) is None


def test_harbor_takes_no_pull_credentials_secret_it_makes_the_pull_robot_itself(provision, kube_api, harbor):
    kube_api.put(admin_secret(ADMIN, harbor.admin_password))
    result = provision(harbor_values(harbor), pull=("someone", "some-password-0123"))
    assert result.code == 2
    assert "with registry.type harbor the hook makes the pull robot account itself" in result.last_line


def test_a_registry_type_without_separate_pull_credentials_refuses_them(provision, kube_api):
    """Google takes no separate pull credentials: refused before anything is asked of Google."""
    values = {"registry": {"type": "gcr", "gcr": {"project": "my-project"},
                           "google": {"endpoints": {"iam": "http://127.0.0.1:9", "artifactRegistry": "http://127.0.0.1:9"}}}}
    result = provision(values, pull=("someone", "some-password-0123"))
    assert result.code == 2
    assert "registry.type gcr takes no separate pull credentials (generic and dockerhub do)" in result.last_line
