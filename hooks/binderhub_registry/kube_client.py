"""The official Kubernetes client's lower layer, without its generated API.

``import kubernetes`` runs ``kubernetes/__init__.py``, which imports ``kubernetes.client``, whose
``__init__`` imports every generated API class and every pydantic model (about 0.3 s and 35 MiB
with kubernetes 37): more than all the rest of a provision. The hook needs none of that, only the
parts below it, which are plain modules: ``kubernetes.config`` (kubeconfig and in-cluster loading,
exec and OIDC plugins, token refresh), ``kubernetes.client.configuration`` and
``kubernetes.client.rest`` (urllib3 with the loaded TLS, proxy and retry settings) and
``kubernetes.client.exceptions``.

So, when ``kubernetes`` is not imported yet, its packages ``kubernetes``, ``kubernetes.client``,
``kubernetes.utils`` and ``kubernetes.config`` are registered *deferred*: module objects with the real ``__path__``
(so their submodules import as usual) whose ``__init__`` runs only when an attribute is missing
(``from kubernetes.client import CoreV1Api`` still works, at the usual cost).
``kubernetes.client`` gets ``Configuration`` and a deferred ``ApiClient`` up front, the two names
``kubernetes.config`` imports from it (``ApiClient`` is only called for OIDC token refresh). In a
pod only the in-cluster loader is imported; the kubeconfig loader only outside one, and the
libraries of its OIDC and GCP auth-provider plugins (requests-oauthlib, oauthlib, google-auth) are
deferred the same way until a kubeconfig uses them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Any

DEFERRED_PACKAGES = ("kubernetes", "kubernetes.client", "kubernetes.utils", "kubernetes.config")


def _deferred(name: str, **ready: Any) -> ModuleType:
    """The module or package ``name`` registered (packages with their real ``__path__``) with its
    code not run until an attribute it lacks is read; ``ready``: attributes it has until then."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"{name} is not installed")
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    ran = False

    def run(attribute: str) -> Any:
        nonlocal ran
        if ran:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
        ran = True
        del module.__dict__["__getattr__"]
        loader.exec_module(module)
        return getattr(module, attribute)

    module.__dict__.update(ready, __getattr__=run)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


def _defer_plugins() -> list[ModuleType]:
    """The kubeconfig loader imports its auth plugins' libraries up front (requests-oauthlib and
    oauthlib for OIDC, google-auth for the GCP auth-provider): defer them until a kubeconfig uses
    one. The modules given a stand-in ``OAuth2Session`` (for the loader's from-import)."""
    with_stand_in = []
    if "requests_oauthlib" not in sys.modules:
        oauth2_session = _run_on_call("requests_oauthlib", "OAuth2Session")
        with_stand_in.append(_deferred("requests_oauthlib", OAuth2Session=oauth2_session))
    for name in ("oauthlib", "oauthlib.oauth2", "google.auth", "google.auth.transport", "google.auth.transport.requests"):
        if name not in sys.modules and _installed(name):  # (finding one imports its parents: `google`, or deferred ones)
            _deferred(name)
    return with_stand_in


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def _run_on_call(module_name: str, attribute: str) -> Any:
    """A stand-in for ``module_name.attribute`` that runs the deferred module when called."""

    def call(*args: Any, **kwargs: Any) -> Any:
        # load() removed the stand-in from the module, so this reads the real one (running the module)
        return getattr(sys.modules[module_name], attribute)(*args, **kwargs)

    return call


def _api_client(*args: Any, **kwargs: Any) -> Any:
    from kubernetes.client.api_client import ApiClient  # noqa: PLC0415  (the generated layer, only if called)

    return ApiClient(*args, **kwargs)


def load(in_cluster: bool) -> tuple[ModuleType, ModuleType, ModuleType, ModuleType, type[Exception]]:
    """The loader (``kubernetes.config.incluster_config`` or ``kubernetes.config.kube_config``),
    ``kubernetes.client.configuration``, ``kubernetes.client.rest``, ``kubernetes.client.exceptions``
    and the loaders' ``ConfigException``, importing nothing generated when ``kubernetes`` is new."""
    if "kubernetes" not in sys.modules:
        for name in DEFERRED_PACKAGES:
            _deferred(name)
        client = sys.modules["kubernetes.client"]
        client.Configuration = importlib.import_module("kubernetes.client.configuration").Configuration  # type: ignore[attr-defined]
        client.ApiClient = _api_client  # type: ignore[attr-defined]
    if not in_cluster and "kubernetes.config.kube_config" not in sys.modules:
        with_stand_in = _defer_plugins()
        importlib.import_module("kubernetes.config.kube_config")
        for module in with_stand_in:  # only kube_config holds the stand-in; later importers get the real class
            vars(module).pop("OAuth2Session", None)
    return (
        importlib.import_module("kubernetes.config.incluster_config" if in_cluster else "kubernetes.config.kube_config"),
        importlib.import_module("kubernetes.client.configuration"),
        importlib.import_module("kubernetes.client.rest"),
        importlib.import_module("kubernetes.client.exceptions"),
        importlib.import_module("kubernetes.config.config_exception").ConfigException,
    )
