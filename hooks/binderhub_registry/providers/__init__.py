"""Registry providers: one module (or package) per registry type, imported only when that type is used."""

from __future__ import annotations

import importlib

from binderhub_registry.providers.base import Provider

PROVIDERS: dict[str, str] = {
    "generic": "binderhub_registry.providers.generic:GenericProvider",
    "dockerhub": "binderhub_registry.providers.dockerhub:DockerHubProvider",
    "gcr": "binderhub_registry.providers.google:GcrProvider",
    "artifact-registry": "binderhub_registry.providers.google:ArtifactRegistryProvider",
    "harbor": "binderhub_registry.providers.harbor:HarborProvider",
    "ecr": "binderhub_registry.providers.ecr:EcrProvider",
}


def provider_class(registry_type: str) -> type[Provider]:
    module_name, _, class_name = PROVIDERS[registry_type].partition(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]

