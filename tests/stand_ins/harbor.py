"""A Harbor stand-in held to Harbor's published API, in front of the real distribution registry.

Why this exists: the hook manages Harbor robot accounts, and no Harbor runs on the test machines.
One loopback server plays Harbor's three faces, like Harbor's own nginx:

* ``/api/v2.0/...``: the REST calls the hook makes (projects, robot accounts), with Harbor's
  rules: Basic auth of users and robot accounts (401 ``UNAUTHORIZED`` otherwise); permissions
  per caller (system admin; Project Admin, Maintainer, Developer, Guest per project; robot
  accounts by their own permissions, and a robot may not create one with more than it has):
  403 ``FORBIDDEN``; robot names ``^[a-z0-9]+(?:[._-][a-z0-9]+)*$``, project robots named
  ``<prefix><project>+<name>`` (prefix ``robot$`` unless ``robot_prefix`` says otherwise), a
  taken name 409 ``CONFLICT``; ``duration`` -1 or positive days, else 400; a robot's secret
  shown only in the create and refresh answers; a refresh (PATCH) makes the old secret stop
  working at once; disabled or expired robots cannot log in. Every request to the API and every
  answer is checked against ``swagger.yaml`` (harbor_contract.py): what it does not allow is
  recorded in ``violations``, which the fixture requires empty after each test, and a request
  the document does not allow is refused with 400, as Harbor's generated binding refuses it.
* ``/service/token``: Harbor's token service (GET only: other methods 405, as containerd's OAuth
  POST meets it before falling back to GET), a :class:`TokenServer` whose grants come from the
  same accounts (a robot: exactly its ``repository`` actions on its project), so distribution
  enforces them: a pull-only robot really cannot push.
* ``/v2/...``: the registry, the real distribution (token auth) behind a pass-through.

Knobs: ``now`` (epoch seconds the stand-in lives at; tests move it to expire robots), ``html``
(every API call answers a sign-in page, like a proxy in front of Harbor), ``lose_next_answer``
(the next call of a method is carried out, then answered 502, as when a proxy loses Harbor's
answer). ``requests`` records (method, path, caller, status) of every API call.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.stand_ins.harbor_contract import HarborContract, harbor_contract
from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer
from tests.stand_ins.registry import Registry
from tests.stand_ins.token_server import TokenServer, UserEntry

NAME_RULE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
SECRET_RULE = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d).{8,128}$")
ROLES = {
    "admin": {("robot", a) for a in ("create", "read", "list", "update", "delete")}
    | {("repository", a) for a in ("pull", "push", "delete")},
    "maintainer": {("robot", "read"), ("robot", "list")} | {("repository", a) for a in ("pull", "push", "delete")},
    "developer": {("repository", "pull"), ("repository", "push")},
    "guest": {("repository", "pull")},
}
ROBOT_RESOURCES = {"repository", "artifact", "tag", "helm-chart", "robot", "project", "scan", "label"}
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "accept-encoding"})
LOGIN_PAGE = b"<!doctype html><html><head><title>Sign in</title></head><body><form>...</form></body></html>"


@dataclass
class User:
    password: str
    sysadmin: bool = False
    roles: dict[str, str] = field(default_factory=dict)  # project -> role


@dataclass
class RobotAccount:
    id: int
    name: str  # as stored: <project>+<name> for project robots, <name> for system ones
    full_name: str
    secret: str
    level: str
    permissions: list[dict[str, Any]]
    duration: int
    creation_time: float
    expires_at: int
    description: str = ""
    disabled: bool = False

    def grants(self, project: str) -> set[tuple[str, str]]:
        out = set()
        for permission in self.permissions:
            if permission.get("kind") == "project" and permission.get("namespace") in (project, "*"):
                out |= {(a["resource"], a["action"]) for a in permission.get("access", [])}
        return out

    def system_grants(self) -> set[tuple[str, str]]:
        return {(a["resource"], a["action"]) for p in self.permissions if p.get("kind") == "system" for a in p.get("access", [])}

    def public(self) -> dict[str, Any]:
        """The Robot model as Harbor answers it: never the secret."""
        return {"id": self.id, "name": self.full_name, "description": self.description, "level": self.level,
                "duration": self.duration, "editable": True, "disable": self.disabled, "expires_at": self.expires_at,
                "permissions": self.permissions, "creator_type": "local", "creator_ref": 1,
                "creation_time": _time(self.creation_time), "update_time": _time(self.creation_time)}


@dataclass
class Project:
    id: int
    name: str
    storage_limit: int
    public: bool = False


Caller = User | RobotAccount | None


class HarborTokenService(TokenServer):
    """Harbor's token service: grants from the Harbor stand-in's accounts."""

    def __init__(self, harbor: Harbor) -> None:
        super().__init__({}, service="harbor-registry", issuer="harbor-token-issuer")
        self.harbor = harbor

    @property
    def realm(self) -> str:
        return f"{self.harbor.url}/service/token"

    def access_for_credentials(self, username: str | None, password: str | None, scopes: list[str]) -> list[dict[str, Any]] | None:
        caller = self.harbor.authenticate(username, password)
        if username is not None and caller is None:
            return None
        return self.access_for(self.harbor.token_entry(caller), scopes)


class Harbor(LoopbackHttpServer):
    thread_name = "harbor"

    def __init__(self, contract: HarborContract | None = None, robot_prefix: str = "robot$") -> None:
        super().__init__()
        self.contract = contract or harbor_contract()
        self.robot_prefix = robot_prefix
        self.users: dict[str, User] = {}
        self.projects: dict[str, Project] = {}
        self.robots: dict[int, RobotAccount] = {}
        self.now = time.time()
        self.html = False
        self.lose_next_answer: str | None = None
        self.violations: list[str] = []
        self.requests: list[tuple[str, str, str, int]] = []
        self._ids = iter(range(1, 1_000_000))
        self._lock = threading.RLock()
        self.token_service = HarborTokenService(self)
        self.registry: Registry | None = None
        self._upstream: httpx.Client | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def handler_class(self) -> type[LoopbackHandler]:
        return type("Handler", (_Handler,), {"owner": self})

    def start(self) -> Harbor:
        super().start()
        try:
            self.token_service.start()
            self.registry = Registry("token", token_server=self.token_service).start()
            self._upstream = httpx.Client(base_url=self.registry.url, timeout=10, follow_redirects=False)
        except BaseException:
            self.stop()
            raise
        return self

    def on_stop(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        if self.registry is not None:
            self.registry.stop()
        self.token_service.stop()
        self.registry, self._upstream = None, None

    def __enter__(self) -> Harbor:
        return self.start()

    # -- test set-up ---------------------------------------------------------------------------

    def add_user(self, name: str, password: str | None = None, sysadmin: bool = False, **roles: str) -> str:
        password = password or "Pw-" + secrets.token_urlsafe(12)
        self.users[name] = User(password, sysadmin, dict(roles))
        return password

    def add_project(self, name: str, storage_limit: int = -1) -> Project:
        project = Project(next(self._ids), name, storage_limit)
        self.projects[name] = project
        return project

    def add_system_robot(self, name: str, access: list[tuple[str, str]], project_access: list[tuple[str, str]] = ()) -> tuple[str, str]:
        """A system robot with ``access`` (system level) and ``project_access`` on every project."""
        permissions = [{"kind": "system", "namespace": "/", "access": [{"resource": r, "action": a} for r, a in access]}]
        if project_access:
            permissions.append({"kind": "project", "namespace": "*", "access": [{"resource": r, "action": a} for r, a in project_access]})
        robot = self._new_robot(name, self.robot_prefix + name, "system", permissions, -1)
        return robot.full_name, robot.secret

    def project_robots(self, project: str) -> list[RobotAccount]:
        return [r for r in self.robots.values() if r.level == "project" and r.name.startswith(project + "+")]

    # -- accounts ------------------------------------------------------------------------------

    def authenticate(self, username: str | None, password: str | None) -> Caller:
        if username is None or password is None:
            return None
        with self._lock:
            user = self.users.get(username)
            if user is not None:
                return user if secrets.compare_digest(user.password.encode(), password.encode()) else None
            for robot in self.robots.values():
                if robot.full_name == username and secrets.compare_digest(robot.secret.encode(), password.encode()):
                    usable = not robot.disabled and (robot.expires_at < 0 or robot.expires_at > self.now)
                    return robot if usable else None
        return None

    def allowed(self, caller: Caller, project: str, resource: str, action: str) -> bool:
        if isinstance(caller, User):
            return caller.sysadmin or (resource, action) in ROLES.get(caller.roles.get(project, ""), set())
        if isinstance(caller, RobotAccount):
            grants = caller.grants(project)
            return (resource, action) in grants or (resource, "*") in grants
        return False

    def token_entry(self, caller: Caller) -> UserEntry:
        grants = []
        for project in self.projects:
            actions = {a for a in ("pull", "push", "delete") if self.allowed(caller, project, "repository", a)}
            if isinstance(caller, User) and caller.sysadmin:
                actions |= {"pull", "push", "delete"}
            if actions:
                grants.append((f"{project}/*", actions))
        return {"grants": grants}

    def _new_robot(self, name: str, full_name: str, level: str, permissions: list[dict[str, Any]], duration: int) -> RobotAccount:
        expires = -1 if duration == -1 else int(self.now) + duration * 86400
        robot = RobotAccount(next(self._ids), name, full_name, _new_secret(), level, permissions, duration, self.now, expires)
        self.robots[robot.id] = robot
        return robot

    # -- the API -------------------------------------------------------------------------------

    def api(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], caller: Caller,
            body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if caller is None:
                return _error(401, "UNAUTHORIZED", "unauthorized")
            if match := re.fullmatch(r"/projects/([^/]+)", path):
                return self._project(method, match.group(1), headers, caller)
            if path == "/projects" and method == "POST":
                return self._create_project(caller, body)
            if path == "/robots" and method == "GET":
                return self._list_robots(caller, query)
            if path == "/robots" and method == "POST":
                return self._create_robot(caller, body)
            if match := re.fullmatch(r"/robots/(\d+)", path):
                return self._robot(method, int(match.group(1)), caller, body)
            return _error(404, "NOT_FOUND", f"{method} {path} is not served by this stand-in")

    def _project_by(self, key: str, headers: dict[str, str]) -> Project | None:
        by_name = headers.get("x-is-resource-name", "false") == "true" or not key.isdigit()
        return self.projects.get(key) if by_name else next((p for p in self.projects.values() if p.id == int(key)), None)

    def _project(self, method: str, key: str, headers: dict[str, str], caller: Caller) -> tuple[int, Any, dict[str, str]]:
        if method != "GET":
            return _error(405, "METHOD_NOT_ALLOWED", "not served")
        project = self._project_by(key, headers)
        if project is None:
            return _error(404, "NOT_FOUND", f"project {key} not found")
        member = isinstance(caller, User) and (caller.sysadmin or project.name in caller.roles)
        if not (project.public or member or (isinstance(caller, RobotAccount) and caller.grants(project.name))):
            return _error(403, "FORBIDDEN", "forbidden")
        return 200, {"project_id": project.id, "name": project.name, "owner_id": 1, "owner_name": "admin",
                     "creation_time": _time(self.now), "update_time": _time(self.now), "repo_count": 0,
                     "metadata": {"public": str(project.public).lower()}}, {}

    def _create_project(self, caller: Caller, body: Any) -> tuple[int, Any, dict[str, str]]:
        if isinstance(caller, RobotAccount) and ("project", "create") not in caller.system_grants():
            return _error(403, "FORBIDDEN", "forbidden")
        name = body.get("project_name", "") if isinstance(body, dict) else ""
        if not NAME_RULE.fullmatch(name):
            return _error(400, "BAD_REQUEST", "invalid project name")
        if name in self.projects:
            return _error(409, "CONFLICT", f"the project named {name} already exists")
        project = self.add_project(name, body.get("storage_limit") if body.get("storage_limit") is not None else -1)
        if isinstance(caller, User) and not caller.sysadmin:
            caller.roles[name] = "admin"
        return 201, None, {"Location": f"/api/v2.0/projects/{project.id}"}

    def _list_robots(self, caller: Caller, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        terms = dict(term.split("=", 1) for term in (query.get("q", [""])[0]).split(",") if "=" in term)
        project = next((p for p in self.projects.values() if str(p.id) == terms.get("ProjectID")), None)
        if terms.get("Level") != "project" or project is None:
            if not (isinstance(caller, User) and caller.sysadmin):
                return _error(403, "FORBIDDEN", "only system admins may list robots without a project")
            return 200, [r.public() for r in self.robots.values()], {"X-Total-Count": str(len(self.robots))}
        if not self.allowed(caller, project.name, "robot", "list"):
            return _error(403, "FORBIDDEN", "forbidden")
        listed = [r.public() for r in self.project_robots(project.name)]
        return 200, listed, {"X-Total-Count": str(len(listed))}

    def _create_robot(self, caller: Caller, body: Any) -> tuple[int, Any, dict[str, str]]:
        name, level, duration = body.get("name", ""), body.get("level", ""), body.get("duration")
        permissions = body.get("permissions") or []
        if level != "project":
            return _error(400, "BAD_REQUEST", "this stand-in creates project-level robots only")
        if not NAME_RULE.fullmatch(name) or len(name) > 255:
            return _error(400, "BAD_REQUEST", f"robot name is not in lower case or contains illegal characters: {name}")
        if duration is None or not (duration == -1 or duration > 0):
            return _error(400, "BAD_REQUEST", "duration must be either -1(Never) or a positive integer")
        if len(permissions) != 1 or permissions[0].get("kind") != "project":
            return _error(400, "BAD_REQUEST", "a project robot has exactly one permission of kind project")
        project = self.projects.get(permissions[0].get("namespace", ""))
        if project is None:
            return _error(404, "NOT_FOUND", "project not found")
        access = {(a.get("resource"), a.get("action")) for a in permissions[0].get("access", [])}
        if not access or any(resource not in ROBOT_RESOURCES for resource, _ in access):
            return _error(400, "BAD_REQUEST", "bad access")
        if not self.allowed(caller, project.name, "robot", "create"):
            return _error(403, "FORBIDDEN", "forbidden")
        if isinstance(caller, RobotAccount) and not access <= caller.grants(project.name):
            return _error(403, "FORBIDDEN", "a robot cannot create a robot with more permissions than itself")
        stored = f"{project.name}+{name}"
        if any(r.name == stored for r in self.robots.values()):
            return _error(409, "CONFLICT", f"robot account {stored} already exists")
        robot = self._new_robot(stored, self.robot_prefix + stored, "project", permissions, duration)
        robot.description = body.get("description", "")
        return 201, {"id": robot.id, "name": robot.full_name, "secret": robot.secret,
                     "creation_time": _time(robot.creation_time), "expires_at": robot.expires_at}, \
            {"Location": f"/api/v2.0/robots/{robot.id}"}

    def _robot(self, method: str, robot_id: int, caller: Caller, body: Any) -> tuple[int, Any, dict[str, str]]:
        robot = self.robots.get(robot_id)
        if robot is None:
            return _error(404, "NOT_FOUND", f"robot {robot_id} not found")
        project = robot.name.split("+", 1)[0] if robot.level == "project" else ""
        action = {"GET": "read", "PUT": "update", "PATCH": "update", "DELETE": "delete"}[method]
        if not (self.allowed(caller, project, "robot", action) or (method == "PATCH" and caller is robot)):
            return _error(403, "FORBIDDEN", "forbidden")
        if method == "GET":
            return 200, robot.public(), {}
        if method == "DELETE":
            del self.robots[robot_id]
            return 200, None, {}
        if method == "PATCH":
            given = body.get("secret") if isinstance(body, dict) else None
            if given and not SECRET_RULE.fullmatch(given):
                return _error(400, "BAD_REQUEST", "the secret must be 8 to 128 characters with upper and lower case letters and a digit")
            robot.secret = given or _new_secret()
            return 200, {"secret": robot.secret}, {}
        if body.get("name") != robot.full_name or body.get("level") != robot.level:
            return _error(400, "BAD_REQUEST", "the name and level of a robot cannot change")
        robot.disabled = bool(body.get("disable"))
        robot.description = body.get("description", robot.description)
        return 200, None, {}

    def registry_token(self, username: str, password: str, repository: str, actions: str = "pull,push") -> str:
        """A token from Harbor's token service, as docker login and push get one."""
        answer = httpx.get(self.token_service.realm, params={"service": "harbor-registry", "scope": f"repository:{repository}:{actions}"},
                           auth=(username, password), timeout=10)
        answer.raise_for_status()
        return str(answer.json()["token"])

    # -- the registry ----------------------------------------------------------------------------

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._upstream is not None
        answer = self._upstream.request(method, path, headers={k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP},
                                        content=body)
        headers = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        if method == "HEAD" and "content-length" in answer.headers:  # the size of what a GET would send, as Harbor passes it on
            headers["Content-Length"] = answer.headers["content-length"]
        return answer.status_code, headers, answer.content

    def token(self, path_and_query: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        answer = httpx.get(self.token_service.url + "/token" + path_and_query[len("/service/token"):], timeout=10,
                           headers={k: v for k, v in headers.items() if k.lower() == "authorization"})
        return answer.status_code, {"Content-Type": answer.headers.get("Content-Type", "application/json")}, answer.content


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _new_secret() -> str:
    return "Rb" + secrets.token_urlsafe(24) + "7x"


def _error(status: int, code: str, message: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"errors": [{"code": code, "message": message}]}, {}


class _Handler(LoopbackHandler):
    owner: Harbor

    def _handle(self) -> None:
        harbor = self.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items()}
        if parts.path.startswith("/v2/") or parts.path == "/v2":
            return self._send(*harbor.forward(self.command, self.path, headers, raw))
        if parts.path == "/service/token":
            if self.command != "GET":  # Harbor's token handler serves GET only (containerd's OAuth POST then falls back to GET)
                return self._send(405, {"Content-Type": "text/plain"}, b"Method Not Allowed")
            return self._send(*harbor.token(self.path, headers))
        if not parts.path.startswith("/api/v2.0/"):
            return self._send(404, {"Content-Type": "text/plain"}, b"404 page not found")
        if harbor.html:
            return self._send(200, {"Content-Type": "text/html; charset=utf-8"}, LOGIN_PAGE)
        path = parts.path[len("/api/v2.0"):]
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        lowered = {k.lower(): v for k, v in headers.items() if k.lower() not in ("authorization", "host", "user-agent",
                                                                                 "accept", "content-type")}
        strayed = harbor.contract.check_request(self.command, path, query, lowered, body, bool(raw))
        harbor.violations += strayed
        caller = harbor.authenticate(*self._basic())
        if strayed:  # Harbor's go-swagger binding refuses what its document does not allow
            status, answer, extra = _error(400, "BAD_REQUEST", "; ".join(strayed))
        elif caller is None and self.headers.get("Authorization"):
            status, answer, extra = _error(401, "UNAUTHORIZED", "unauthorized")
        else:
            status, answer, extra = harbor.api(self.command, path, query, {k.lower(): v for k, v in headers.items()}, caller,
                                               body if isinstance(body, dict) else {})
        harbor.violations += harbor.contract.check_response(self.command, path, status, answer, answer is not None)
        who = caller.full_name if isinstance(caller, RobotAccount) else next(
            (n for n, u in harbor.users.items() if u is caller), "")
        harbor.requests.append((self.command, parts.path, who, status))
        if harbor.lose_next_answer == self.command:
            harbor.lose_next_answer = None
            return self._send(502, {"Content-Type": "text/plain"}, b"bad gateway")
        data = b"" if answer is None else json.dumps(answer).encode()
        self._send(status, {"Content-Type": "application/json", "X-Request-Id": secrets.token_hex(8), **extra}, data)

    def _basic(self) -> tuple[str | None, str | None]:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", None
        return user, password if sep else None

    def _send(self, status: int, headers: dict[str, str], content: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle  # noqa: N815
