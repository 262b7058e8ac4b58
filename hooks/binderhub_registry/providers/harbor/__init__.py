"""Harbor: the hook manages the project-level robot accounts BinderHub pushes with.

With the credentials in ``registry.harbor.adminSecret`` (a Project Admin, or a system robot that
may manage robot accounts), the hook checks the project (``createProject``: creates it with a
storage quota), and keeps up to two robot accounts of its own, ``<robotName>-a`` and
``<robotName>-b``, each with exactly ``repository: push, pull`` on the project and nothing else:

* the **current** one, whose secret the Secret holds (annotation ``credential-id``: its id);
* the **previous** one (``previous-credential-id``), which BinderHub pods still running may use
  until the next rotation, like a Google key before the current one.

Rotation (``rotation.policy``, or when the current robot expires within ``renewBeforeDays``)
refreshes the previous robot's secret with Harbor's own refresh (``PATCH /robots/{id}``; a new
robot when there is none or it expires too soon), proves it, writes it into the Secret, and
BinderHub restarts: the secret BinderHub runs with stays valid until then. A write-ahead note
names the robot being created or refreshed, so a run killed half-way is undone by the next one
(a robot it created and never used is deleted; a refreshed one is refreshed again). A robot
deleted or disabled by hand is re-created, and the run says so. ``cleanup`` deletes the robots
the Secret records, and nothing else.
"""

from __future__ import annotations

import time
from typing import Any

from binderhub_registry.dockerconfig import credentials_for
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.faults import checkpoint
from binderhub_registry.providers.base import NOTHING_DISCOVERED, Credential, Discovered, InputCredentials, Obtained, Provider
from binderhub_registry.providers.generic import prove_on_registry
from binderhub_registry.providers.harbor.api import ADMIN_VALUE, HarborApi, Robot
from binderhub_registry.rotation import should_rotate
from binderhub_registry.settings import RegistrySettings, probe_name
from binderhub_registry.state import (
    CREATED,
    CREATED_AT,
    CREDENTIAL_ID,
    CREDENTIAL_ORIGIN,
    INTENT_HARBOR_ROBOT,
    PREVIOUS_CREDENTIAL_ID,
    CurrentState,
)
from binderhub_registry.values import Values

SLOTS = ("a", "b")
DAY = 86400


class HarborProvider(Provider):
    type = "harbor"
    secret_keys = ("password",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: dict[str, Any] = self.registry_values["harbor"]
        self.url = str(self.config.get("url") or "").rstrip("/")
        self.project = str(self.config.get("project") or "")
        secret_name = self.values.get("output", {}).get("secretName") or "binderhub-registry"
        self.robot_base = str(self.config.get("robotName") or f"{secret_name}-builder")
        self.duration = int(self.config.get("robotDurationDays", -1))
        self.renew_before = int(self.config.get("renewBeforeDays", 14))

    @classmethod
    def mints_credentials(cls, values: Values) -> bool:
        return True

    @classmethod
    def needs_cluster(cls, values: Values) -> bool:
        return True

    def settings(self, discovered: Discovered = NOTHING_DISCOVERED) -> RegistrySettings:
        if not self.url or not self.project:
            raise InvalidConfiguration("registry.harbor.url and registry.harbor.project must be set for registry.type harbor.")
        if self.duration == 0:
            raise InvalidConfiguration(
                "registry.harbor.robotDurationDays is 0; Harbor takes a positive number of days, or -1 (never expires)."
            )
        host = self.url.split("://", 1)[1]
        prefix = self.registry_values["prefix"]
        return RegistrySettings(
            type=self.type,
            registry_url=self.url,
            auth_key=self.url,
            image_prefix=f"{host}/{self.project}/{prefix}",
            token_url=discovered.token_url,
            probe_repository=f"{self.project}/{probe_name(prefix)}",
        )

    # -- obtain ----------------------------------------------------------------------------

    def obtain(self, current: CurrentState, given: InputCredentials | None) -> Obtained:
        self.settings()
        with self._api() as api:
            project_id = self._ensure_project(api)
            robots = self._without_leaked(api, current, api.robots(project_id))
            credential = self._current_or_new(api, current, robots)
        token_url = self._prove(credential.username, credential.password)
        return Obtained(credential, self.settings(Discovered(token_url=token_url)), after_switch=lambda: self.record_intent({}))

    def _api(self) -> HarborApi:
        name = str(self.config.get("adminSecret") or "")
        if not name:
            raise InvalidConfiguration(
                f"{ADMIN_VALUE} is empty; create a Secret with the username and password keys of a Harbor account that may manage "
                f"robot accounts of project {self.project!r} and name it there."
            )
        data = self.read_secret(name) if self.read_secret else None
        if data is None:
            raise InvalidConfiguration(f"Secret {name!r} named by {ADMIN_VALUE} does not exist; create it or fix the name.")
        if not data.get("username") or not data.get("password"):
            raise InvalidConfiguration(f"Secret {name!r} named by {ADMIN_VALUE} needs both a username and a password key.")
        return HarborApi(self.url, data["username"], data["password"], self.progress, self.project)

    def _ensure_project(self, api: HarborApi) -> int:
        project_id = api.project_id()
        if project_id is None:
            if not self.config.get("createProject"):
                raise InvalidConfiguration(
                    f"Harbor project {self.project!r} does not exist at {self.url}; create it, or set registry.harbor.createProject "
                    f"true to let the hook create it."
                )
            limit = int(self.config.get("storageLimit", -1))
            api.create_project(limit)
            self.progress.step(f"created Harbor project {self.project!r} (storage quota {limit if limit >= 0 else 'unlimited'})")
            project_id = api.project_id()
            if project_id is None:
                raise InvalidConfiguration(f"Harbor created project {self.project!r} but does not show it; check Harbor's logs.")
        self.progress.step(f"Harbor project {self.project!r} (id {project_id}) at {self.url}, as {api.username!r}")
        return project_id

    def _without_leaked(self, api: HarborApi, current: CurrentState, robots: dict[int, Robot]) -> dict[int, Robot]:
        """Delete the robot an interrupted run created and never wrote into the Secret (its note
        names it); the robots the Secret records are kept."""
        noted = current.intents.get(INTENT_HARBOR_ROBOT, "")
        ours = _ids(current)
        for robot in list(robots.values()):
            if noted and _short(robot.name) == noted and robot.id not in ours:
                api.delete_robot(robot.id, robot.name)
                self.progress.step(f"deleted robot account {robot.name!r}, which an interrupted run created and never used")
                del robots[robot.id]
        return robots

    def _current_or_new(self, api: HarborApi, current: CurrentState, robots: dict[int, Robot]) -> Credential:
        ours = current.annotation(CREDENTIAL_ORIGIN) == CREATED
        current_id, previous_id = _ids(current) if ours else (None, None)
        in_secret = credentials_for(current.docker_config, self.url) if current.docker_config else None
        robot = robots.get(current_id) if current_id is not None else None
        previous = robots.get(previous_id) if previous_id is not None else None
        if robot is not None and in_secret is not None and in_secret[0] == robot.name and self._usable(robot):
            self.progress.add_secret(in_secret[1])
            rotate, why = should_rotate(self.rotation, current.annotations)
            if self._expires_soon(robot):
                rotate, why = True, f"robot account {robot.name!r} expires within {self.renew_before} days"
            if not rotate:
                self.progress.step(f"robot account {robot.name!r} in the Secret is current ({why}): reusing it")
                return Credential(robot.name, in_secret[1], str(robot.id), current.annotation(CREATED_AT), _text(previous_id), CREATED)
            self.progress.step(f"rotating the robot account's secret: {why}")
            standby, secret = self._standby(api, previous, self._slot_name(robot, other=True))
            return Credential(standby.name, secret, str(standby.id), previous_credential_id=str(robot.id), origin=CREATED)
        if robot is not None:
            why = "is disabled" if robot.disabled else "expires too soon" if self._expires_soon(robot) else "has no secret in the Secret"
            self.progress.warn(f"robot account {robot.name!r} {why}: deleting it and creating a new one")
            api.delete_robot(robot.id, robot.name)
        elif current_id is not None:
            self.progress.warn(f"robot account {current_id} in the Secret no longer exists in Harbor (deleted by hand?): "
                               f"creating a new one")
        name = self._slot_name(robot, other=False) if robot is not None else self._free_slot(previous)
        created, secret = self._create(api, name)
        kept = str(previous.id) if previous is not None and self._usable(previous) else ""
        return Credential(created.name, secret, str(created.id), previous_credential_id=kept, origin=CREATED)

    def _standby(self, api: HarborApi, previous: Robot | None, name: str) -> tuple[Robot, str]:
        """The previous robot with a refreshed secret (Harbor's refresh), or a new one."""
        if previous is not None and self._usable(previous) and not self._expires_soon(previous):
            self.record_intent({INTENT_HARBOR_ROBOT: _short(previous.name)})
            checkpoint("before-robot-refresh")
            secret = api.refresh_robot(previous)
            checkpoint("after-robot-refresh")
            self.progress.step(f"refreshed the secret of robot account {previous.name!r}")
            return previous, secret
        if previous is not None:
            api.delete_robot(previous.id, previous.name)
            self.progress.step(f"deleted robot account {previous.name!r} (disabled or expiring), to create it again")
        return self._create(api, name)

    def _create(self, api: HarborApi, name: str) -> tuple[Robot, str]:
        self.record_intent({INTENT_HARBOR_ROBOT: name})
        robot, secret = api.create_robot(name, self.duration, "BinderHub's push robot, managed by binderhub-registry")
        checkpoint("after-robot-creation")
        expiry = "never expires" if robot.expires_at < 0 else f"expires in {self.duration} days"
        self.progress.step(f"created robot account {robot.name!r} with push and pull on project {self.project!r} ({expiry})")
        return robot, secret

    def _usable(self, robot: Robot) -> bool:
        return not robot.disabled and (robot.expires_at < 0 or robot.expires_at > time.time())

    def _expires_soon(self, robot: Robot) -> bool:
        return robot.expires_at >= 0 and robot.expires_at - time.time() < self.renew_before * DAY

    def _slot_name(self, robot: Robot | None, other: bool) -> str:
        slot = next((s for s in SLOTS if robot is not None and _short(robot.name) == f"{self.robot_base}-{s}"), SLOTS[1])
        if other:
            slot = SLOTS[1 - SLOTS.index(slot)]
        return f"{self.robot_base}-{slot}"

    def _free_slot(self, previous: Robot | None) -> str:
        taken = _short(previous.name) if previous is not None else ""
        return next(f"{self.robot_base}-{s}" for s in SLOTS if f"{self.robot_base}-{s}" != taken)

    # -- proof -----------------------------------------------------------------------------

    def _prove(self, username: str, password: str) -> str:
        settings = self.settings()
        return prove_on_registry(self.url, settings.probe_repository, username, password, self.progress,
                                 url_value="registry.harbor.url", credentials_value="the robot account the hook created")[1]

    def prove(self, username: str, password: str) -> dict[str, Any]:
        settings = self.settings()
        return prove_on_registry(self.url, settings.probe_repository, username, password, self.progress,
                                 url_value="registry.harbor.url", credentials_value="the robot account in the Secret")[0]

    # -- clean-up --------------------------------------------------------------------------

    def cleanup(self, current: CurrentState) -> None:
        """Delete the robot accounts the Secret records as created by this tool (and one an
        interrupted run noted); nothing else in Harbor changes."""
        if current.annotation(CREDENTIAL_ORIGIN) != CREATED:
            self.progress.step("no robot account created by this tool is recorded: nothing to delete in Harbor")
            return
        with self._api() as api:
            project_id = api.project_id()
            if project_id is None:
                self.progress.step(f"Harbor project {self.project!r} does not exist: no robot account to delete")
                return
            robots = self._without_leaked(api, current, api.robots(project_id))
            deleted = [robot.name for robot_id in _ids(current) if robot_id is not None and (robot := robots.get(robot_id))
                       and _short(robot.name).startswith(f"{self.robot_base}-") and api.delete_robot(robot.id, robot.name)]
        self.progress.step(f"deleted {len(deleted)} robot account(s) of project {self.project!r}: {', '.join(deleted) or 'none left'}")


def _ids(current: CurrentState) -> tuple[int | None, int | None]:
    def number(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    return number(current.annotation(CREDENTIAL_ID)), number(current.annotation(PREVIOUS_CREDENTIAL_ID))


def _text(robot_id: int | None) -> str:
    return "" if robot_id is None else str(robot_id)


def _short(full_name: str) -> str:
    """A project robot's own name: robot$<project>+<name> -> <name> (whatever Harbor's prefix)."""
    return full_name.rsplit("+", 1)[-1]


