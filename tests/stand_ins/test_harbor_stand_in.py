"""The Harbor stand-in behaves like Harbor where the hook relies on it, and its contract checker
catches what Harbor's swagger.yaml does not allow (so neither the stand-in nor the hook can drift)."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures_harbor import ADMIN, PROJECT
from tests.helpers import push_image
from tests.stand_ins.harbor import Harbor
from tests.stand_ins.harbor_contract import harbor_contract

PUSH_PULL = [{"resource": "repository", "action": "push"}, {"resource": "repository", "action": "pull"}]


def api(harbor: Harbor, user: str, password: str) -> httpx.Client:
    return httpx.Client(base_url=f"{harbor.url}/api/v2.0", auth=(user, password), timeout=10)


def robot_body(name: str, access=PUSH_PULL, duration: int = -1, project: str = PROJECT) -> dict:
    return {"name": name, "level": "project", "duration": duration, "disable": False,
            "permissions": [{"kind": "project", "namespace": project, "access": access}]}


@pytest.fixture
def admin(harbor):
    with api(harbor, ADMIN, harbor.admin_password) as client:
        yield client


def test_a_project_robot_is_named_with_the_prefix_and_its_secret_is_shown_once(harbor, admin):
    created = admin.post("/robots", json=robot_body("ci"))
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == f"robot${PROJECT}+ci" and body["secret"]
    assert "secret" not in admin.get(f"/robots/{body['id']}").json()
    project_id = harbor.projects[PROJECT].id
    assert all("secret" not in r for r in admin.get("/robots", params={"q": f"Level=project,ProjectID={project_id}"}).json())


@pytest.mark.parametrize(("body", "status"), [
    (robot_body("CI"), 400),  # capitals
    (robot_body("ci$x"), 400),
    (robot_body("ci", duration=0), 400),
    (robot_body("ci", project="nowhere"), 404),
])
def test_names_durations_and_projects_harbor_refuses(harbor, admin, body, status):
    assert admin.post("/robots", json=body).status_code == status


def test_a_taken_name_is_409_and_credentials_are_checked_401_403(harbor, admin):
    assert admin.post("/robots", json=robot_body("ci")).status_code == 201
    assert admin.post("/robots", json=robot_body("ci")).status_code == 409
    with api(harbor, ADMIN, "wrong") as wrong:
        assert wrong.get(f"/projects/{PROJECT}").status_code == 401
    password = harbor.add_user("dev", binder="developer")
    with api(harbor, "dev", password) as developer:
        assert developer.post("/robots", json=robot_body("dev-bot")).status_code == 403
    assert httpx.get(f"{harbor.url}/api/v2.0/projects/{PROJECT}").status_code == 401


def test_a_refresh_ends_the_old_secret_at_once_and_expired_or_disabled_robots_cannot_log_in(harbor, admin):
    body = admin.post("/robots", json=robot_body("ci", duration=3)).json()
    old = body["secret"]
    new = admin.patch(f"/robots/{body['id']}", json={}).json()["secret"]
    assert harbor.authenticate(body["name"], old) is None and harbor.authenticate(body["name"], new) is not None
    assert admin.patch(f"/robots/{body['id']}", json={"secret": "short"}).status_code == 400
    harbor.now += 4 * 86400
    assert harbor.authenticate(body["name"], new) is None
    harbor.now -= 4 * 86400
    robot = admin.get(f"/robots/{body['id']}").json()
    assert admin.put(f"/robots/{body['id']}", json={**robot, "disable": True}).status_code == 200
    assert harbor.authenticate(body["name"], new) is None


def test_a_pull_only_robot_pulls_but_cannot_push_through_the_real_registry(harbor, admin):
    pusher = admin.post("/robots", json=robot_body("builder")).json()
    puller = admin.post("/robots", json=robot_body("puller", access=[{"resource": "repository", "action": "pull"}])).json()
    repository = f"{PROJECT}/binder-x"
    push_image(harbor.url, repository, "v1", token=harbor.registry_token(pusher["name"], pusher["secret"], repository))
    pull_token = harbor.registry_token(puller["name"], puller["secret"], repository)
    headers = {"Authorization": f"Bearer {pull_token}", "Accept": "application/vnd.oci.image.manifest.v1+json"}
    assert httpx.get(f"{harbor.url}/v2/{repository}/manifests/v1", headers=headers).status_code == 200
    assert httpx.post(f"{harbor.url}/v2/{repository}/blobs/uploads/", headers=headers).status_code == 401
    with pytest.raises(httpx.HTTPStatusError):
        push_image(harbor.url, repository, "v2", token=pull_token)


def test_a_robot_may_not_create_one_with_more_than_it_has(harbor):
    name, secret = harbor.add_system_robot("maker", [], project_access=[("robot", "create"), ("repository", "pull")])
    with api(harbor, name, secret) as robot:
        assert robot.post("/robots", json=robot_body("x")).status_code == 403
        assert robot.post("/robots", json=robot_body("y", access=[{"resource": "repository", "action": "pull"}])).status_code == 201


def test_the_contract_catches_requests_and_answers_harbor_does_not_document():
    contract = harbor_contract()
    assert contract.check_request("POST", "/robots", {}, {}, {**robot_body("x"), "duration": "7"}, True)
    assert contract.check_request("PATCH", "/robots/abc", {}, {}, {}, True)
    assert contract.check_request("GET", "/robots", {"page_sise": ["1"]}, {}, None, False)
    assert contract.check_request("DELETE", "/robots/1", {}, {}, {}, True)  # DELETE takes no body
    assert contract.check_request("POST", "/robot", {}, {}, {}, True)
    assert contract.check_response("DELETE", "/robots/1", 204, None, False)
    assert contract.check_response("POST", "/robots", 201, {"id": "1"}, True)
    assert contract.check_response("GET", "/projects/x", 200, None, False)
    assert contract.check_response("GET", "/projects/x", 200, {"project_id": 1, "name": "x", "creation_time": "2026-12-04T10:00:00.000Z"},
                                   True) == []


def test_the_stand_in_records_a_violation_when_a_client_strays(harbor, admin):
    admin.post("/robots", json={**robot_body("x"), "duration": "forever"})
    assert any("duration" in violation for violation in harbor.violations)
    harbor.violations.clear()  # the fixture requires none left


def test_without_harbors_document_the_tests_fail_with_one_sentence_saying_where_it_was_looked_for(monkeypatch, tmp_path):
    from tests.stand_ins import harbor_contract as module  # noqa: PLC0415

    monkeypatch.setattr(module, "_candidates", lambda: [tmp_path / "swagger.yaml"])
    with pytest.raises(pytest.fail.Exception) as failed:
        module.swagger_document.__wrapped__()
    assert str(failed.value).startswith("Harbor's API definition (swagger.yaml) is not at ")
    assert str(tmp_path) in str(failed.value) and "\n" not in str(failed.value)


def test_the_token_service_serves_get_only_as_harbors_and_a_pull_robot_gets_pull_only(harbor, admin):
    """containerd first POSTs an OAuth form to the realm; Harbor's token handler answers 405 and
    containerd asks again with GET and Basic auth."""
    posted = httpx.post(harbor.token_service.realm, data={"grant_type": "password", "username": ADMIN, "password": harbor.admin_password,
                                                          "scope": f"repository:{PROJECT}/x:pull", "service": "harbor-registry"})
    assert posted.status_code == 405
    robot = harbor._new_robot(f"{PROJECT}+reader", f"robot${PROJECT}+reader", "project", [
        {"kind": "project", "namespace": PROJECT, "access": [{"resource": "repository", "action": "pull"}]}], -1)
    token = harbor.registry_token(robot.full_name, robot.secret, f"{PROJECT}/x", "pull,push")
    assert harbor.token_service.decode(token)["access"] == [{"type": "repository", "name": f"{PROJECT}/x", "actions": ["pull"]}]


def test_a_head_through_harbor_tells_the_size_of_the_manifest_as_the_registry_does(harbor, admin):
    """containerd resolves a tag with HEAD and refuses a manifest whose size is 0."""
    token = harbor.registry_token(ADMIN, harbor.admin_password, f"{PROJECT}/sized", "pull,push")
    push_image(harbor.url, f"{PROJECT}/sized", "v1", token=token)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.oci.image.manifest.v1+json"}
    head = httpx.head(f"{harbor.url}/v2/{PROJECT}/sized/manifests/v1", headers=headers)
    get = httpx.get(f"{harbor.url}/v2/{PROJECT}/sized/manifests/v1", headers=headers)
    assert head.status_code == get.status_code == 200
    assert int(head.headers["Content-Length"]) == len(get.content) > 0
