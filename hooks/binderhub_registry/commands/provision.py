"""`provision`: obtain and prove push credentials, then write (or print) the Secret and the
BinderHub settings ConfigMap, and roll the BinderHub Deployments when what they read changed.

Order matters for zero downtime and crash safety: the new credential is created and proven before
the Secret switches to it; the Secret is written before Deployments restart; every step can be
re-run from any state (see state.py for what is kept, providers/google/keys.py for keys,
rotation.py for when to rotate)."""

from __future__ import annotations

import argparse
import os
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binderhub_registry import dockerconfig, state
from binderhub_registry.commands.common import kube_writer, load, secret_name
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.faults import checkpoint
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import PULL_SECRET_VALUE
from binderhub_registry.render import Rendered, render, to_yaml
from binderhub_registry.rotation import RotationPolicy
from binderhub_registry.settings import RegistrySettings, pull_secret_name, settings_configmap_name

if TYPE_CHECKING:
    from binderhub_registry.kube import KubeWriter
    from binderhub_registry.providers.base import Obtained, Provider


def run(args: argparse.Namespace, progress: Progress) -> int:
    values, provider_type = load(args, progress)
    name = secret_name(values)
    applying = args.output is None
    if not applying and provider_type.mints_credentials(values):
        raise InvalidConfiguration(
            f"provision --output with registry.type={provider_type.type} in mode create would mint a key this tool could never reuse "
            f"or revoke; run it without --output so the state lives in the cluster"
            + (", or use registry.google.mode=validate." if provider_type.type != "harbor" else ".")
        )
    kube = None
    if applying:
        kube = kube_writer(args.namespace)
    elif provider_type.needs_cluster(values):
        instead = "give the credentials in values instead of a Secret to read (registry.existingSecret or registry.google.adminKeySecret)"
        kube = kube_writer(args.namespace, instead)
    rotation = RotationPolicy.from_values(values)
    provider = provider_type(
        values,
        progress,
        read_secret=kube.secret_data if kube is not None else None,
        record_intent=partial(kube.record_intent, name) if kube is not None and applying else None,
        rotation=rotation,
    )
    provider.check_pull_values()
    current = kube.release_state(name) if kube is not None and applying else state.CurrentState()
    existing = values["registry"].get("existingSecret")
    # a type without secret_keys reads no credentials from it (ECR: its pods get the keys as environment)
    reads = existing and provider.secret_keys
    given = kube.input_credentials(existing, provider.secret_keys, progress) if kube is not None and reads else None
    obtained = provider.obtain(current, given)
    credential, settings = obtained.credential, obtained.settings
    docker_config = dockerconfig.for_settings(settings, credential.username, credential.password)
    pull = _pull_secret(provider, kube, name, current, settings, rotation, progress, applying)
    how = f" with short-lived tokens from the registry helper {settings.helper_url} (no key)" if settings.helper_url else ""
    fingerprint = state.fingerprint(current, docker_config, settings.binderhub_config(name))
    annotations = state.secret_annotations(settings, fingerprint, credential, (rotation.revision, rotation.trigger))
    namespace = kube.namespace if kube is not None else args.namespace
    rendered = render(settings, docker_config, name, namespace, annotations, pull)

    restarted: list[str] = []
    if args.output:
        where = _print(rendered, args.output)
    else:
        assert kube is not None
        where = f"applied in namespace {kube.namespace}"
        restarted = _apply(kube, rendered, obtained, fingerprint, current, values.get("restart") or {}, progress)
    progress.result(
        f"Secret {name} and ConfigMap {settings_configmap_name(name)} {where}; BinderHub pushes to {settings.image_prefix}{how}"
        + (f"; restarted {', '.join(restarted)}" if restarted else ""),
        secret=name,
        imagePrefix=settings.image_prefix,
        registry=settings.registry_url,
        credentialId=credential.credential_id,
        previousCredentialId=credential.previous_credential_id or None,
        fingerprint=fingerprint,
        restarted=restarted,
    )
    return 0


def _pull_secret(
    provider: Provider,
    kube: KubeWriter | None,
    name: str,
    current: state.CurrentState,
    settings: RegistrySettings,
    rotation: RotationPolicy,
    progress: Progress,
    applying: bool,
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The docker config and annotations of the pull Secret, when user pods pull with credentials
    of their own (pull-only, proven); None: they pull with the push credential."""
    pull_name = pull_secret_name(name)
    existing = (provider.values.get("registry", {}).get("pullCredentials") or {}).get("existingSecret")
    given = kube.input_credentials(existing, ("password",), progress, value=PULL_SECRET_VALUE) if kube is not None and existing else None
    found = kube.read_secret(pull_name) if kube is not None and applying else None
    pull_current = state.CurrentState.read(found, current.intents)
    credential = provider.obtain_pull(pull_current, given)
    progress.step(f"Secret {pull_name}: {provider.pull_description(credential)}")
    if credential is None:
        return None
    # the pull Secret always names its registry, also where BinderHub asks the helper (ECR)
    docker_config = dockerconfig.build(settings.auth_key, credential.username, credential.password)
    return docker_config, state.secret_annotations(settings, "", credential, (rotation.revision, rotation.trigger))


def _print(rendered: Rendered, output: str) -> str:
    """Print the objects on stdout (-) or write them to a directory; where they went."""
    if output == "-":
        print(to_yaml(rendered.documents()), end="")
        return "printed on stdout"
    directory = Path(output)
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, secret in (("secret.yaml", rendered.secret), ("pull-secret.yaml", rendered.pull_secret)):
        secret_path = directory / file_name
        secret_path.touch(mode=0o600)
        os.chmod(secret_path, 0o600)
        secret_path.write_text(to_yaml([secret]))
    (directory / "settings-configmap.yaml").write_text(to_yaml([rendered.configmap]))
    return f"written to {directory}/"


def _apply(
    kube: KubeWriter,
    rendered: Rendered,
    obtained: Obtained,
    fingerprint: str,
    current: state.CurrentState,
    restart: dict[str, Any],
    progress: Progress,
) -> list[str]:
    """Write the Secret and the settings, let the provider finish the switch, roll BinderHub
    (``current``: the state read before this run wrote); the Deployments restarted."""
    checkpoint("before-secret-written")
    kube.apply(rendered.pull_secret)
    kube.apply(rendered.secret)
    kube.apply(rendered.configmap)
    checkpoint("after-secret-written")
    obtained.after_switch()
    restarted = []
    for deployment in restart.get("deployments") or []:
        outcome = kube.roll_deployment(deployment, fingerprint, current)
        progress.step(
            {
                "restarted": f"Deployment {deployment}: restarted to read the new credential or settings",
                "unchanged": f"Deployment {deployment}: already runs with this credential and settings",
                "started-after": f"Deployment {deployment}: already runs with this credential and settings "
                f"(created after they last changed), not restarted",
                "absent": f"Deployment {deployment}: not found in namespace {kube.namespace}, nothing to restart",
            }[outcome]
        )
        if outcome == "restarted":
            restarted.append(deployment)
    return restarted
