"""Harbor's REST API (v2.0, ``/api/v2.0``), only the calls the hook makes, on the bounded HTTP
layer (bounded_http.py): every answer is read up to a bound and never echoed.

Each call names what it does in the sentence a failure ends in. Harbor answers 401 to credentials
it does not know, 403 to a caller without the permission, 404 to what does not exist and 409 to a
name taken; a web page (a sign-in page or an ingress in front of Harbor) is no Harbor at all.
Calls that create something are not retried (a lost answer is recovered by the next run, from
the write-ahead note), the others are, like every registry exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx

from binderhub_registry.bounded_http import Budget, Exchange, bounded_client
from binderhub_registry.errors import CredentialsRejected, InvalidConfiguration, RegistrySetupError, Unreachable
from binderhub_registry.progress import Progress
from binderhub_registry.registry_answers import is_html

URL_VALUE = "registry.harbor.url"
ADMIN_VALUE = "registry.harbor.adminSecret"
# Who may manage robot accounts of a project, for the sentences that say what to change.
ROBOT_MANAGERS = (
    "a Harbor user who is Project Admin of {project}, or a system robot account with the robot permissions "
    "(create, list, read, update, delete) on it"
)
# Harbor's project-level permission a push robot gets, exactly (and nothing else).
PUSH_ACCESS = ({"resource": "repository", "action": "push"}, {"resource": "repository", "action": "pull"})
# The permission of the pull robot user pods pull with: pull only.
PULL_ACCESS = ({"resource": "repository", "action": "pull"},)


@dataclass(frozen=True)
class Robot:
    id: int
    name: str  # the full name, with Harbor's prefix: robot$<project>+<name>
    disabled: bool
    expires_at: int  # epoch seconds; -1 never


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class HarborApi(AbstractContextManager["HarborApi"]):
    def __init__(self, url: str, username: str, password: str, progress: Progress, project: str,
                 admin_value: str = ADMIN_VALUE) -> None:
        self.url = url.rstrip("/")
        self.admin_value = admin_value  # the value naming the admin's Secret, for the sentences
        self.username = username
        self.project = project
        self.progress = progress
        progress.add_credentials(username, password)
        self._auth = httpx.BasicAuth(username, password)
        self._http = bounded_client(15.0, budget := Budget())
        self._retried = Exchange(self._http, budget, progress, URL_VALUE)
        self._once = Exchange(self._http, budget, progress, URL_VALUE, attempts=1)

    def close(self) -> None:
        self._http.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- projects ---------------------------------------------------------------------------

    def project_id(self) -> int | None:
        """The project's id, or None when it does not exist."""
        answer = self._call("GET", f"/projects/{self.project}", what=f"Reading Harbor project {self.project!r}",
                            headers={"X-Is-Resource-Name": "true"}, expect=(200, 404), forbidden=self._cannot_see_project)
        if answer.status == 404:
            return None
        return int(_field(answer.body, "project_id", int, self.url))

    def create_project(self, storage_limit: int) -> None:
        self._call("POST", "/projects", what=f"Creating Harbor project {self.project!r}", retried=False,
                   json={"project_name": self.project, "storage_limit": storage_limit, "metadata": {"public": "false"}},
                   expect=(201, 409),
                   forbidden=lambda: f"the Harbor account {self.username!r} may not create projects; create project "
                                     f"{self.project!r} in Harbor, or use an account that may")

    # -- robot accounts ---------------------------------------------------------------------

    def robots(self, project_id: int) -> dict[int, Robot]:
        """The project's robot accounts, by id."""
        answer = self._call("GET", "/robots", what=f"Listing the robot accounts of Harbor project {self.project!r}",
                            params={"q": f"Level=project,ProjectID={project_id}", "page_size": "100"}, expect=(200,),
                            forbidden=self._cannot_manage_robots)
        if not isinstance(answer.body, list):
            raise _not_harbor(self.url, "a robot list that is not a JSON array")
        robots = [_robot(item, self.url) for item in answer.body]
        return {robot.id: robot for robot in robots}

    def create_robot(self, name: str, duration_days: int, description: str,
                     access: tuple[dict[str, str], ...] = PUSH_ACCESS) -> tuple[Robot, str]:
        """A new project robot with exactly ``access`` on the project's repositories; its secret
        (shown only in this answer)."""
        body = {
            "name": name,
            "description": description,
            "level": "project",
            "disable": False,
            "duration": duration_days,
            "permissions": [{"kind": "project", "namespace": self.project, "access": [dict(a) for a in access]}],
        }
        answer = self._call("POST", "/robots", what=f"Creating robot account {name!r} in Harbor project {self.project!r}",
                            json=body, expect=(201, 409), retried=False, forbidden=self._cannot_manage_robots)
        if answer.status == 409:
            raise InvalidConfiguration(
                f"Harbor project {self.project!r} already has a robot account named {name!r} that this tool did not create "
                f"(or no longer knows); delete it in Harbor or choose another registry.harbor.robotName (or pullRobotName)."
            )
        secret = _field(answer.body, "secret", str, self.url)
        self.progress.add_secret(secret)
        robot = Robot(_field(answer.body, "id", int, self.url), _field(answer.body, "name", str, self.url), False,
                      _field(answer.body, "expires_at", int, self.url))
        return robot, secret

    def refresh_robot(self, robot: Robot) -> str:
        """Harbor's own refresh: a new secret for ``robot``; the old one stops working at once."""
        answer = self._call("PATCH", f"/robots/{robot.id}", what=f"Refreshing the secret of robot account {robot.name!r}",
                            json={}, expect=(200,), retried=False, forbidden=self._cannot_manage_robots)
        secret = str(_field(answer.body, "secret", str, self.url))
        self.progress.add_secret(secret)
        return secret

    def delete_robot(self, robot_id: int, name: str) -> bool:
        """Delete a robot account; False when it was already gone."""
        answer = self._call("DELETE", f"/robots/{robot_id}", what=f"Deleting robot account {name!r}", expect=(200, 404),
                            forbidden=self._cannot_manage_robots)
        return answer.status == 200

    # -- the exchange -------------------------------------------------------------------------

    def _cannot_see_project(self) -> str:
        return (f"the Harbor account {self.username!r} may not read project {self.project!r}; "
                f"use {ROBOT_MANAGERS.format(project=self.project)}")

    def _cannot_manage_robots(self) -> str:
        return (f"the Harbor account {self.username!r} may not manage the robot accounts of project {self.project!r}; "
                f"name in {self.admin_value} {ROBOT_MANAGERS.format(project=self.project)}")

    def _call(self, method: str, path: str, *, what: str, expect: tuple[int, ...], forbidden: Callable[[], str],
              retried: bool = True, **kwargs: Any) -> Answer:
        exchange = self._retried if retried else self._once
        response = exchange.send(method, f"{self.url}/api/v2.0{path}", what=what, auth=self._auth, **kwargs)
        if is_html(response):
            raise _not_harbor(self.url, "a web page (a sign-in page, or a proxy or ingress in front of Harbor)")
        if response.status_code == 401:
            raise CredentialsRejected(
                f"Harbor at {self.url} rejected the credentials of {self.username!r} (401 to {method} {path.split('?')[0]}); "
                f"check the username and password in the Secret named by {self.admin_value}."
            )
        if response.status_code == 403:
            raise CredentialsRejected(f"{what} was refused (403): {forbidden()}.")
        if response.status_code not in expect:
            raise Unreachable(f"{what} failed: Harbor at {self.url} answered {response.status_code}; check Harbor's status and logs.")
        if not response.content:
            return Answer(response.status_code, None)
        try:
            body = response.json()
        except ValueError:
            raise _not_harbor(self.url, "a body that is not JSON") from None
        return Answer(response.status_code, body)


def _not_harbor(url: str, what: str) -> RegistrySetupError:
    return InvalidConfiguration(
        f"{url} answered Harbor's API with {what}, not Harbor's JSON; check {URL_VALUE} (the address of Harbor itself)."
    )


def _field(body: Any, key: str, kind: type, url: str) -> Any:
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise _not_harbor(url, f"an answer without {key!r}")
    return value


def _robot(item: Any, url: str) -> Robot:
    expires = item.get("expires_at", -1) if isinstance(item, dict) else -1
    return Robot(_field(item, "id", int, url), _field(item, "name", str, url), bool(item.get("disable")),
                 expires if isinstance(expires, int) else -1)
