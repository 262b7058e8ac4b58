"""`serve`: run the registry helper BinderHub's ExternalRegistryHelper asks for repositories,
images and short-lived push credentials (registry.google.credential workload-identity)."""

from __future__ import annotations

import argparse

from binderhub_registry.errors import InvalidConfiguration
from binderhub_registry.helper_contract import read_helper_token
from binderhub_registry.progress import Progress
from binderhub_registry.values import load_values


def run(args: argparse.Namespace, progress: Progress) -> int:
    from binderhub_registry.helper_service import config as helper_config  # noqa: PLC0415
    from binderhub_registry.helper_service.app import HelperApp  # noqa: PLC0415

    try:
        from binderhub_registry.helper_service.server import bind, serve  # noqa: PLC0415
    except ImportError as exc:
        raise InvalidConfiguration(
            f"`serve` needs the helper extra ({exc.name} is missing); install binderhub-registry[helper] (the image does)."
        ) from None

    config = helper_config.from_values(load_values(args.values))
    token = read_helper_token(args.auth_token_file)
    progress.step(f"serving {config.registry_host}/{config.image_path}* for BinderHub on {args.listen}")
    sock = bind(args.listen)
    return serve(HelperApp(config, token), sock, drain_seconds=args.drain_seconds, graceful_seconds=args.graceful_seconds)
