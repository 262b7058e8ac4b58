"""Harbor: the hook manages the project-level robot accounts BinderHub pushes with, and those
user pods pull with.

With the credentials in ``registry.harbor.adminSecret`` (a Project Admin, or a system robot that
may manage robot accounts), the hook checks the project (``createProject``: creates it with a
storage quota), and keeps two pairs of robot accounts of its own (robots.py): the push pair
``<robotName>-a``/``-b``, each with exactly ``repository: push, pull`` on the project, whose current
robot the output Secret holds; and the pull pair ``<pullRobotName>-a``/``-b``, each with exactly
``repository: pull``, whose current robot the pull Secret (``<secret>-pull``) holds, proven to pull
and proven not to push. Both rotate with Harbor's own refresh, under write-ahead notes; a robot
deleted or disabled by hand is re-created, and the run says so. ``cleanup`` deletes the robots the
two Secrets record, and nothing else.
"""

from __future__ import annotations

from typing import Any

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.providers.base import NOTHING_DISCOVERED, Credential, Discovered, InputCredentials, Obtained, Provider
from binderhub_registry.providers.generic import prove_on_registry, prove_pull_only_on_registry
from binderhub_registry.providers.harbor.api import ADMIN_VALUE, PULL_ACCESS, PUSH_ACCESS, HarborApi
from binderhub_registry.providers.harbor.robots import RobotPair
from binderhub_registry.settings import RegistrySettings, probe_name
from binderhub_registry.state import CurrentState, Intent
from binderhub_registry.values import Values


class HarborProvider(Provider):
    type = "harbor"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: dict[str, Any] = self.registry_values["harbor"]
        self.url = str(self.config.get("url") or "").rstrip("/")
        self.project = str(self.config.get("project") or "")
        secret_name = self.values.get("output", {}).get("secretName") or "binderhub-registry"
        self.robot_base = str(self.config.get("robotName") or f"{secret_name}-builder")
        self.pull_robot_base = str(self.config.get("pullRobotName") or f"{secret_name}-puller")
        self.duration = int(self.config.get("robotDurationDays", -1))
        self.renew_before = int(self.config.get("renewBeforeDays", 14))
        # The write-ahead notes this run keeps (both pairs'), recorded together: each record
        # replaces the notes on the settings ConfigMap.
        self._notes: dict[str, str] = {}  # robot names by pair ("push", "pull")
        self.push_robots = self._pair(self.robot_base, PUSH_ACCESS, "push")
        self.pull_robots = self._pair(self.pull_robot_base, PULL_ACCESS, "pull")

    def _pair(self, base: str, access: tuple[dict[str, str], ...], what: str) -> RobotPair:
        return RobotPair(base, access, what, self.url, self.project, self.duration, self.renew_before, self.rotation,
                         self.progress, self._note)

    def _note(self, what: str, robot_name: str) -> None:
        self._notes[what] = robot_name
        self.record_intent(Intent(harbor_robots=dict(self._notes)))

    def _keep_notes(self, current: CurrentState) -> None:
        """Carry the notes of an interrupted run until both pairs have dealt with them."""
        for what, robot_name in current.intent.harbor_robots.items():
            self._notes.setdefault(what, robot_name)

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
        self._keep_notes(current)
        with self._api() as api:
            project_id = self._ensure_project(api)
            credential = self.push_robots.current_or_new(api, current, api.robots(project_id))
        _summary, token_url = self._prove(credential.username, credential.password)
        return Obtained(credential, self.settings(Discovered(token_url=token_url)), after_switch=lambda: self.record_intent(Intent()))

    def check_pull_values(self) -> None:
        if (self.registry_values.get("pullCredentials") or {}).get("existingSecret"):
            raise InvalidConfiguration(
                "registry.pullCredentials.existingSecret is set, but with registry.type harbor the hook makes the pull robot "
                "account itself; leave it empty (registry.harbor.pullRobotName names the robot)."
            )

    def obtain_pull(self, current: CurrentState, given: InputCredentials | None) -> Credential | None:
        """The pull robot user pods pull with, proven to pull and not to push (``current``: the
        pull Secret's state)."""
        self._keep_notes(current)
        with self._api() as api:
            project_id = api.project_id()
            if project_id is None:
                raise InvalidConfiguration(f"Harbor project {self.project!r} disappeared during the run; run the hook again.")
            credential = self.pull_robots.current_or_new(api, current, api.robots(project_id))
        prove_pull_only_on_registry(self.url, self.settings().probe_repository, credential.username, credential.password,
                                    self.progress, "registry.harbor.url", "the pull robot account the hook created")
        return credential

    def _api(self) -> HarborApi:
        # registry.harbor.adminSecret, or the registry.existingSecret every type reads its credentials from
        name, value = str(self.config.get("adminSecret") or ""), ADMIN_VALUE
        if not name and self.registry_values.get("existingSecret"):
            name, value = str(self.registry_values["existingSecret"]), "registry.existingSecret"
        if not name:
            raise InvalidConfiguration(
                f"{ADMIN_VALUE} is empty; create a Secret with the username and password keys of a Harbor account that may manage "
                f"robot accounts of project {self.project!r} and name it there."
            )
        data = self.read_secret(name) if self.read_secret else None
        if data is None:
            raise InvalidConfiguration(f"Secret {name!r} named by {value} does not exist; create it or fix the name.")
        if not data.get("username") or not data.get("password"):
            raise InvalidConfiguration(f"Secret {name!r} named by {value} needs both a username and a password key.")
        return HarborApi(self.url, data["username"], data["password"], self.progress, self.project, value)

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

    # -- proof -----------------------------------------------------------------------------

    def _prove(self, username: str, password: str, whose: str = "the robot account the hook created") -> tuple[dict[str, Any], str]:
        probe = self.settings().probe_repository
        return prove_on_registry(self.url, probe, username, password, self.progress, "registry.harbor.url", whose)

    def prove(self, username: str, password: str) -> dict[str, Any]:
        return self._prove(username, password, "the robot account in the Secret")[0]

    # -- clean-up --------------------------------------------------------------------------

    def cleanup(self, current: CurrentState) -> None:
        """Delete the push robot accounts the Secret records as created by this tool (and one an
        interrupted run noted); nothing else in Harbor changes."""
        self._delete_recorded(self.push_robots, current)

    def cleanup_pull(self, pull: CurrentState) -> None:
        """Delete the pull robot accounts the pull Secret records, likewise."""
        self._delete_recorded(self.pull_robots, pull)

    def _delete_recorded(self, pair: RobotPair, current: CurrentState) -> None:
        if not current.created_by_tool:
            self.progress.step(f"no {pair.what} robot account created by this tool is recorded: nothing to delete in Harbor")
            return
        with self._api() as api:
            project_id = api.project_id()
            if project_id is None:
                self.progress.step(f"Harbor project {self.project!r} does not exist: no robot account to delete")
                return
            deleted = pair.delete_recorded(api, current, api.robots(project_id))
        self.progress.step(f"deleted {len(deleted)} {pair.what} robot account(s) of project {self.project!r}: "
                           f"{', '.join(deleted) or 'none left'}")
