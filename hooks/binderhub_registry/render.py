"""Render the Secret and the settings ConfigMap from the Jinja templates shipped in the package."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from binderhub_registry import dockerconfig
from binderhub_registry.settings import (
    BINDER_SETTINGS_DIR,
    RegistrySettings,
    pull_secret_name,
    settings_configmap_name,
)
from binderhub_registry.values import PACKAGE_DIR, load_yaml

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
# The templates compiled by compile_templates() at build time (the image's build runs it, as it
# compiles the modules' bytecode): a start then loads them (0.5 ms) instead of compiling them (15 ms).
# Jinja checks each entry against the template's source and its own version, so a stale entry is
# compiled again, never used; runs never write here (the image's root filesystem is read-only).
TEMPLATE_CACHE = TEMPLATES / "__jinja_cache__"


@cache
def _environment() -> jinja2.Environment:
    """One environment per process, so each template is loaded once."""
    import jinja2  # noqa: PLC0415  (only commands that render need it)

    class CompiledAtBuild(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            """Runs only read the build's entries."""

    return _new_environment(CompiledAtBuild(str(TEMPLATE_CACHE)))


def _new_environment(bytecode_cache: jinja2.BytecodeCache) -> jinja2.Environment:
    import jinja2  # noqa: PLC0415

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        bytecode_cache=bytecode_cache,
    )


def compile_templates() -> list[str]:
    """Compile every template into TEMPLATE_CACHE (at build time); the names compiled."""
    import jinja2  # noqa: PLC0415

    TEMPLATE_CACHE.mkdir(exist_ok=True)
    environment = _new_environment(jinja2.FileSystemBytecodeCache(str(TEMPLATE_CACHE)))
    names = sorted(path.name for path in TEMPLATES.glob("*.j2"))
    for name in names:
        environment.get_template(name)
    for entry in TEMPLATE_CACHE.iterdir():  # Jinja writes them private (0600); the hook runs as another user
        entry.chmod(0o644)
    return names


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
            settings_dir=BINDER_SETTINGS_DIR,
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
        configmap=load_yaml(configmap_text),
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
    secret: dict[str, Any] = load_yaml(text)
    return secret


SAFE_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when available, as for loading


class _BlockStyleDumper(SAFE_DUMPER):  # type: ignore[misc]
    """Dumps multi-line strings (the settings file) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:  # the C dumper has the same representer methods
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)


def to_yaml(documents: list[dict[str, Any]]) -> str:
    return "".join("---\n" + yaml.dump(doc, Dumper=_BlockStyleDumper, sort_keys=False, default_flow_style=False) for doc in documents)
