"""What several subcommands share: values to provider, output names, cluster access."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.progress import Progress
from binderhub_registry.providers import provider_class
from binderhub_registry.providers.base import CurrentState, InputCredentials, Provider
from binderhub_registry.values import Values, load_values

if TYPE_CHECKING:
    from binderhub_registry.kube import KubeWriter

DEFAULT_SECRET_NAME = "binderhub-registry"


def load(args: argparse.Namespace, progress: Progress) -> tuple[Values, Provider]:
    values = load_values(args.values)
    registry_type = values["registry"]["type"]
    progress.step(f"values: registry.type={registry_type}, from {', '.join(args.values)}")
    for key in ("password",):
        for section in ("generic", "dockerhub"):
            progress.add_secret(values["registry"].get(section, {}).get(key))
    return values, provider_class(registry_type)(values, progress)


def secret_name(values: Values) -> str:
    return values.get("output", {}).get("secretName") or DEFAULT_SECRET_NAME


def kube_writer(namespace: str | None) -> KubeWriter:
    from binderhub_registry.kube import KubeWriter  # noqa: PLC0415  (slow import, cluster commands only)

    return KubeWriter(namespace)


def current_state(kube: KubeWriter | None, name: str) -> CurrentState:
    if kube is None:
        return CurrentState()
    secret = kube.read_secret(name)
    if secret is None:
        return CurrentState()
    import json  # noqa: PLC0415

    try:
        docker_config = json.loads(secret["data"].get("config.json") or secret["data"].get(".dockerconfigjson") or "null")
    except ValueError:
        docker_config = None
    return CurrentState(exists=True, annotations=secret["annotations"], docker_config=docker_config)


def input_credentials(kube: KubeWriter | None, values: Values, provider: Provider, progress: Progress) -> InputCredentials | None:
    name = values["registry"].get("existingSecret")
    if not name:
        return None
    if kube is None:
        raise InvalidConfiguration("registry.existingSecret needs cluster access to read it; run without --output or drop registry.existingSecret.")
    secret = kube.read_secret(name)
    if secret is None:
        raise InvalidConfiguration(
            f"Secret {name!r} named by registry.existingSecret does not exist in namespace {kube.namespace}; create it or fix the name."
        )
    data = secret["data"]
    for value in data.values():
        progress.add_secret(value)
    wanted = provider.secret_keys
    if not any(key in data for key in wanted):
        raise InvalidConfiguration(
            f"Secret {name!r} named by registry.existingSecret has no `{wanted[0]}` key (it has: {', '.join(sorted(data)) or 'none'}); add one."
        )
    progress.step(f"credentials: from Secret {name!r}")
    return InputCredentials(
        username=data.get("username", "").strip(), password=data.get("password", "").strip(), key_json=data.get("key.json", "")
    )


def connect_secrets(provider: Provider, kube: KubeWriter | None) -> None:
    """Let the provider read Secrets it is told about in values (e.g. an admin key)."""
    if kube is None:
        return

    def read(name: str) -> dict[str, str] | None:
        secret = kube.read_secret(name)
        return None if secret is None else secret["data"]

    provider.read_secret = read
