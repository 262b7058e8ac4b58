"""What several subcommands share: values to provider, output names, cluster access."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.progress import Progress
from binderhub_registry.providers import provider_class
from binderhub_registry.providers.base import CurrentState, InputCredentials, Provider
from binderhub_registry.settings import settings_configmap_name
from binderhub_registry.values import Values, load_values

if TYPE_CHECKING:
    from binderhub_registry.kube import KubeWriter

DEFAULT_SECRET_NAME = "binderhub-registry"
# The keys of registry.existingSecret whose values are secret.
SECRET_KEYS = ("password", "key.json")


def load(args: argparse.Namespace, progress: Progress) -> tuple[Values, Provider]:
    values = load_values(args.values)
    registry_type = values["registry"]["type"]
    progress.step(f"values: registry.type={registry_type}, from {', '.join(args.values)}")
    for section in ("generic", "dockerhub"):
        progress.add_secret(values["registry"].get(section, {}).get("password"))
    return values, provider_class(registry_type)(values, progress)


def secret_name(values: Values) -> str:
    return values.get("output", {}).get("secretName") or DEFAULT_SECRET_NAME


def kube_writer(namespace: str | None) -> KubeWriter:
    from binderhub_registry.kube import KubeWriter  # noqa: PLC0415  (slow import, cluster commands only)

    return KubeWriter(namespace)


def current_state(kube: KubeWriter | None, name: str) -> CurrentState:
    if kube is None:
        return CurrentState()
    intents = {k: v for k, v in kube.read_annotations("ConfigMap", settings_configmap_name(name)).items() if "/intent-" in k}
    secret = kube.read_secret(name)
    if secret is None:
        return CurrentState(intents=intents)
    try:
        docker_config = json.loads(secret["data"].get("config.json") or secret["data"].get(".dockerconfigjson") or "null")
    except ValueError:
        docker_config = None
    return CurrentState(exists=True, annotations=secret["annotations"], docker_config=docker_config, intents=intents)


def input_credentials(kube: KubeWriter | None, values: Values, provider: Provider, progress: Progress) -> InputCredentials | None:
    name = values["registry"].get("existingSecret")
    if not name:
        return None
    if kube is None:
        raise InvalidConfiguration(
            "registry.existingSecret needs cluster access to read it; run without --output or drop registry.existingSecret."
        )
    secret = kube.read_secret(name)
    if secret is None:
        raise InvalidConfiguration(
            f"Secret {name!r} named by registry.existingSecret does not exist in namespace {kube.namespace}; create it or fix the name."
        )
    data = secret["data"]
    # Only these are secret: a username (e.g. `admin`) must stay readable in sentences.
    for key in SECRET_KEYS:
        progress.add_secret(data.get(key))
        progress.add_secret((data.get(key) or "").strip())
    wanted = provider.secret_keys
    if not any(key in data for key in wanted):
        raise InvalidConfiguration(
            f"Secret {name!r} named by registry.existingSecret has no `{wanted[0]}` key (it has: {', '.join(sorted(data)) or 'none'})"
            f"; add one."
        )
    progress.step(f"credentials: from Secret {name!r}")
    return InputCredentials(
        username=data.get("username", "").strip(), password=data.get("password", "").strip(), key_json=data.get("key.json", "")
    )


INTENT_MANAGER = "binderhub-registry-intent"


def connect_cluster(provider: Provider, kube: KubeWriter | None, name: str, record_intents: bool) -> None:
    """Let the provider read Secrets named in values (e.g. an admin key) and keep write-ahead
    notes on the settings ConfigMap under a field manager of their own, so that writing the
    settings never erases them and clearing them never touches the settings."""
    if kube is None:
        return

    def read(secret: str) -> dict[str, str] | None:
        found = kube.read_secret(secret)
        return None if found is None else found["data"]

    def record(notes: dict[str, str]) -> None:
        metadata = {"name": settings_configmap_name(name), **({"annotations": notes} if notes else {})}
        kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}, field_manager=INTENT_MANAGER)

    provider.read_secret = read
    if record_intents:
        provider.record_intent = record
