"""`render`: print the BinderHub settings (and, when the values carry credentials or the Secret
holds none, keyless Google, the Secret and the pull Secret, unless separate pull credentials are
named) without any cloud or cluster call."""

from __future__ import annotations

import argparse

from binderhub_registry import dockerconfig, state
from binderhub_registry.commands.common import load, secret_name
from binderhub_registry.progress import Progress
from binderhub_registry.render import render, to_yaml


def run(args: argparse.Namespace, progress: Progress) -> int:
    values, provider_type = load(args, progress)
    provider = provider_type(values, progress)
    settings = provider.settings()
    name = secret_name(values)
    credential = provider.values_credential()
    username, password = (credential.username, credential.password) if credential else ("", "")
    keyless = bool(settings.helper_url)  # keyless Google: the Secret holds no credential, so it is known offline
    docker_config = dockerconfig.for_settings(settings, username, password)
    annotations = state.secret_annotations(settings, state.new_fingerprint())
    rendered = render(settings, docker_config, name, args.namespace, annotations)
    documents = rendered.documents() if credential or keyless else [rendered.configmap]
    if (values["registry"].get("pullCredentials") or {}).get("existingSecret"):  # only provision reads them
        documents = [document for document in documents if document is not rendered.pull_secret]
    print(to_yaml(documents), end="")
    if not settings.token_url:
        progress.step("token_url is discovered from the registry by provision; render is offline and leaves it out")
    return 0
