"""BinderHub's own registry clients for the tests: ``binderhub.registry`` (``DockerRegistry`` and its
subclasses, ``ExternalRegistryHelper``) from BinderHub's wheel in ../shared/upstream-wheels (pure
Python, imported from the zip), on tornado's ``CurlAsyncHTTPClient`` (pycurl), as BinderHub's app
configures it at start (``init_pycurl``). Nothing of BinderHub is re-implemented here; what is ours:

* Configuration: BinderHub makes its registry with ``registry_class(parent=app)``, which hands the
  app's traitlets ``Config`` down; here the class (``BinderHub.registry_class``) is made with the
  binder pod's ``Config`` (tests/binder_pod.py: BinderHub's chart's binderhub_config.py, run).
* The binder pod's files: the registry opens ``docker_config_path`` on this machine, so the pod's
  files are laid out under a temporary directory and that path is taken under it. Two defaults
  BinderHub computes from the environment when it is imported (this process's, not the pod's) are
  computed from the pod's environment instead, the same way: ``docker_config_path``
  (``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``) and ``ExternalRegistryHelper.
  auth_token`` (``$BINDERHUB_CONTAINER_REGISTRY_HELPER_AUTH_TOKEN``).
* The callers of ``get_image_manifest``: the launch's decision (``BuildHandler.get``: 3 attempts,
  an ``HTTPClientError`` is logged and means "not found", anything else fails the request) and
  ``/health``'s registry check (``image_prefix + "some-image-name:12345"``; any exception is
  unhealthy) are inside tornado handlers that need BinderHub's whole app (JupyterHub, Kubernetes),
  so their few lines are here; the image name split is BinderHub's own
  ``builder._get_image_basename_and_tag``, loaded from the wheel's builder.py.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import posixpath
import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from traitlets.config import Config
from traitlets.utils.importstring import import_item

WHEELS = Path(__file__).resolve().parent.parent.parent / "shared" / "upstream-wheels"
DEFAULT_REGISTRY_CLASS = "binderhub.registry.DockerRegistry"
HELPER_TOKEN_ENV = "BINDERHUB_CONTAINER_REGISTRY_HELPER_AUTH_TOKEN"


def binderhub_wheel() -> Path:
    wheels = sorted(WHEELS.glob("binderhub-*.whl")) if WHEELS.is_dir() else []
    if not wheels:
        raise RuntimeError(f"BinderHub's wheel is not in {WHEELS} (see its README)")
    return wheels[-1]


@cache
def binderhub_registry_module() -> Any:
    """``binderhub.registry`` from BinderHub's wheel, with tornado's curl client as BinderHub runs it."""
    if str(binderhub_wheel()) not in sys.path:
        sys.path.insert(0, str(binderhub_wheel()))
    from binderhub import registry  # noqa: PLC0415
    from tornado.httpclient import AsyncHTTPClient  # noqa: PLC0415

    AsyncHTTPClient.configure("tornado.curl_httpclient.CurlAsyncHTTPClient")
    return registry


@cache
def image_basename_and_tag() -> Callable[[str], tuple[str, str]]:
    """BinderHub's ``builder._get_image_basename_and_tag``, from the wheel's builder.py (importing
    the module would need BinderHub's whole app)."""
    with zipfile.ZipFile(binderhub_wheel()) as wheel:
        source = wheel.read("binderhub/builder.py").decode()
    (function,) = [node for node in ast.parse(source).body
                   if isinstance(node, ast.FunctionDef) and node.name == "_get_image_basename_and_tag"]
    namespace: dict[str, Any] = {"re": re}
    exec(compile(ast.Module([function], []), "binderhub/builder.py", "exec"), namespace)  # noqa: S102 (BinderHub's own code)
    return namespace[function.name]  # type: ignore[no-any-return]


def builder_image_name(image_prefix: str, build_slug: str, ref: str) -> str:
    """The image name a launch looks up and builds (``BuildHandler.get``; the slug is taken as it is,
    BinderHub's ``_safe_build_slug`` only shortens and escapes what these tests never give)."""
    return f"{image_prefix}{build_slug}:{ref}".replace("_", "-").lower()


@dataclass
class Lookup:
    """The launch's decision for an image: found or not, and the errors BinderHub logged."""

    found: bool
    errors: list[Exception] = field(default_factory=list)


class BinderHubRegistry:
    """BinderHub's registry as the binder pod makes it from ``config`` (a traitlets ``Config``),
    reading ``files`` (absolute path in the pod -> contents) and ``env`` (the pod's environment).
    Synchronous for the tests: each call runs on this object's own event loop. BinderHub's log
    messages (all levels) are in :attr:`log`."""

    def __init__(self, config: Mapping[str, Any], files: Mapping[str, bytes] | None = None, env: Mapping[str, str] | None = None,
                 route: Callable[[str], str] = lambda url: url) -> None:
        binderhub_registry_module()
        config = config if isinstance(config, Config) else Config(config)
        env = {"HOME": "/root"} if env is None else dict(env)
        self._root = tempfile.TemporaryDirectory(prefix="binder-pod-")
        for path, data in (files or {}).items():
            target = Path(self._root.name) / posixpath.normpath(path).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.log: list[str] = []
        logger = logging.getLogger(f"{__name__}.{id(self)}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(_ListHandler(self.log))
        binderhub = config["BinderHub"] if "BinderHub" in config else {}
        self.registry_class = str(binderhub.get("registry_class", DEFAULT_REGISTRY_CLASS))
        self.image_prefix = str(binderhub.get("image_prefix", ""))
        self.registry = import_item(self.registry_class)(config=config, log=logger)
        self.registry.docker_config_path = self._in_pod(self._configured("docker_config_path", config) or _docker_config_default(env))
        if hasattr(self.registry, "service_url"):
            self.registry.service_url = route(self.registry.service_url)
            if not self._configured("auth_token", config) and HELPER_TOKEN_ENV in env:
                self.registry.auth_token = env[HELPER_TOKEN_ENV]
        self._runner = asyncio.Runner()

    def _configured(self, trait: str, config: Config) -> Any:
        """The value the pod's configuration gives ``trait`` (a subclass's section wins), or None."""
        value = None
        for cls in reversed(type(self.registry).mro()):
            if cls.__name__ in config and trait in config[cls.__name__]:
                value = config[cls.__name__][trait]
        return value

    def _in_pod(self, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"docker_config_path {path!r} is relative; the binder container's working directory is not modelled")
        return str(Path(self._root.name) / posixpath.normpath(path).lstrip("/"))

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return self._runner.run(coroutine)

    def __getattr__(self, name: str) -> Any:
        """The registry's traits (url, token_url, username, password, ...), as BinderHub has them."""
        if name.startswith("_") or "registry" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.registry, name)

    def get_image_manifest(self, image: str, tag: str) -> Any:
        return self.run(self.registry.get_image_manifest(image, tag))

    def get_credentials(self, image: str, tag: str) -> Any:
        return self.run(self.registry.get_credentials(image, tag))

    def image_found(self, image_name: str) -> Lookup:
        """The launch's decision (``BuildHandler.get``) for a full image name."""
        from tornado.httpclient import HTTPClientError  # noqa: PLC0415

        image, tag = image_basename_and_tag()(image_name)
        errors: list[Exception] = []
        for _ in range(3):
            try:
                return Lookup(bool(self.get_image_manifest(image, tag)), errors)
            except HTTPClientError as exc:
                errors.append(exc)
        return Lookup(False, errors)

    def health_check(self) -> bool:
        """``/health``'s "Docker registry" check, one attempt."""
        image, tag = image_basename_and_tag()(self.image_prefix + "some-image-name:12345")
        try:
            self.get_image_manifest(image, tag)
        except Exception as exc:  # noqa: BLE001 (BinderHub's false_if_raises)
            self.log.append(f"health check failed: {exc!r}")
            return False
        return True

    def launch(self, image_name: str) -> tuple[bool, dict[str, str] | None]:
        """What a launch asks before building: is the image there; if not, the push credentials
        the build pod gets (``get_credentials``; None from registries that have none to give)."""
        image, tag = image_basename_and_tag()(image_name)
        found = bool(self.get_image_manifest(image, tag))
        return found, (None if found else self.get_credentials(image, tag))

    def close(self) -> None:
        from tornado.httpclient import AsyncHTTPClient  # noqa: PLC0415

        async def close_http() -> None:
            AsyncHTTPClient().close()

        self._runner.run(close_http())
        self._runner.close()
        self._root.cleanup()

    def __enter__(self) -> BinderHubRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def external_registry_helper(service_url: str, auth_token: str) -> BinderHubRegistry:
    """BinderHub configured for a registry helper: ``ExternalRegistryHelper`` with its URL and token."""
    return BinderHubRegistry({"BinderHub": {"registry_class": "binderhub.registry.ExternalRegistryHelper"},
                              "ExternalRegistryHelper": {"service_url": service_url, "auth_token": auth_token}})


def _docker_config_default(env: Mapping[str, str]) -> str:
    directory = env["DOCKER_CONFIG"] if "DOCKER_CONFIG" in env else posixpath.join(env["HOME"], ".docker")
    return posixpath.join(directory, "config.json")


class _ListHandler(logging.Handler):
    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
