"""The Kubernetes writer, the one module that talks to the cluster, and only I/O: reads the
objects of the release state and the Secrets named in values, server-side-applies the Secret and
ConfigMap with the official client under its own field manager (the write-ahead notes under
theirs), deletes them, and reads and annotates the BinderHub Deployments. What the objects mean
(state.py) and whether a Deployment restarts (restart.py) is decided by the caller
(commands/). Imported only when a command talks to a cluster.

It makes its six REST calls (read, server-side apply and delete of a Secret or ConfigMap; read
and strategic-merge patch of a Deployment) through the official client's lower layer
(kube_client.py): ``kubernetes.config`` loads the kubeconfig or the in-cluster account into the
client's ``Configuration`` and ``kubernetes.client.rest`` sends the requests with its TLS, proxy
and retry settings, with the paths, query and bearer token the generated methods would use. It
never imports the generated API classes (``CoreV1Api``, ``AppsV1Api``) nor any model, which cost
more than all the rest of a provision: responses are JSON dicts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from binderhub_registry.credentials import SECRET_NAMES, InputCredentials
from binderhub_registry.errors import (
    InvalidConfiguration,
    RegistrySetupError,
    Unreachable,
)
from binderhub_registry.progress import Progress
from binderhub_registry.settings import settings_configmap_name
from binderhub_registry.state import DEPLOYMENT_FINGERPRINT, INTENT_FIELD_MANAGER, decoded_secret

FIELD_MANAGER = "binderhub-registry"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

APPLY_PATCH = "application/apply-patch+yaml"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
# the paths of the generated methods (read/patch/delete_namespaced_secret, ..._config_map, ..._deployment)
PATHS = {
    "secrets": "/api/v1/namespaces/{namespace}/secrets/{name}",
    "configmaps": "/api/v1/namespaces/{namespace}/configmaps/{name}",
    "pods": "/api/v1/namespaces/{namespace}/pods/{name}",
    "deployments": "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
}
RESOURCES = {"Secret": "secrets", "ConfigMap": "configmaps", "Pod": "pods"}


class KubeWriter:
    def __init__(
        self, namespace: str | None = None, without_cluster: str = "print the objects with --output -", who: str = "the hook"
    ) -> None:
        """``without_cluster``: what the user can do instead when no cluster is configured; ``who``
        calls, for the sentences of refusals."""
        from binderhub_registry import kube_client  # noqa: PLC0415

        in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        config, configuration, rest, exceptions, config_exception = kube_client.load(in_cluster)
        try:
            if in_cluster:
                config.load_incluster_config()
                default_namespace = SERVICE_ACCOUNT_NAMESPACE.read_text().strip() if SERVICE_ACCOUNT_NAMESPACE.exists() else "default"
            else:
                config.load_kube_config()
                _, context = config.list_kube_config_contexts()
                default_namespace = (context or {}).get("context", {}).get("namespace") or "default"
        except (config_exception, OSError, TypeError) as exc:
            raise InvalidConfiguration(
                f"No Kubernetes cluster configured ({str(exc).splitlines()[0][:120]}); run in the cluster or set KUBECONFIG"
                + (f", or {without_cluster}." if without_cluster else ".")
            ) from None
        self.namespace = namespace or default_namespace
        self.who = who
        self._configuration = configuration.Configuration.get_default()  # what the loaders above just set
        self._rest = rest.RESTClientObject(self._configuration)
        self._api_exception: type[Exception] = exceptions.ApiException

    # -- reads --------------------------------------------------------------------------

    def read_secret(self, name: str) -> dict[str, Any] | None:
        """The Secret as a plain dict (data values base64-decoded to str), or None if absent."""
        return decoded_secret(self._call("get", "secrets", name, missing_ok=True))

    def secret_data(self, name: str) -> dict[str, str] | None:
        """A Secret's data (decoded), or None if absent."""
        found = self.read_secret(name)
        return None if found is None else dict(found["data"])

    def release_objects(self, secret_name: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The output Secret and its settings ConfigMap as the API returns them (None: absent);
        state.CurrentState.of reads the release state from them."""
        secret = self._call("get", "secrets", secret_name, missing_ok=True)
        configmap = self._call("get", "configmaps", settings_configmap_name(secret_name), missing_ok=True)
        return secret, configmap

    def input_credentials(self, name: str, wanted: tuple[str, ...], progress: Progress,
                          value: str = "registry.existingSecret") -> InputCredentials:
        """The credentials in the Secret named by ``value``, which must have one of ``wanted``."""
        secret = self.read_secret(name)
        if secret is None:
            raise InvalidConfiguration(
                f"Secret {name!r} named by {value} does not exist in namespace {self.namespace}; create it or fix the name."
            )
        data = secret["data"]
        # Only these are secret: a username (e.g. `admin`) must stay readable in sentences.
        for key in SECRET_NAMES:
            progress.add_secret(data.get(key))
        username, password = data.get("username", "").strip(), data.get("password", "").strip()
        progress.add_credentials(username, password)
        if not any(key in data for key in wanted):
            raise InvalidConfiguration(
                f"Secret {name!r} named by {value} has no `{wanted[0]}` key (it has: {', '.join(sorted(data)) or 'none'})"
                f"; add one."
            )
        progress.step(f"credentials: from Secret {name!r} ({value})")
        return InputCredentials(username=username, password=password, key_json=data.get("key.json", ""))

    # -- writes -------------------------------------------------------------------------

    def apply(self, document: dict[str, Any], field_manager: str = FIELD_MANAGER) -> None:
        """Server-side apply: the object as ``field_manager`` wants it (fields that manager applied
        before and no longer sends are removed; other managers' fields stay)."""
        kind = document["kind"]
        name = document["metadata"]["name"]
        body = {**document, "metadata": {**document["metadata"], "namespace": self.namespace}}
        query = [("fieldManager", field_manager), ("force", True)]
        self._call("patch", RESOURCES[kind], name, query=query, body=body, content_type=APPLY_PATCH)

    def record_intent(self, secret_name: str, notes: dict[str, str]) -> None:
        """Write-ahead notes (or, with {}, none) on the settings ConfigMap, under a field manager
        of their own, so that writing the settings never erases them and clearing them never
        touches the settings."""
        metadata = {"name": settings_configmap_name(secret_name), **({"annotations": notes} if notes else {})}
        self.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}, field_manager=INTENT_FIELD_MANAGER)

    def delete(self, kind: str, name: str) -> bool:
        """Delete an object; False when it was already gone."""
        return self._call("delete", RESOURCES[kind], name, missing_ok=True) is not None

    def read_deployment(self, name: str) -> dict[str, Any] | None:
        """A Deployment as the API returns it, or None if absent."""
        return self._call("get", "deployments", name, missing_ok=True)

    def mark_deployment(self, name: str, fingerprint: str, roll: bool) -> None:
        """Set ``fingerprint`` on a Deployment and, to ``roll`` its pods, on its pod template too."""
        noted = {"metadata": {"annotations": {DEPLOYMENT_FINGERPRINT: fingerprint}}}
        patch = {**noted, "spec": {"template": noted}} if roll else noted
        self._call("patch", "deployments", name, body=patch, content_type=STRATEGIC_MERGE_PATCH)

    # -- the one request path -----------------------------------------------------------

    def _call(
        self,
        verb: str,
        resource: str,
        name: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
        content_type: str | None = None,
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """One request (HTTP method ``verb``) as the generated methods make it; the answer as a JSON
        dict ({} when it is not an object), None for a 404 when ``missing_ok``; errors as RegistrySetupError."""
        from urllib3.exceptions import HTTPError  # noqa: PLC0415

        headers = {"Accept": "application/json", "User-Agent": FIELD_MANAGER, **({"Content-Type": content_type} if content_type else {})}
        bearer = self._configuration.auth_settings().get("BearerToken")  # refreshes exec-plugin and in-cluster tokens
        if bearer:
            headers[bearer["key"]] = bearer["value"]
        path = PATHS[resource].format(namespace=quote(self.namespace, safe=""), name=quote(name, safe=""))
        url = self._configuration.host + path
        if query:
            url += "?" + urlencode([(key, str(value).lower() if isinstance(value, bool) else value) for key, value in query])
        try:
            response = self._rest.request(verb.upper(), url, headers=headers, body=body)
            text = response.read().decode("utf-8", errors="replace")
        except self._api_exception as exc:  # the REST layer's TLS failures (status 0)
            raise _api_error(getattr(exc, "status", 0), getattr(exc, "body", None), getattr(exc, "reason", ""), verb, resource, name,
                             self.namespace, self.who) from None
        except (HTTPError, OSError) as exc:
            raise Unreachable(
                f"Cannot reach the Kubernetes API to {verb} {resource} {name!r} ({type(exc).__name__}); check the cluster connection."
            ) from None
        if response.status == 404 and missing_ok:
            return None
        if not 200 <= response.status <= 299:
            raise _api_error(response.status, text, response.reason, verb, resource, name, self.namespace, self.who)
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        return answer if isinstance(answer, dict) else {}


def _api_error(
    status: int, body: str | None, reason: str | None, verb: str, resource: str, name: str, namespace: str, who: str = "the hook"
) -> RegistrySetupError:
    try:
        message = json.loads(body or "").get("message", "")
    except (TypeError, ValueError, AttributeError):
        message = reason or ""
    if status == 401:
        return InvalidConfiguration(
            f"The Kubernetes API rejected {who}'s credentials (401) when it tried to {verb} {resource} {name!r}; "
            f"check {who}'s ServiceAccount token."
        )
    if status == 403:
        return InvalidConfiguration(
            f"The Kubernetes API forbids {who} to {verb} {resource} {name!r} in namespace {namespace} ({message}); "
            f"the chart's Role must allow it."
        )
    if status == 404:
        return InvalidConfiguration(
            f"Kubernetes answered 404 to {verb} {resource} {name!r} in namespace {namespace} ({message}); check that the namespace exists."
        )
    if status in (409, 422):
        return InvalidConfiguration(f"Kubernetes refused to {verb} {resource} {name!r} ({status}: {message}).")
    return Unreachable(f"The Kubernetes API answered {status} to {verb} {resource} {name!r} ({message}); try again later.")
