"""`render`: print the BinderHub settings (and, when the values carry credentials, the Secret)
without any cloud or cluster call."""

from __future__ import annotations

import argparse

from binderhub_registry.commands.common import load, secret_name
from binderhub_registry.progress import Progress
from binderhub_registry.providers.base import Credential
from binderhub_registry.render import render, to_yaml


def run(args: argparse.Namespace, progress: Progress) -> int:
    values, provider = load(args, progress)
    settings = provider.settings()
    name = secret_name(values)
    section = values["registry"].get({"generic": "generic", "dockerhub": "dockerhub"}.get(settings.type, ""), {})
    username, password = section.get("username", ""), section.get("password", "")
    credential = Credential(username=username, password=password) if username and password else None
    rendered = render(settings, credential or Credential("", ""), name, args.namespace, {})
    print(to_yaml(rendered.documents() if credential else [rendered.configmap]), end="")
    if not settings.token_url and settings.type == "generic":
        progress.step("token_url is discovered from the registry by provision; render is offline and leaves it out")
    return 0
