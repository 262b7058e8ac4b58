"""`cleanup`: revoke what this tool created and delete the Secret, the pull Secret and the settings ConfigMap, and
the chart's `helm test` Pod (``--test-pod``: Helm deletes no test hook on uninstall)."""

from __future__ import annotations

import argparse

from binderhub_registry import restart
from binderhub_registry.commands.common import kube_writer, load, secret_name
from binderhub_registry.progress import Progress
from binderhub_registry.settings import pull_secret_name, settings_configmap_name
from binderhub_registry.state import CurrentState


def run(args: argparse.Namespace, progress: Progress) -> int:
    values, provider_type = load(args, progress)
    name = secret_name(values)
    kube = kube_writer(args.namespace, without_cluster="")
    secret, configmap = kube.release_objects(name)
    current = CurrentState.of(secret, configmap, restart.last_change(secret, configmap))
    pull = CurrentState.read(kube.read_secret(pull_secret_name(name)), current.intents)
    provider = provider_type(values, progress, read_secret=kube.secret_data)
    provider.cleanup(current)
    provider.cleanup_pull(pull)
    objects = [("Secret", name), ("Secret", pull_secret_name(name)), ("ConfigMap", settings_configmap_name(name))]
    if args.test_pod:
        objects.append(("Pod", args.test_pod))
    for kind, object_name in objects:
        deleted = kube.delete(kind, object_name)
        progress.step(f"{kind} {object_name}: {'deleted' if deleted else 'already absent'}")
    progress.result(f"Cleaned up the registry credentials of namespace {kube.namespace}")
    return 0
