"""`provision`: obtain and prove push credentials, then write (or print) the Secret and the
BinderHub settings ConfigMap."""

from __future__ import annotations

import argparse
import os
from datetime import datetime, timezone
from pathlib import Path

from binderhub_registry.commands.common import connect_secrets, current_state, input_credentials, kube_writer, load, secret_name
from binderhub_registry.progress import Progress
from binderhub_registry.render import render, settings_configmap_name, to_yaml


def run(args: argparse.Namespace, progress: Progress) -> int:
    values, provider = load(args, progress)
    name = secret_name(values)
    applying = args.output is None
    kube = kube_writer(args.namespace) if applying or provider.needs_cluster() else None
    connect_secrets(provider, kube)
    current = current_state(kube if applying else None, name)
    given = input_credentials(kube, values, provider, progress)
    credential = provider.obtain(current, given)
    settings = provider.settings()
    state = {
        "credential-id": credential.credential_id,
        "created-at": credential.created_at or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "previous-credential-id": credential.previous_credential_id,
    }
    namespace = kube.namespace if kube is not None else args.namespace
    rendered = render(settings, credential, name, namespace, state)

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
        provider.after_switch(credential, current)
        where = f"applied in namespace {kube.namespace}"
    progress.result(
        f"Secret {name} and ConfigMap {settings_configmap_name(name)} {where}; BinderHub pushes to {settings.image_prefix}",
        secret=name,
        imagePrefix=settings.image_prefix,
        registry=settings.registry_url,
        credentialId=credential.credential_id,
        fingerprint=rendered.secret["metadata"]["annotations"].get("binderhub-registry.jupyter.org/fingerprint"),
    )
    return 0
