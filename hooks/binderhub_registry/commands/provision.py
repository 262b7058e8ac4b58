"""`provision`: obtain and prove push credentials, then write (or print) the Secret and the
BinderHub settings ConfigMap, and roll the BinderHub Deployments when what they read changed.

Order matters for zero downtime and crash safety: the new credential is created and proven before
the Secret switches to it; the Secret is written before Deployments restart; every step can be
re-run from any state (see state.py for what is kept, providers/google/keys.py for keys,
rotation.py for when to rotate)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from binderhub_registry import dockerconfig, restart, state
from binderhub_registry.commands.common import kube_writer, load, secret_name
from binderhub_registry.credentials import InputCredentials
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.faults import checkpoint
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import PULL_SECRET_VALUE
from binderhub_registry.render import Rendered, render, to_yaml
from binderhub_registry.rotation import RotationPolicy
from binderhub_registry.settings import RegistrySettings, pull_secret_name, settings_configmap_name
from binderhub_registry.values import Values

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
    rotation = RotationPolicy.from_values(values)
    # Read: everything of the cluster the run decides on, before anything is obtained or written.
    kube = _cluster(args.namespace, provider_type, values, applying)
    found = _read(kube, provider_type, name, values, progress, applying) if kube is not None else ClusterReads()
    current = found.current
    # Decide: the credentials (the providers), what to write and which Deployments to restart.
    provider = provider_type(
        values,
        progress,
        read_secret=kube.secret_data if kube is not None else None,
        record_intent=partial(kube.record_intent, name) if kube is not None and applying else None,
        rotation=rotation,
    )
    provider.check_pull_values()
    obtained = provider.obtain(current, found.given)
    credential, settings = obtained.credential, obtained.settings
    docker_config = dockerconfig.for_settings(settings, credential.username, credential.password)
    pull = _pull_secret(provider, found, settings, rotation, progress)
    how = f" with short-lived tokens from the registry helper {settings.helper_url} (no key)" if settings.helper_url else ""
    fingerprint = state.fingerprint(current, docker_config, settings.binderhub_config(name))
    annotations = state.secret_annotations(settings, fingerprint, credential, (rotation.revision, rotation.trigger))
    namespace = kube.namespace if kube is not None else args.namespace
    rendered = render(settings, docker_config, name, namespace, annotations, pull)
    decisions: dict[str, Decision] = {
        deployment: restart.decide(read, fingerprint, current) if read is not None else "absent"
        for deployment, read in found.deployments.items()
    }

    restarted: list[str] = []
    if args.output:
        where = _print(rendered, args.output)
    else:
        assert kube is not None
        where = f"applied in namespace {kube.namespace}"
        restarted = _apply(kube, rendered, obtained, fingerprint, decisions, progress)
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


# What becomes of a Deployment named in restart.deployments.
Decision = restart.Decision | Literal["absent"]


def _cluster(namespace: str | None, provider_type: type[Provider], values: Values, applying: bool) -> KubeWriter | None:
    """The cluster connection when applying or when values name Secrets to read; else None."""
    if applying:
        return kube_writer(namespace)
    if provider_type.needs_cluster(values):
        instead = "give the credentials in values instead of a Secret to read (registry.existingSecret or registry.google.adminKeySecret)"
        return kube_writer(namespace, instead)
    return None


@dataclass(frozen=True)
class ClusterReads:
    """What a run reads of the cluster before it decides anything."""

    current: state.CurrentState = field(default_factory=state.CurrentState)  # the release state
    given: InputCredentials | None = None  # registry.existingSecret's credentials
    pull_given: InputCredentials | None = None  # registry.pullCredentials.existingSecret's
    pull_current: state.CurrentState = field(default_factory=state.CurrentState)  # the pull Secret's state
    deployments: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # restart.deployments (None: absent)


def _read(kube: KubeWriter, provider_type: type[Provider], name: str, values: Values, progress: Progress,
          applying: bool) -> ClusterReads:
    """The Secrets values name and, when ``applying``, the release state (the output Secret and
    its settings ConfigMap, and when either last changed), the pull Secret and the BinderHub
    Deployments to restart: every read first, then what they mean."""
    secret, configmap = kube.release_objects(name) if applying else (None, None)
    existing = values["registry"].get("existingSecret")
    # a type without secret_keys reads no credentials from it (ECR: its pods get the keys as environment)
    reads = existing and provider_type.secret_keys
    given = kube.input_credentials(existing, provider_type.secret_keys, progress) if reads else None
    # (a type that takes none refuses the value once built, with its own sentence)
    pull_existing = provider_type.takes_pull_credentials and (values["registry"].get("pullCredentials") or {}).get("existingSecret")
    pull_given = kube.input_credentials(pull_existing, ("password",), progress, value=PULL_SECRET_VALUE) if pull_existing else None
    pull_secret = kube.read_secret(pull_secret_name(name)) if applying else None
    restarts = (values.get("restart") or {}).get("deployments") or [] if applying else []
    deployments = {deployment: kube.read_deployment(deployment) for deployment in restarts}
    current = state.CurrentState.of(secret, configmap, restart.last_change(secret, configmap))
    return ClusterReads(current, given, pull_given, state.CurrentState.read(pull_secret, current.intents), deployments)


def _pull_secret(
    provider: Provider,
    found: ClusterReads,
    settings: RegistrySettings,
    rotation: RotationPolicy,
    progress: Progress,
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The docker config and annotations of the pull Secret, when user pods pull with credentials
    of their own (pull-only, proven); None: they pull with the push credential."""
    pull_name = pull_secret_name(secret_name(provider.values))
    credential = provider.obtain_pull(found.pull_current, found.pull_given)
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
    decisions: dict[str, Decision],
    progress: Progress,
) -> list[str]:
    """Write the Secret and the settings, roll BinderHub as ``decisions`` say, let the provider
    finish the switch; the Deployments restarted."""
    checkpoint("before-secret-written")
    kube.apply(rendered.pull_secret)
    kube.apply(rendered.secret)
    kube.apply(rendered.configmap)
    checkpoint("after-secret-written")
    restarted = []
    for deployment, decision in decisions.items():
        if decision in ("note", "restart"):
            kube.mark_deployment(deployment, fingerprint, roll=decision == "restart")
        progress.step(
            {
                "restart": f"Deployment {deployment}: restarted to read the new credential or settings",
                "unchanged": f"Deployment {deployment}: already runs with this credential and settings",
                "note": f"Deployment {deployment}: already runs with this credential and settings "
                f"(created after they last changed), not restarted",
                "absent": f"Deployment {deployment}: not found in namespace {kube.namespace}, nothing to restart",
            }[decision]
        )
        if decision == "restart":
            restarted.append(deployment)
    obtained.after_switch()
    return restarted
