"""`provision`: obtain and prove push credentials, then write (or print) the Secret and the
BinderHub settings ConfigMap, and roll the BinderHub Deployments when the credential changed.

Order matters for zero downtime and crash safety: the new credential is created and proven before
the Secret switches to it; the Secret is written before Deployments restart; every step can be
re-run from any state (see providers/google.py for keys, rotation.py for when to rotate)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from binderhub_registry import dockerconfig
from binderhub_registry.commands.common import (
    connect_cluster,
    current_state,
    input_credentials,
    kube_writer,
    load,
    secret_name,
)
from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.faults import checkpoint
from binderhub_registry.progress import Progress
from binderhub_registry.render import ANNOTATION_PREFIX, render, to_yaml
from binderhub_registry.rotation import RotationPolicy, now_text
from binderhub_registry.settings import settings_configmap_name

RESTART_ANNOTATION = ANNOTATION_PREFIX + "credential-fingerprint"


def run(args: argparse.Namespace, progress: Progress) -> int:
    values, provider = load(args, progress)
    provider.rotation = RotationPolicy.from_values(values)
    name = secret_name(values)
    applying = args.output is None
    if not applying and provider.mints_credentials():
        raise InvalidConfiguration(
            f"provision --output with registry.type={provider.type} in mode create would mint a key this tool could never reuse "
            f"or revoke; run it without --output so the state lives in the cluster, or use registry.google.mode=validate."
        )
    kube = kube_writer(args.namespace) if applying or provider.needs_cluster() else None
    connect_cluster(provider, kube, name, record_intents=applying)
    current = current_state(kube if applying else None, name)
    given = input_credentials(kube, values, provider, progress)
    credential = provider.obtain(current, given)
    settings = provider.settings()
    state = {
        "credential-id": credential.credential_id,
        "created-at": credential.created_at or now_text(),
        "previous-credential-id": credential.previous_credential_id,
        "credential-origin": credential.origin,
        **provider.rotation.state(),
    }
    namespace = kube.namespace if kube is not None else args.namespace
    unchanged = current.docker_config == dockerconfig.build(settings.auth_key, credential.username, credential.password)
    state["fingerprint"] = (
        current.annotation("fingerprint") if unchanged and current.annotation("fingerprint") else dockerconfig.new_fingerprint()
    )
    rendered = render(settings, credential, name, namespace, state)
    fingerprint = rendered.secret["metadata"]["annotations"][ANNOTATION_PREFIX + "fingerprint"]

    restarted: list[str] = []
    if args.output == "-":
        print(to_yaml(rendered.documents()), end="")
        where = "printed on stdout"
    elif args.output:
        directory = Path(args.output)
        directory.mkdir(parents=True, exist_ok=True)
        secret_path = directory / "secret.yaml"
        secret_path.touch(mode=0o600)
        os.chmod(secret_path, 0o600)
        secret_path.write_text(to_yaml([rendered.secret]))
        (directory / "settings-configmap.yaml").write_text(to_yaml([rendered.configmap]))
        where = f"written to {directory}/"
    else:
        assert kube is not None
        kube.apply(rendered.secret)
        kube.apply(rendered.configmap)
        checkpoint("after-secret-written")
        provider.after_switch(credential, current)
        where = f"applied in namespace {kube.namespace}"
        for deployment in (values.get("restart") or {}).get("deployments") or []:
            outcome = kube.roll_deployment(deployment, RESTART_ANNOTATION, fingerprint)
            progress.step(
                {
                    "restarted": f"Deployment {deployment}: restarted to read the new credential",
                    "unchanged": f"Deployment {deployment}: already runs with this credential",
                    "absent": f"Deployment {deployment}: not found in namespace {kube.namespace}, nothing to restart",
                }[outcome]
            )
            if outcome == "restarted":
                restarted.append(deployment)
    progress.result(
        f"Secret {name} and ConfigMap {settings_configmap_name(name)} {where}; BinderHub pushes to {settings.image_prefix}"
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
