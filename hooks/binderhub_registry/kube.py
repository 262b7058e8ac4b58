"""The Kubernetes writer: reads and server-side-applies the Secret and ConfigMap with the
official client, under its own field manager. Imported only when a command talks to a cluster
(the client takes most of a second to import)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from binderhub_registry.errors import InvalidConfiguration, RegistrySetupError, Unreachable

FIELD_MANAGER = "binderhub-registry"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class KubeWriter:
    def __init__(self, namespace: str | None = None) -> None:
        from kubernetes import client, config  # noqa: PLC0415
        from kubernetes.config.config_exception import ConfigException  # noqa: PLC0415

        try:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config()
                default_namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip() if SERVICE_ACCOUNT_NAMESPACE.exists() else "default"
            else:
                config.load_kube_config()
                _, context = config.list_kube_config_contexts()
                default_namespace = (context or {}).get("context", {}).get("namespace") or "default"
        except (ConfigException, OSError, TypeError) as exc:
            raise InvalidConfiguration(
                f"No Kubernetes cluster to write to ({str(exc).splitlines()[0][:120]}); run in the cluster, set KUBECONFIG, "
                f"or print the objects with --output -."
            ) from None
        self.namespace = namespace or default_namespace
        self._client = client
        self.core = client.CoreV1Api()
        self.apps = client.AppsV1Api()

    # -- reads --------------------------------------------------------------------------

    def read_secret(self, name: str) -> dict[str, Any] | None:
        """The Secret as a plain dict (data values base64-decoded to str), or None if absent."""
        secret = self._call("get", "secrets", name, lambda: self.core.read_namespaced_secret(name, self.namespace), missing_ok=True)
        if secret is None:
            return None
        data = {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}
        return {
            "annotations": dict(secret.metadata.annotations or {}),
            "labels": dict(secret.metadata.labels or {}),
            "data": data,
            "type": secret.type,
        }

    def read_annotations(self, kind: str, name: str) -> dict[str, str]:
        """A ConfigMap's annotations ({} when it does not exist)."""
        assert kind == "ConfigMap"
        configmap = self._call("get", "configmaps", name, lambda: self.core.read_namespaced_config_map(name, self.namespace), missing_ok=True)
        return {} if configmap is None else dict(configmap.metadata.annotations or {})

    # -- writes -------------------------------------------------------------------------

    def apply(self, document: dict[str, Any], field_manager: str = FIELD_MANAGER) -> None:
        """Server-side apply: the object as ``field_manager`` wants it (fields that manager applied
        before and no longer sends are removed; other managers' fields stay)."""
        kind = document["kind"]
        name = document["metadata"]["name"]
        body = {**document, "metadata": {**document["metadata"], "namespace": self.namespace}}
        patch = {"Secret": self.core.patch_namespaced_secret, "ConfigMap": self.core.patch_namespaced_config_map}[kind]
        self._call(
            "patch",
            kind.lower() + "s",
            name,
            lambda: patch(name, self.namespace, body, field_manager=field_manager, force=True, _content_type="application/apply-patch+yaml"),
        )

    def delete(self, kind: str, name: str) -> bool:
        """Delete an object; False when it was already gone."""
        delete = {"Secret": self.core.delete_namespaced_secret, "ConfigMap": self.core.delete_namespaced_config_map}[kind]
        return self._call("delete", kind.lower() + "s", name, lambda: delete(name, self.namespace), missing_ok=True) is not None

    def roll_deployment(self, name: str, annotation: str, value: str) -> str:
        """Set a pod-template annotation of a Deployment, which rolls its pods when the value
        changes: "restarted", "unchanged" (already that value) or "absent"."""
        deployment = self._call("get", "deployments", name, lambda: self.apps.read_namespaced_deployment(name, self.namespace), missing_ok=True)
        if deployment is None:
            return "absent"
        current = (deployment.spec.template.metadata.annotations or {}).get(annotation) if deployment.spec.template.metadata else None
        if current == value:
            return "unchanged"
        patch = {"spec": {"template": {"metadata": {"annotations": {annotation: value}}}}}
        self._call("patch", "deployments", name, lambda: self.apps.patch_namespaced_deployment(name, self.namespace, patch))
        return "restarted"

    # -- errors -------------------------------------------------------------------------

    def _call(self, verb: str, resource: str, name: str, call: Any, missing_ok: bool = False) -> Any:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415
        from urllib3.exceptions import HTTPError  # noqa: PLC0415

        try:
            return call()
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise _api_error(exc, verb, resource, name, self.namespace) from None
        except (HTTPError, OSError) as exc:
            raise Unreachable(
                f"Cannot reach the Kubernetes API to {verb} {resource} {name!r} ({type(exc).__name__}); check the cluster connection."
            ) from None


def _api_error(exc: Any, verb: str, resource: str, name: str, namespace: str) -> RegistrySetupError:
    try:
        message = json.loads(exc.body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        message = exc.reason or ""
    if exc.status == 401:
        return InvalidConfiguration(f"The Kubernetes API rejected the hook's credentials (401) when it tried to {verb} {resource} {name!r}; check the hook's ServiceAccount token.")
    if exc.status == 403:
        return InvalidConfiguration(f"The Kubernetes API forbids the hook to {verb} {resource} {name!r} in namespace {namespace} ({message}); the chart's Role must allow it.")
    if exc.status == 404:
        return InvalidConfiguration(f"Kubernetes answered 404 to {verb} {resource} {name!r} in namespace {namespace} ({message}); check that the namespace exists.")
    if exc.status in (409, 422):
        return InvalidConfiguration(f"Kubernetes refused to {verb} {resource} {name!r} ({exc.status}: {message}).")
    return Unreachable(f"The Kubernetes API answered {exc.status} to {verb} {resource} {name!r} ({message}); try again later.")
