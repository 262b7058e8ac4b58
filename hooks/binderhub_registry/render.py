"""Render the Secret and the settings ConfigMap from the Jinja templates shipped in the package."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from binderhub_registry import dockerconfig
from binderhub_registry.helper_contract import HELPER_TOKEN_SECRET_SUFFIX
from binderhub_registry.settings import (
    RegistrySettings,
    pull_secret_name,
    settings_configmap_name,
)
from binderhub_registry.values import PACKAGE_DIR

if TYPE_CHECKING:
    import jinja2

LABELS = {
    "app.kubernetes.io/managed-by": "binderhub-registry",
    "app.kubernetes.io/name": "binderhub-registry",
}


@dataclass(frozen=True)
class Rendered:
    secret: dict[str, Any]
    configmap: dict[str, Any]
    pull_secret: dict[str, Any]  # what user pods pull with (settings.pull_secret_name)

    def documents(self) -> list[dict[str, Any]]:
        return [self.secret, self.configmap, self.pull_secret]


TEMPLATES = PACKAGE_DIR / "templates"


@cache
def _environment() -> jinja2.Environment:
    """One environment per process, so each template is loaded once."""
    import jinja2  # noqa: PLC0415  (only commands that render need it)

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def binderhub_values(secret_name: str) -> str:
    """The static BinderHub values wiring a BinderHub release to the Secret and its settings: the
    same whatever the registry (BinderHub reads registry.json at start)."""
    return (
        _environment()
        .get_template("binderhub-values.yaml.j2")
        .render(
            secret_name=secret_name,
            settings_name=settings_configmap_name(secret_name),
            pull_secret_name=pull_secret_name(secret_name),
            helper_token_secret_name=secret_name + HELPER_TOKEN_SECRET_SUFFIX,
        )
    )


def render(
    settings: RegistrySettings,
    docker_config: dict[str, Any],
    secret_name: str,
    namespace: str | None,
    annotations: dict[str, str],
    pull: tuple[dict[str, Any], dict[str, str]] | None = None,
) -> Rendered:
    """The Secret holding ``docker_config`` with ``annotations`` (the release state), the settings
    ConfigMap, and the pull Secret holding ``pull`` (docker config, annotations), or, without it,
    the same docker config as the Secret."""
    env = _environment()
    configmap_text = env.get_template("settings-configmap.yaml.j2").render(
        name=settings_configmap_name(secret_name),
        namespace=namespace,
        labels=LABELS,
        binderhub_values=binderhub_values(secret_name),
        registry_json=json.dumps(settings.as_json(secret_name), indent=2) + "\n",
    )
    pull_config, pull_annotations = pull if pull is not None else (docker_config, {})
    return Rendered(
        secret=_secret(secret_name, namespace, docker_config, annotations),
        configmap=yaml.safe_load(configmap_text),
        pull_secret=_secret(pull_secret_name(secret_name), namespace, pull_config, pull_annotations),
    )


def _secret(name: str, namespace: str | None, docker_config: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    config_json = dockerconfig.dumps(docker_config)
    text = _environment().get_template("secret.yaml.j2").render(
        name=name,
        namespace=namespace,
        labels=LABELS,
        annotations=annotations,
        docker_config_b64=base64.b64encode(config_json.encode()).decode(),
    )
    secret: dict[str, Any] = yaml.safe_load(text)
    return secret


class _BlockStyleDumper(yaml.SafeDumper):
    """Dumps multi-line strings (the settings file) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.dump(doc, Dumper=_BlockStyleDumper, sort_keys=False, default_flow_style=False) for doc in documents)
