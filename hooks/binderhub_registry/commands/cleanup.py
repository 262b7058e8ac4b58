"""`cleanup`: revoke what this tool created and delete the Secret and the settings ConfigMap."""

from __future__ import annotations

import argparse

from binderhub_registry.commands.common import (
    connect_cluster,
    current_state,
    kube_writer,
    load,
    secret_name,
)
from binderhub_registry.progress import Progress
from binderhub_registry.settings import settings_configmap_name


def run(args: argparse.Namespace, progress: Progress) -> int:
    values, provider = load(args, progress)
    name = secret_name(values)
    kube = kube_writer(args.namespace)
    connect_cluster(provider, kube, name, record_intents=False)
    current = current_state(kube, name)
    provider.cleanup(current)
    for kind, object_name in (("Secret", name), ("ConfigMap", settings_configmap_name(name))):
        deleted = kube.delete(kind, object_name)
        progress.step(f"{kind} {object_name}: {'deleted' if deleted else 'already absent'}")
    progress.result(f"Cleaned up the registry credentials of namespace {kube.namespace}")
    return 0
