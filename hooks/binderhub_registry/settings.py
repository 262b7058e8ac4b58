"""What BinderHub needs to know about a registry, derived from values without network calls."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Where the binder pod sees the Secret (extraVolumes/extraVolumeMounts in the settings).
BINDER_DOCKER_CONFIG_DIR = "/etc/binderhub-registry/docker"


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

    @property
    def host(self) -> str:
        return self.registry_url.split("://", 1)[-1].rstrip("/")

    def as_json(self, secret_name: str) -> dict[str, Any]:
        data = asdict(self)
        return {
            "type": data["type"],
            "registryUrl": self.registry_url,
            "authKey": self.auth_key,
            "imagePrefix": self.image_prefix,
            "tokenUrl": self.token_url or None,
            "authConfigUrl": self.auth_config_url or None,
            "notFound401": self.not_found_401,
            "secretName": secret_name,
            "dockerConfigPath": f"{BINDER_DOCKER_CONFIG_DIR}/config.json",
        }


def settings_configmap_name(secret_name: str) -> str:
    return f"{secret_name}-settings"


def probe_name(prefix: str) -> str:
    """Name of the image the push check starts (and cancels) an upload for."""
    return f"{prefix}push-check"
