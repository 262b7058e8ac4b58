"""One pair of project robot accounts the hook keeps in Harbor, ``<base>-a`` and ``<base>-b``, each
with exactly ``access`` on the project: the push pair BinderHub builds with, and the pull pair
user pods pull with.

The Secret that holds a pair's current robot records it (annotation ``credential-id``) and the one
before it (``previous-credential-id``), which pods still running may use until the next rotation.
Rotation refreshes the previous robot's secret with Harbor's own refresh (``PATCH /robots/{id}``;
a new robot when there is none or it expires too soon). A write-ahead note names the robot being
created or refreshed, so a run killed half-way is undone by the next one. A robot deleted or
disabled by hand is re-created, and the run says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from binderhub_registry.credentials import CREATED
from binderhub_registry.dockerconfig import credentials_for
from binderhub_registry.faults import checkpoint
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import Credential
from binderhub_registry.providers.harbor.api import HarborApi, Robot
from binderhub_registry.rotation import RotationPolicy, should_rotate
from binderhub_registry.state import CurrentState

SLOTS = ("a", "b")
DAY = 86400


@dataclass(frozen=True)
class RobotPair:
    base: str  # the robots' own names are <base>-a and <base>-b
    access: tuple[dict[str, str], ...]  # Harbor's project-level access of each robot, exactly
    what: str  # "push", "pull": for progress lines and the robot's description
    url: str
    project: str
    duration: int
    renew_before: int
    rotation: RotationPolicy
    progress: Progress
    note: Callable[[str, str], None]  # records the write-ahead note naming the robot a run creates or refreshes (what, name)

    # -- obtain ----------------------------------------------------------------------------

    def current_or_new(self, api: HarborApi, current: CurrentState, robots: dict[int, Robot]) -> Credential:
        """The robot in the Secret while it is usable and not due for rotation; else a refreshed or
        new one. ``current``: the state of the Secret holding this pair."""
        robots = self.without_leaked(api, current, robots)
        ours = current.created_by_tool
        current_id, previous_id = robot_ids(current) if ours else (None, None)
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
                return Credential(robot.name, in_secret[1], str(robot.id), current.created_at, _text(previous_id), CREATED)
            self.progress.step(f"rotating the {self.what} robot account's secret: {why}")
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

    def without_leaked(self, api: HarborApi, current: CurrentState, robots: dict[int, Robot]) -> dict[int, Robot]:
        """Delete the robot an interrupted run created and never wrote into the Secret (its note
        names it); the robots the Secret records are kept."""
        noted = current.intent.harbor_robots.get(self.what, "")
        ours = robot_ids(current)
        for robot in list(robots.values()):
            if noted and short_name(robot.name) == noted and robot.id not in ours:
                api.delete_robot(robot.id, robot.name)
                self.progress.step(f"deleted robot account {robot.name!r}, which an interrupted run created and never used")
                del robots[robot.id]
        return robots

    def delete_recorded(self, api: HarborApi, current: CurrentState, robots: dict[int, Robot]) -> list[str]:
        """Delete the robots of this pair that the Secret records (and one an interrupted run
        noted); their names."""
        if not current.created_by_tool:
            return []
        robots = self.without_leaked(api, current, robots)
        return [robot.name for robot_id in robot_ids(current) if robot_id is not None and (robot := robots.get(robot_id))
                and short_name(robot.name).startswith(f"{self.base}-") and api.delete_robot(robot.id, robot.name)]

    def _standby(self, api: HarborApi, previous: Robot | None, name: str) -> tuple[Robot, str]:
        """The previous robot with a refreshed secret (Harbor's refresh), or a new one."""
        if previous is not None and self._usable(previous) and not self._expires_soon(previous):
            self.note(self.what, short_name(previous.name))
            checkpoint(f"before-{self._fault}robot-refresh")
            secret = api.refresh_robot(previous)
            checkpoint(f"after-{self._fault}robot-refresh")
            self.progress.step(f"refreshed the secret of robot account {previous.name!r}")
            return previous, secret
        if previous is not None:
            api.delete_robot(previous.id, previous.name)
            self.progress.step(f"deleted robot account {previous.name!r} (disabled or expiring), to create it again")
        return self._create(api, name)

    def _create(self, api: HarborApi, name: str) -> tuple[Robot, str]:
        self.note(self.what, name)
        robot, secret = api.create_robot(name, self.duration, f"BinderHub's {self.what} robot, managed by binderhub-registry",
                                         self.access)
        checkpoint(f"after-{self._fault}robot-creation")
        expiry = "never expires" if robot.expires_at < 0 else f"expires in {self.duration} days"
        actions = " and ".join(access["action"] for access in self.access)
        self.progress.step(f"created robot account {robot.name!r} with {actions} on project {self.project!r} ({expiry})")
        return robot, secret

    @property
    def _fault(self) -> str:
        """The pair's part of its crash points' names (faults.py): after-robot-creation for the
        push pair, after-pull-robot-creation for the pull pair."""
        return "" if self.what == "push" else f"{self.what}-"

    def _usable(self, robot: Robot) -> bool:
        return not robot.disabled and (robot.expires_at < 0 or robot.expires_at > time.time())

    def _expires_soon(self, robot: Robot) -> bool:
        return robot.expires_at >= 0 and robot.expires_at - time.time() < self.renew_before * DAY

    def _slot_name(self, robot: Robot | None, other: bool) -> str:
        slot = next((s for s in SLOTS if robot is not None and short_name(robot.name) == f"{self.base}-{s}"), SLOTS[1])
        if other:
            slot = SLOTS[1 - SLOTS.index(slot)]
        return f"{self.base}-{slot}"

    def _free_slot(self, previous: Robot | None) -> str:
        taken = short_name(previous.name) if previous is not None else ""
        return next(f"{self.base}-{s}" for s in SLOTS if f"{self.base}-{s}" != taken)


def robot_ids(current: CurrentState) -> tuple[int | None, int | None]:
    def number(text: str) -> int | None:
        return int(text) if text.isdigit() else None

    return number(current.credential_id), number(current.previous_credential_id)


def _text(robot_id: int | None) -> str:
    return "" if robot_id is None else str(robot_id)


def short_name(full_name: str) -> str:
    """A project robot's own name: robot$<project>+<name> -> <name> (whatever Harbor's prefix)."""
    return full_name.rsplit("+", 1)[-1]
