"""What several subcommands share: values to a provider class, output names, cluster access."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from binderhub_registry.progress import Progress
from binderhub_registry.providers import provider_class
from binderhub_registry.providers.base import Provider
from binderhub_registry.values import Values, load_values, secret_values

if TYPE_CHECKING:
    from binderhub_registry.kube import KubeWriter

DEFAULT_SECRET_NAME = "binderhub-registry"


def load(args: argparse.Namespace, progress: Progress) -> tuple[Values, type[Provider]]:
    """The merged, validated values and the provider class of their registry.type."""
    values = load_values(args.values)
    registry_type = values["registry"]["type"]
    for secret in secret_values(values):
        progress.add_secret(secret)
    progress.step(f"values: registry.type={registry_type}, from {', '.join(args.values)}")
    return values, provider_class(registry_type)


def secret_name(values: Values) -> str:
    return values.get("output", {}).get("secretName") or DEFAULT_SECRET_NAME


def kube_writer(namespace: str | None, without_cluster: str = "print the objects with --output -") -> KubeWriter:
    """The cluster connection; ``without_cluster`` ends the sentence when there is none: what
    else the user can do ("print the objects with --output -")."""
    from binderhub_registry.kube import KubeWriter  # noqa: PLC0415  (slow import, cluster commands only)

    return KubeWriter(namespace, without_cluster)

