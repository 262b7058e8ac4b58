"""`serve`: run the registry helper BinderHub's ExternalRegistryHelper asks for repositories,
images and short-lived push credentials (registry.google.credential workload-identity, ECR); with
ECR's registry.ecr.pullSecret helper (``--pull-secret``) also the pull Secret's token."""

from __future__ import annotations

import argparse
from functools import partial
from typing import TYPE_CHECKING

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.helper_contract import read_helper_token
from binderhub_registry.progress import Progress
from binderhub_registry.values import load_values

if TYPE_CHECKING:
    from binderhub_registry.helper_service.pull_secret import Apply


def run(args: argparse.Namespace, progress: Progress) -> int:
    from binderhub_registry.helper_service import config as helper_config  # noqa: PLC0415
    from binderhub_registry.helper_service.app import HelperApp  # noqa: PLC0415

    try:
        from binderhub_registry.helper_service.server import bind, serve  # noqa: PLC0415
    except ImportError as exc:
        raise InvalidConfiguration(
            f"`serve` needs the helper extra ({exc.name} is missing); install binderhub-registry[helper] (the image does)."
        ) from None

    values = load_values(args.values)
    if args.pull_secret and values["registry"].get("type") != "ecr":
        raise InvalidConfiguration("--pull-secret keeps an ECR token in the pull Secret and needs registry.type ecr; leave it out.")
    config = helper_config.from_values(values)
    token = read_helper_token(args.auth_token_file)
    pull_secret = _pull_secret(args.pull_secret, args.namespace)
    progress.step(f"serving {config.registry_host}/{config.image_path}* for BinderHub on {args.listen}")
    sock = bind(args.listen)
    app = HelperApp(config, token, pull_secret=pull_secret)
    return serve(app, sock, drain_seconds=args.drain_seconds, graceful_seconds=args.graceful_seconds)


def _pull_secret(name: str, namespace: str | None) -> tuple[str, Apply] | None:
    """--pull-secret: the Secret's name and how the helper writes it (in the pod's namespace)."""
    if not name:
        return None
    from binderhub_registry.helper_service.pull_secret import FIELD_MANAGER  # noqa: PLC0415
    from binderhub_registry.kube import KubeWriter  # noqa: PLC0415

    kube = KubeWriter(namespace, without_cluster="", who="the registry helper")
    return name, partial(kube.apply, field_manager=FIELD_MANAGER)
