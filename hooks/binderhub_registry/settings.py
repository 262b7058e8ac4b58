"""What BinderHub needs to know about a registry, derived from values without network calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from binderhub_registry.errors import InvalidConfiguration

# Where the binder pod mounts the Secret's config.json and the settings' registry.json (one
# projected volume, defined in chart/values.yaml `binderhub:`; scripts/sync_chart_data.py
# generates the chart's and the companion file's wiring from it and checks it mounts here).
BINDER_SETTINGS_DIR = "/etc/binderhub/registry"
BINDER_DOCKER_CONFIG_PATH = f"{BINDER_SETTINGS_DIR}/docker/config.json"
# Docker's limit on an image name, registry host included (distribution/reference NameTotalLengthMax).
# chart/templates/_validate.tpl makes `helm install` refuse the same values with the same rule.
NAME_TOTAL_LENGTH_MAX = 255
# The value that holds the registry path of each registry type, for the sentence.
PATH_VALUES = {
    "generic": "registry.generic.repository",
    "dockerhub": "registry.dockerhub.namespace",
    "gcr": "registry.gcr.project",
    "artifact-registry": "registry.artifactRegistry.repository",
    "harbor": "registry.harbor.project",
    "ecr": "registry.ecr.repositoryPrefix",
}
# ...and, with registry.google.credential workload-identity, the registry helper's token Secret
BINDER_HELPER_TOKEN_PATH = f"{BINDER_SETTINGS_DIR}/helper/token"


@dataclass(frozen=True)
class RegistrySettings:
    type: str
    # DockerRegistry.url: the registry API base, scheme://host[:port]
    registry_url: str
    # Key under "auths" in config.json, found alike by Docker clients, kubelet and BinderHub.
    auth_key: str
    # BinderHub.image_prefix: images are pushed as <image_prefix><name>:<tag>
    image_prefix: str
    # DockerRegistry.token_url where BinderHub needs it; "" = leave BinderHub's default.
    token_url: str
    # Repository (path without host) the push check uses.
    probe_repository: str
    # DockerRegistry.auth_config_url, where BinderHub's default would miss the auths key.
    auth_config_url: str = ""
    # DockerRegistry.not_found_401, where the registry answers 401 for missing repositories.
    not_found_401: bool | None = None
    # Keyless Google: ExternalRegistryHelper.service_url (its token is at BINDER_HELPER_TOKEN_PATH).
    helper_url: str = ""

    def __post_init__(self) -> None:
        shortest = self.image_prefix + probe_name("")
        if len(shortest) > NAME_TOTAL_LENGTH_MAX:
            raise InvalidConfiguration(
                f"registry.prefix and {PATH_VALUES.get(self.type, 'the registry path')} make image names of {len(shortest)} "
                f"characters or more (such as {shortest[:24]}...), longer than Docker's {NAME_TOTAL_LENGTH_MAX}; shorten either."
            )

    @property
    def host(self) -> str:
        return self.registry_url.split("://", 1)[-1].rstrip("/")

    def binderhub_config(self, secret_name: str) -> dict[str, dict[str, Any]]:
        """BinderHub's traitlets configuration, by class: what its `binderhub-registry` extraConfig
        snippet loads from registry.json at every start (so it wins over the user's `config`)."""
        registry: dict[str, Any] = {"url": self.registry_url, "docker_config_path": BINDER_DOCKER_CONFIG_PATH}
        if self.token_url:
            registry["token_url"] = self.token_url
        if self.auth_config_url:
            registry["auth_config_url"] = self.auth_config_url
        if self.not_found_401 is not None:
            registry["not_found_401"] = self.not_found_401
        if self.helper_url:  # keyless Google: BinderHub asks the registry helper (its token: BINDER_HELPER_TOKEN_PATH)
            return {
                "BinderHub": {"use_registry": True, "image_prefix": self.image_prefix,
                              "registry_class": "binderhub.registry.ExternalRegistryHelper"},
                "ExternalRegistryHelper": {"service_url": self.helper_url},
                "KubernetesBuildExecutor": {"push_secret": secret_name},
            }
        return {
            "BinderHub": {"use_registry": True, "image_prefix": self.image_prefix},
            "DockerRegistry": registry,
            "KubernetesBuildExecutor": {"push_secret": secret_name},
        }

    def as_json(self, secret_name: str) -> dict[str, Any]:
        """registry.json: the settings for machines, and BinderHub's configuration from them."""
        return {
            "type": self.type,
            "registryUrl": self.registry_url,
            "authKey": self.auth_key,
            "imagePrefix": self.image_prefix,
            "tokenUrl": self.token_url or None,
            "authConfigUrl": self.auth_config_url or None,
            "notFound401": self.not_found_401,
            "secretName": secret_name,
            "dockerConfigPath": BINDER_DOCKER_CONFIG_PATH,
            "binderhubConfig": self.binderhub_config(secret_name),
            "registryHelper": {"url": self.helper_url, "tokenPath": BINDER_HELPER_TOKEN_PATH} if self.helper_url else None,
        }


def settings_configmap_name(secret_name: str) -> str:
    return f"{secret_name}-settings"


def pull_secret_name(secret_name: str) -> str:
    """The Secret user pods pull with (JupyterHub's imagePullSecrets name it): the pull-only
    credential, or a copy of the push credential where there is none. At most 253 characters,
    like <secretName>-helper-token (output.secretName is at most 240)."""
    return f"{secret_name}-pull"


def probe_name(prefix: str) -> str:
    """Name of the image the push check starts (and cancels) an upload for."""
    return f"{prefix}push-check"
