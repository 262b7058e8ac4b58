"""`check`: prove that a docker config.json (default: the Secret `provision` wrote) lets
BinderHub push, finding the credentials in it exactly the way BinderHub does."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from binderhub_registry import dockerconfig
from binderhub_registry.commands.common import kube_writer, load, secret_name
from binderhub_registry.errors import CredentialsRejected, InvalidConfiguration
from binderhub_registry.helper_contract import read_helper_token
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import Provider


def _read_docker_config(args: argparse.Namespace, name: str) -> tuple[dict[str, Any], str]:
    if args.docker_config:
        path = Path(args.docker_config)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidConfiguration(
                f"Cannot read docker config {path} ({exc.strerror}); pass the config.json to check with --docker-config."
            ) from None
        except UnicodeDecodeError as exc:
            raise InvalidConfiguration(
                f"The docker config in {path} is not UTF-8 text (byte {exc.start + 1} is not); "
                f"pass the config.json BinderHub mounts, or re-run provision."
            ) from None
        where = str(path)
    else:
        kube = kube_writer(args.namespace, "pass the config.json to check with --docker-config")
        secret = kube.read_secret(name)
        if secret is None:
            raise CredentialsRejected(
                f"Secret {name!r} does not exist in namespace {kube.namespace}; run `binderhub-registry provision` (or helm install) first."
            )
        text = secret["data"].get("config.json", "")
        if not text:
            raise CredentialsRejected(f"Secret {name!r} has no config.json key, which BinderHub's build pods mount; re-run provision.")
        where = f"Secret {kube.namespace}/{name}"
    try:
        config = json.loads(text)
    except ValueError:
        raise InvalidConfiguration(f"The docker config in {where} is not valid JSON; re-run provision.") from None
    if not isinstance(config, dict):
        raise InvalidConfiguration(f"The docker config in {where} is not a JSON object; re-run provision.")
    problem = dockerconfig.problem(config)
    if problem is not None:
        raise InvalidConfiguration(f"The docker config in {where} {problem}; fix it or re-run provision.")
    return config, where


def _check_with_helper(args: argparse.Namespace, provider: Provider, progress: Progress) -> int:
    """Keyless Google and ECR: ask the registry helper for credentials as BinderHub does, and push with them."""
    from binderhub_registry import helper_client  # noqa: PLC0415
    from binderhub_registry.oci import RegistryClient  # noqa: PLC0415

    token = read_helper_token(args.registry_helper_token_file)
    progress.add_secret(token)
    credentials = helper_client.credentials_from_helper(args.registry_helper, token, provider.helper_probe())
    settings = provider.settings(provider.helper_discovered(credentials["registry"]))
    progress.add_secret(credentials["password"])
    progress.step(f"registry helper {args.registry_helper}: credentials for {credentials['registry']} as {credentials['username']!r}")
    if credentials["registry"].split("://")[-1].rstrip("/") != settings.host:
        raise CredentialsRejected(
            f"The registry helper hands out credentials for {credentials['registry']}, but BinderHub pushes to {settings.host}; "
            "upgrade the release so both read the same values."
        )
    with RegistryClient(settings.registry_url, credentials["username"], credentials["password"], progress=progress) as client:
        proof = client.prove_push(settings.probe_repository)
    what = f"BinderHub can push to {settings.image_prefix} with the registry helper's short-lived credentials"
    progress.result(what, methods=proof.methods)
    return 0


def run(args: argparse.Namespace, progress: Progress) -> int:
    values, provider_type = load(args, progress)
    provider = provider_type(values, progress)
    if getattr(args, "registry_helper", None):
        return _check_with_helper(args, provider, progress)
    if getattr(provider, "keyless", False):
        raise InvalidConfiguration(
            "With registry.google.credential workload-identity BinderHub has no docker config to check: it asks the registry "
            "helper; check with --registry-helper URL (helm test does)."
        )
    config, where = _read_docker_config(args, secret_name(values))
    # What values leave open may come from the credentials, as provision took it (e.g. a project).
    settings = provider.settings(provider.discovered_in(config))
    key = dockerconfig.binderhub_auth_key(config, settings.registry_url, settings.auth_config_url)
    credentials = dockerconfig.credentials_for(config, settings.registry_url, settings.auth_config_url)
    if key is None or credentials is None:
        keys = ", ".join(sorted((config.get("auths") or {}).keys())) or "none"
        raise CredentialsRejected(
            f"The docker config in {where} has no credentials BinderHub would find for {settings.registry_url} "
            f"(auths keys: {keys}); re-run provision so the key is the registry URL with its scheme."
        )
    username, password = credentials
    progress.add_credentials(username, password)
    progress.step(f"docker config: {where}, auths key {key!r}, user {username!r}")
    summary = provider.prove(username, password)
    progress.result(f"BinderHub can push to {settings.image_prefix} with the credentials in {where}", **summary)
    return 0
