"""A stand-in Kubernetes API server that the official ``kubernetes`` Python client talks to unchanged.

Why this exists: no Kubernetes cluster (kube-apiserver, k3s, kind, envtest) can run on the test
machines, but the hook writes Secrets and ConfigMaps with the official client under a namespaced
Role, and its failure modes (401, 403 with RBAC's message, 404, 409, 422) are part of the product.
This module serves the REST paths the client uses on ``ThreadingHTTPServer`` (127.0.0.1, ephemeral
port, plain HTTP) and enforces what the real API server enforces for them:

* Resources (all namespaced; namespaces exist implicitly, except those a test lists in
  ``absent_namespaces``: there, as the real NamespaceLifecycle admission answers, a create (or an
  apply that would create) is a 404 ``namespaces "NS" not found`` with details.kind
  ``namespaces``, and reads find nothing): core/v1 secrets, configmaps,
  serviceaccounts, pods; apps/v1 deployments; batch/v1 jobs; rbac.authorization.k8s.io/v1 roles,
  rolebindings. ``GET /version``, ``/healthz``, legacy discovery (``/api``, ``/apis``,
  ``/api/v1``, ``/apis/G/V``). Verbs get, list (``labelSelector`` with ``=``, ``==``, ``!=``,
  ``in``, ``notin``, ``key``, ``!key``; ``fieldSelector`` on metadata.name/namespace), create,
  update (PUT), patch, delete, deletecollection. List across namespaces (``/api/v1/secrets``).
* Errors are ``Status`` objects shaped and worded like the real server's (NotFound,
  AlreadyExists, Conflict, Invalid with causes, BadRequest, Forbidden, Unauthorized).
* metadata: uid, creationTimestamp, resourceVersion (one global counter), generation
  (deployments and jobs; bumped when ``spec`` changes), managedFields. Writes that change nothing
  are no-ops (resourceVersion unchanged), like the real server.
* Times (``creationTimestamp``, managedFields ``time``) come from :attr:`KubeApiServer.clock`, RFC
  3339 UTC truncated to the second as the real server serializes them. The clock is the wall
  clock unless a test moves it (``advance``) or stops it (``freeze``): no sleeps. As in the real
  field manager (managedFieldsUpdater), an apply sets its manager's time only when it changed the
  object (a no-op apply or one that only takes over ownership keeps the old time, or none: a
  manager whose first apply changed nothing has no time, kubernetes#127938); an update sets its
  manager's time when it changed a field. PUT or patch carrying a stale
  ``metadata.resourceVersion`` is a 409 Conflict.
* Patch types: merge (RFC 7386), JSON patch (RFC 6902: add, remove, replace, test, move, copy),
  strategic merge, server-side apply (``application/apply-patch+yaml``; needs ``fieldManager``,
  else 422 ``PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required
  for apply patch`` exactly like the real server; ``force`` on a non-apply patch is a 422 too).
  A patch that would change ``metadata.name`` or ``metadata.namespace`` is a 400, worded like the
  real patch handler's ``checkName`` and ``EnsureObjectNamespaceMatchesRequestNamespace``.
* Server-side apply keeps per-manager field sets: an apply merges the configuration into the
  object, removes fields the same manager applied before and no longer applies (unless another
  manager also owns them), and answers 409 ``Apply failed with N conflict(s)`` when it would
  change a value another manager owns, unless ``force=true``. Apply creates absent objects.
* Secrets: ``stringData`` folded into base64 ``data``; ``data`` must be base64 (else 400
  ``... illegal base64 data at input byte N``); keys must be config keys; ``type`` defaults to
  Opaque and is immutable; ``kubernetes.io/dockerconfigjson`` needs ``.dockerconfigjson`` holding
  a JSON object (422, with the real ``<secret contents redacted>`` wording); ``immutable``.
  Labels, annotations and ConfigMap/Secret data must be strings (400, as the real decoder says).
* Authentication: bearer tokens only. ``admin_token`` is a system:masters user that bypasses
  authorization. :meth:`KubeApiServer.token_for_service_account` tokens are accepted only while
  that ServiceAccount exists (401 otherwise, like a bound token whose account is gone);
  :meth:`KubeApiServer.token_for_user` makes plain user tokens. Anything else: 401.
* Authorization: RBAC over the stored Roles and RoleBindings, with the real rule matching
  (``*`` for verbs, apiGroups and resources; resourceNames compared with the request's name, so
  a rule with resourceNames never allows create or list) and the real 403 message, including the
  ``: RBAC: role.rbac.authorization.k8s.io "X" not found`` suffix for dangling bindings.
  Server-side apply is authorized as ``patch``, and when it creates the object also as ``create``
  of that name, as in the real server (so a Role needs both, with resourceNames if it likes).
* ``audit`` records user, verb, group, resource, namespace, name and status code of every
  request (never bodies). ``deployment_history`` lists a deployment's pod-template annotations:
  entry 0 at creation, then one entry per change (``kubectl rollout restart``-style patches).

Deliberately simpler than the real server:

* No watch (400), no subresources (``/status``, ``/scale``: 404), no protobuf/CBOR (always JSON),
  plain HTTP unless :meth:`KubeApiServer.serve_tls` (a self-signed certificate; Go clients such
  as Helm and kubectl send a kubeconfig's token only over TLS), no admission plugins, no
  controllers (deployments never get pods or status, jobs never run, deleted pods disappear at
  once), no garbage collection, no DeleteOptions preconditions.
* Strategic merge patch is treated as a JSON merge patch: lists are replaced, not merged by key,
  and ``$patch``/``$retainKeys`` directives are not understood.
* Server-side apply treats every list as atomic (the real server merges e.g. containers by name)
  and compares field ownership by exact path; ``managedFields`` are server-owned (a client
  cannot reset them); conflict messages list every path on its own line.
* No ClusterRoles or ClusterRoleBindings: a RoleBinding to a ClusterRole grants nothing (the 403
  says the ClusterRole was not found) and cluster-scoped requests by non-admins are forbidden.
  No RBAC escalation check: whoever may create Roles/RoleBindings may grant anything.
* Validation covers the fields above plus object names, label and annotation keys and values
  (``IsQualifiedName``'s messages; annotations at most 256 KiB in all) in metadata and in a
  deployment's pod template, and deployment selectors; Go JSON error texts for a bad
  ``.dockerconfigjson`` are approximations.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import secrets
import ssl
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.stand_ins.loopback import LoopbackHandler, LoopbackHttpServer
from tests.stand_ins.registry import write_self_signed_cert

if TYPE_CHECKING:
    from kubernetes.client import Configuration

Obj = dict[str, Any]
ObjList = list[Obj]
FieldPath = tuple[str, ...]
ManagerKey = tuple[str, str]  # (manager, operation)

SERVER_VERSION = {
    "major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "0" * 40, "gitTreeState": "clean",
    "buildDate": "2025-05-15T00:00:00Z", "goVersion": "go1.24.2", "compiler": "gc", "platform": "linux/amd64",
}
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE, APPLY, STRATEGIC)
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"
MAX_RESOURCE_NAME = 253
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
CONFIG_KEY = re.compile(r"[-._a-zA-Z0-9]+")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
# metadata fields the server owns; a client's values are ignored
SERVER_METADATA = ("uid", "creationTimestamp", "resourceVersion", "generation", "managedFields", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds")
# metadata fields that take part in field management (the rest of metadata does not)
MANAGED_METADATA = ("labels", "annotations", "ownerReferences", "finalizers")
_MISSING = object()


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    resource: str
    kind: str
    singular: str
    generation: bool = False  # metadata.generation tracks spec changes
    create_on_update: bool = False  # PUT to a missing name creates (RBAC objects)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified_resource(self) -> str:
        """``secrets`` or ``deployments.apps``, as the real error messages spell it."""
        return f"{self.resource}.{self.group}" if self.group else self.resource


RBAC_GROUP = "rbac.authorization.k8s.io"
RESOURCE_TYPES = (
    ResourceType("", "v1", "secrets", "Secret", "secret"),
    ResourceType("", "v1", "configmaps", "ConfigMap", "configmap"),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", "serviceaccount"),
    ResourceType("", "v1", "pods", "Pod", "pod"),
    ResourceType("", "v1", "services", "Service", "service"),
    ResourceType("apps", "v1", "deployments", "Deployment", "deployment", generation=True),
    ResourceType("batch", "v1", "jobs", "Job", "job", generation=True),
    ResourceType(RBAC_GROUP, "v1", "roles", "Role", "role", create_on_update=True),
    ResourceType(RBAC_GROUP, "v1", "rolebindings", "RoleBinding", "rolebinding", create_on_update=True),
)
BY_RESOURCE = {rt.resource: rt for rt in RESOURCE_TYPES}
BY_KIND = {rt.kind: rt for rt in RESOURCE_TYPES}
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


# -- errors ------------------------------------------------------------------------------------

class ApiError(Exception):
    """An error answer: a ``Status`` object with the real server's fields and order."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        out: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": self.message, "reason": self.reason}
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def _details(rt: ResourceType, name: str) -> Obj:
    out: Obj = {"name": name} if name else {}
    if rt.group:
        out["group"] = rt.group
    out["kind"] = rt.resource
    return out


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified_resource} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{rt.qualified_resource} "{name}" already exists', _details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified_resource} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and try again",
                    _details(rt, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def cannot_decode(rt: ResourceType, detail: str) -> ApiError:
    return bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {detail}')


@dataclass(frozen=True)
class FieldError:
    """One entry of a 422 ``Invalid`` answer, worded like k8s.io/apimachinery's field.Error."""

    field: str
    type: str  # FieldValueRequired | FieldValueInvalid | FieldValueForbidden
    detail: str = ""
    value: Any = _MISSING

    def body(self) -> str:
        if self.type == "FieldValueRequired":
            text = "Required value"
        elif self.type == "FieldValueForbidden":
            text = "Forbidden"
        elif self.type == "FieldValueNotSupported":
            text = f"Unsupported value: {_go_value(self.value)}"
        elif self.type == "FieldValueTooLong":
            text = "Too long"
        else:
            text = f"Invalid value: {_go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text


def _go_value(value: Any) -> str:
    if isinstance(value, _GoLiteral):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in value.items())
        return "map[string]string{" + inner + "}"
    return json.dumps(value, sort_keys=True)


def invalid(kind: str, name: str, errors: list[FieldError], group: str = "") -> ApiError:
    shown = [f"{e.field}: {e.body()}" for e in errors]
    summary = shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"
    qualified = f"{kind}.{group}" if group else kind
    details: Obj = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details)


def _invalid_object(rt: ResourceType, name: str, errors: list[FieldError]) -> ApiError:
    return invalid(rt.kind, name, errors, rt.group)


def _patch_failed(message: str) -> ApiError:
    """What the real server answers when a JSON patch does not apply."""
    return ApiError(422, "Invalid", "the server rejected our request due to an error in our request",
                    {"causes": [{"reason": "FieldValueInvalid", "message": message}]})


# -- users and audit ---------------------------------------------------------------------------

@dataclass(frozen=True)
class UserInfo:
    name: str
    groups: tuple[str, ...]
    admin: bool = False
    service_account: tuple[str, str] | None = None  # (namespace, name) that must exist


@dataclass(frozen=True)
class AuditEvent:
    """One request as the server saw it; ``user`` is "" when authentication failed."""

    user: str
    verb: str
    api_group: str
    resource: str
    namespace: str
    name: str
    code: int
    path: str


@dataclass
class _Attributes:
    user: str = ""
    verb: str = ""
    api_group: str = ""
    resource: str = ""
    namespace: str = ""
    name: str = ""


# -- JSON documents ----------------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]] if path else []


def _resolve(doc: Any, parts: list[str], op: str, path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise _patch_failed(f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return doc


def _pointer_add(doc: Any, path: str, value: Any, op: str = "add") -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1], op, path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and (last == "-" or (last.isdigit() and int(last) <= len(parent))):
        parent.insert(len(parent) if last == "-" else int(last), value)
    else:
        raise _patch_failed(f'{op} operation does not apply: doc is missing path: "{path}": missing value')
    return doc


def _pointer_remove(doc: Any, path: str, op: str = "remove") -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise _patch_failed(f"{op} operation does not apply: cannot remove the whole document")
    parent = _resolve(doc, parts[:-1], op, path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise _patch_failed(f"{op} operation does not apply: doc is missing key: {path}")


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 JSON patch on a copy of ``doc``."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for operation in operations:
        op, path = operation.get("op"), operation.get("path")
        if op in ("add", "replace", "test") and "value" not in operation:
            raise _patch_failed(f"{op} operation does not apply: missing value")
        if op == "add":
            doc = _pointer_add(doc, path, copy.deepcopy(operation["value"]))
        elif op == "remove":
            doc, _ = _pointer_remove(doc, path)
        elif op == "replace":
            doc, _ = _pointer_remove(doc, path, "replace") if _pointer(path) else (doc, None)
            doc = _pointer_add(doc, path, copy.deepcopy(operation["value"]), "replace")
        elif op == "test":
            if _resolve(doc, _pointer(path), "test", path) != operation["value"]:
                raise _patch_failed(f"testing value {path} failed: test failed")
        elif op in ("move", "copy"):
            source = operation.get("from")
            value = copy.deepcopy(_resolve(doc, _pointer(source), op, str(source)))
            if op == "move":
                doc, _ = _pointer_remove(doc, str(source), "move")
            doc = _pointer_add(doc, path, value, op)
        else:
            raise bad_request(f"Unexpected kind: {op}")
    return doc


def _field_paths(obj: Obj) -> set[FieldPath]:
    """Leaf paths of the fields that take part in field management (lists are atomic leaves)."""
    out: set[FieldPath] = set()

    def walk(value: Any, prefix: FieldPath) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(child, (*prefix, key))
        else:
            out.add(prefix)

    for key, value in obj.items():
        if key in ("apiVersion", "kind", "status"):
            continue
        if key == "metadata":
            for meta_key in MANAGED_METADATA:
                if isinstance(value, dict) and meta_key in value:
                    walk(value[meta_key], ("metadata", meta_key))
        else:
            walk(value, (key,))
    return out


def _get_path(obj: Any, path: FieldPath) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def _delete_path(obj: Obj, path: FieldPath) -> None:
    parent: Any = _get_path(obj, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def _overlaps(a: FieldPath, b: FieldPath) -> bool:
    return a[:len(b)] == b or b[:len(a)] == a


def _merge_applied(target: Obj, config: Obj) -> None:
    """Apply merges maps key by key; lists and scalars are replaced; null removes."""
    for key, value in config.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_applied(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _fields_v1(paths: Iterable[FieldPath]) -> Obj:
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for key in path:
            node = node.setdefault(f"f:{key}", {})
    return root


def _paths_from_fields_v1(fields: Obj, prefix: FieldPath = ()) -> set[FieldPath]:
    out: set[FieldPath] = set()
    for key, child in fields.items():
        if key == ".":
            out.add(prefix)
        elif key.startswith("f:"):
            path = (*prefix, key[2:])
            out |= _paths_from_fields_v1(child, path) if child else {path}
    return out


class ManagedFields:
    """The field sets of an object's managers, read from and written to ``metadata.managedFields``."""

    def __init__(self, obj: Obj | None, now: str) -> None:
        self.now = now  # the server's time of this write
        self.applier: ManagerKey | None = None  # set by an apply: its time is set if the object changes
        self.sets: dict[ManagerKey, set[FieldPath]] = {}
        self.times: dict[ManagerKey, str] = {}
        for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
            key = (entry.get("manager", ""), entry.get("operation", "Update"))
            self.sets[key] = _paths_from_fields_v1(entry.get("fieldsV1") or {})
            if entry.get("time"):
                self.times[key] = entry["time"]

    def record_update(self, manager: str, old: Obj | None, new: Obj) -> None:
        """A non-apply write: the writer takes the fields it changed; removed fields lose owners."""
        old_paths = _field_paths(old) if old else set()
        new_paths = _field_paths(new)
        changed = {p for p in new_paths if _get_path(old, p) != _get_path(new, p)} if old else new_paths
        gone = old_paths - new_paths
        for key in self.sets:
            self.sets[key] -= changed | gone
        if changed:
            key = (manager, "Update")
            self.sets[key] = self.sets.get(key, set()) | changed
            self.times[key] = self.now

    def describe(self, api_version: str) -> dict[str, str]:
        """Managers as the real conflict messages print them: Update managers with version and time."""
        out: dict[str, str] = {}
        for manager, operation in self.sets:
            if operation == "Update":
                out[manager] = f'"{manager}" using {api_version} at {self.times.get((manager, operation), "")}'
            else:
                out.setdefault(manager, f'"{manager}"')
        return out

    def owned_by_others(self, manager: str, path: FieldPath) -> bool:
        return any(m != manager and any(_overlaps(path, p) for p in paths) for (m, _), paths in self.sets.items())

    def render(self, api_version: str) -> ObjList:
        entries = []
        for (manager, operation), paths in self.sets.items():
            if paths:
                entry = {"manager": manager, "operation": operation, "apiVersion": api_version}
                if (manager, operation) in self.times:
                    entry["time"] = self.times[(manager, operation)]
                entries.append({**entry, "fieldsType": "FieldsV1", "fieldsV1": _fields_v1(paths)})
        return entries


# -- validation helpers ------------------------------------------------------------------------

class ServerClock:
    """The API server's clock: the wall clock moved forward by :meth:`advance`, or, after
    :meth:`freeze`, a stopped clock that only :meth:`advance` moves (two writes in the same second,
    deterministically)."""

    def __init__(self) -> None:
        self._frozen: dt.datetime | None = None
        self._offset = dt.timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return (self._frozen or dt.datetime.now(dt.UTC)) + self._offset

    def text(self) -> str:
        """Now, as the real server serializes a metav1.Time: RFC 3339 UTC, truncated to the second."""
        return self.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)

    def freeze(self, at: dt.datetime | None = None) -> None:
        """Stop the clock at ``at`` (default: now)."""
        stopped = at or self.now()
        with self._lock:
            self._frozen, self._offset = stopped, dt.timedelta(0)


def _go_base64_error(value: str) -> str | None:
    """None when ``value`` is valid standard base64 (as Go's encoding/json []byte wants), else Go's message."""
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    text = value.replace("\r", "").replace("\n", "")
    body = text.split("=", 1)[0]
    for index, char in enumerate(body):
        if char not in alphabet:
            return f"illegal base64 data at input byte {index}"
    padding = text[len(body):]
    if padding.strip("="):  # something after the padding
        return f"illegal base64 data at input byte {len(body) + len(padding) - len(padding.lstrip('='))}"
    if len(text) % 4 or len(padding) > 2 or len(body) % 4 == 1:
        return f"illegal base64 data at input byte {len(text) // 4 * 4}"
    return None


def _go_json_error(raw: bytes) -> str | None:
    """None when ``raw`` unmarshals into a Go map[string]interface{}; else an approximation of Go's error."""
    try:
        value = json.loads(raw.decode())
    except UnicodeDecodeError:
        return "invalid character looking for beginning of value"
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()):
            return "unexpected end of JSON input"
        return f"invalid character {exc.doc[exc.pos]!r} looking for beginning of value"
    if value is None or isinstance(value, dict):
        return None
    go_type = {list: "array", str: "string", bool: "bool"}.get(type(value), "number")
    return f"json: cannot unmarshal {go_type} into Go value of type map[string]interface {{}}"


def _check_string_map(rt: ResourceType, value: Any, go_field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise cannot_decode(rt, f"json: cannot unmarshal {_json_type(value)} into Go struct field {go_field} of type "
                                "map[string]string")
    for item in value.values():
        if not isinstance(item, str):
            raise cannot_decode(rt, f"json: cannot unmarshal {_json_type(item)} into Go struct field {go_field} of type string")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string"}.get(type(value), "null")


_QUALIFIED_NAME_REGEX = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
_DNS_SUBDOMAIN_REGEX = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024  # apimachinery's TotalAnnotationSizeLimitB


def _qualified_name_errors(value: str) -> list[str]:
    """k8s.io/apimachinery/pkg/util/validation.IsQualifiedName, message for message."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name " + _QUALIFIED_NAME_REGEX
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errors: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            if len(prefix) > MAX_RESOURCE_NAME:
                errors.append(f"prefix part must be no more than {MAX_RESOURCE_NAME} characters")
            if not DNS_SUBDOMAIN.fullmatch(prefix):
                errors.append("prefix part " + _DNS_SUBDOMAIN_REGEX)
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part must be no more than 63 characters")
    if not LABEL_NAME.fullmatch(name):
        errors.append("name part " + _QUALIFIED_NAME_REGEX)
    return errors


def _labels_errors(labels: Mapping[str, str], field: str) -> list[FieldError]:
    """ValidateLabels: keys are qualified names, values label values."""
    errors: list[FieldError] = []
    for key, value in labels.items():
        errors += [FieldError(field, "FieldValueInvalid", message, key) for message in _qualified_name_errors(key)]
        if len(value) > 63:
            errors.append(FieldError(field, "FieldValueInvalid", "must be no more than 63 characters", value))
        elif not LABEL_VALUE.fullmatch(value):
            errors.append(FieldError(field, "FieldValueInvalid", value=value, detail=(
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")))
    return errors


def _annotations_errors(annotations: Mapping[str, str], field: str) -> list[FieldError]:
    """ValidateAnnotations: keys are qualified names (compared in lower case), 256 KiB in all."""
    errors = [FieldError(field, "FieldValueInvalid", message, key)
              for key in annotations for message in _qualified_name_errors(key.lower())]
    if sum(len(k) + len(v) for k, v in annotations.items()) > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(FieldError(field, "FieldValueTooLong", f"must have at most {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"))
    return errors


def _validate_metadata(meta: Obj, rt: ResourceType) -> list[FieldError]:
    errors: list[FieldError] = []
    name = meta.get("name", "")
    if not name:
        errors.append(FieldError("metadata.name", "FieldValueRequired", "name or generateName is required"))
    elif len(name) > MAX_RESOURCE_NAME or not DNS_SUBDOMAIN.fullmatch(name):
        errors.append(FieldError("metadata.name", "FieldValueInvalid", value=name, detail=_DNS_SUBDOMAIN_REGEX))
    errors += _labels_errors(meta.get("labels") or {}, "metadata.labels")
    errors += _annotations_errors(meta.get("annotations") or {}, "metadata.annotations")
    return errors


def _config_key_errors(field: str, keys: Iterable[str]) -> list[FieldError]:
    return [FieldError(f"{field}[{key}]", "FieldValueInvalid", value=key, detail=(
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
        "'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"))
        for key in keys if not CONFIG_KEY.fullmatch(key)]


def _immutable_errors(obj: Obj, old: Obj | None, fields: tuple[str, ...]) -> list[FieldError]:
    if not old or not old.get("immutable"):
        return []
    errors = [FieldError(f, "FieldValueForbidden", "field is immutable when `immutable` is set")
              for f in fields if obj.get(f) != old.get(f)]
    if not obj.get("immutable"):
        errors.append(FieldError("immutable", "FieldValueForbidden", "field is immutable when `immutable` is set"))
    return errors


def _normalize_secret(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    data = dict(_check_string_map(rt, obj.get("data"), "Secret.data"))
    for value in data.values():
        problem = _go_base64_error(value)
        if problem:
            raise cannot_decode(rt, problem)
    string_data = _check_string_map(rt, obj.pop("stringData", None), "Secret.stringData")
    for key, value in string_data.items():
        data[key] = base64.b64encode(value.encode()).decode()
    if data:
        obj["data"] = data
    else:
        obj.pop("data", None)
    obj["type"] = obj.get("type") or "Opaque"
    errors = _config_key_errors("data", data)
    if old is not None and old.get("type") != obj["type"]:
        errors.append(FieldError("type", "FieldValueInvalid", "field is immutable", obj["type"]))
    errors += _immutable_errors(obj, old, ("data",))
    for secret_type, key in ((DOCKER_CONFIG_JSON, ".dockerconfigjson"), (DOCKER_CFG, ".dockercfg")):
        if obj["type"] != secret_type:
            continue
        if key not in data:
            errors.append(FieldError(f"data[{key}]", "FieldValueRequired"))
            continue
        problem = _go_json_error(base64.b64decode(data[key]))
        if problem:
            errors.append(FieldError(f"data[{key}]", "FieldValueInvalid", problem, "<secret contents redacted>"))
    return errors


def _normalize_config_map(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    data = _check_string_map(rt, obj.get("data"), "ConfigMap.data")
    binary = _check_string_map(rt, obj.get("binaryData"), "ConfigMap.binaryData")
    for value in binary.values():
        problem = _go_base64_error(value)
        if problem:
            raise cannot_decode(rt, problem)
    errors = _config_key_errors("data", data) + _config_key_errors("binaryData", binary)
    errors += [FieldError(f"data[{key}]", "FieldValueInvalid", "duplicate of key present in binaryData", key)
               for key in data if key in binary]
    return errors + _immutable_errors(obj, old, ("data", "binaryData"))


def _normalize_deployment(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    selector = (spec.get("selector") or {}).get("matchLabels")
    template_meta = (spec.get("template") or {}).get("metadata") or {}
    labels = template_meta.get("labels") or {}
    _check_string_map(rt, template_meta.get("labels"), "ObjectMeta.spec.template.metadata.labels")
    _check_string_map(rt, template_meta.get("annotations"), "ObjectMeta.spec.template.metadata.annotations")
    errors = (_labels_errors(template_meta.get("labels") or {}, "spec.template.metadata.labels")
              + _annotations_errors(template_meta.get("annotations") or {}, "spec.template.metadata.annotations"))
    if errors:
        return errors
    if not spec.get("selector"):
        return [FieldError("spec.selector", "FieldValueRequired")]
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        return [FieldError("spec.template.metadata.labels", "FieldValueInvalid", "`selector` does not match template `labels`",
                           labels)]
    return []


def _normalize_role_binding(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    ref = obj.get("roleRef")
    if not isinstance(ref, dict) or not ref.get("name"):
        return [FieldError("roleRef.name", "FieldValueRequired")]
    if ref.get("kind") not in ("Role", "ClusterRole"):
        return [FieldError("roleRef.kind", "FieldValueNotSupported", value=ref.get("kind", ""))]
    if old is not None and old.get("roleRef") != ref:
        value = f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind")}", Name:"{ref.get("name")}"}}'
        return [FieldError("roleRef", "FieldValueInvalid", "cannot change roleRef", _GoLiteral(value))]
    return []


class _GoLiteral(str):
    """A value already printed the way Go prints it."""


_NORMALIZERS = {
    "secrets": _normalize_secret,
    "configmaps": _normalize_config_map,
    "deployments": _normalize_deployment,
    "rolebindings": _normalize_role_binding,
}


def _labels_match(selector: str, labels: Mapping[str, str]) -> bool:
    for requirement in _split_selector(selector):
        if not _requirement_matches(requirement, labels):
            return False
    return True


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _requirement_matches(requirement: str, labels: Mapping[str, str]) -> bool:
    match = re.fullmatch(r"(\S+)\s+(in|notin)\s+\((.*)\)", requirement)
    if match:
        key, op, values = match.group(1), match.group(2), {v.strip() for v in match.group(3).split(",")}
        return (key in labels and labels[key] in values) if op == "in" else labels.get(key) not in values
    match = re.fullmatch(r"([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)", requirement)
    if match:
        key, op, value = match.groups()
        return labels.get(key) == value if op != "!=" else labels.get(key) != value
    if re.fullmatch(r"![^=!\s]+", requirement):
        return requirement[1:] not in labels
    if re.fullmatch(r"[^=!\s()]+", requirement):
        return requirement in labels
    raise bad_request(f"unable to parse requirement: {requirement!r}")


# -- the server --------------------------------------------------------------------------------

class KubeApiServer(LoopbackHttpServer):
    """The stand-in API server. Use as a context manager or call :meth:`start` / :meth:`stop`."""

    thread_name = "kube-api-stand-in"
    poll_interval = 0.01

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str, str], Obj] = {}  # (resource, namespace, name)
        self._resource_version = 0
        self._tokens: dict[str, UserInfo] = {}
        self._history: dict[tuple[str, str], ObjList] = {}
        self.audit: list[AuditEvent] = []
        self.clock = ServerClock()
        self.absent_namespaces: set[str] = set()  # namespaces that do not exist (all others do)
        self.internal_errors: list[str] = []  # bugs in this stand-in, answered with 500; tests may assert it stays empty
        self.ca_cert_path: Path | None = None  # the certificate to trust, once serve_tls() made one
        self.admin_token = self._new_token(UserInfo("kubernetes-admin", ("system:masters", "system:authenticated"), admin=True))

    # -- lifecycle (start/stop/url from LoopbackHttpServer) ----------------------------------

    def handler_class(self) -> type[LoopbackHandler]:
        return type("Handler", (_Handler,), {"owner": self})

    # -- credentials -------------------------------------------------------------------------

    def _new_token(self, user: UserInfo) -> str:
        token = "kube-" + secrets.token_urlsafe(24)
        self._tokens[token] = user
        return token

    def token_for_service_account(self, namespace: str, name: str) -> str:
        """A bearer token for ``system:serviceaccount:NS:NAME``, valid only while that ServiceAccount exists."""
        groups = ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")
        return self._new_token(UserInfo(f"system:serviceaccount:{namespace}:{name}", groups,
                                        service_account=(namespace, name)))

    def token_for_user(self, name: str, groups: Iterable[str] = ()) -> str:
        """A bearer token for a plain user (a RoleBinding subject of kind User or Group)."""
        return self._new_token(UserInfo(name, (*groups, "system:authenticated")))

    def serve_tls(self, directory: Path) -> None:
        """Serve https (call before start) with a self-signed certificate written to ``directory``,
        which :meth:`write_kubeconfig` and :meth:`configuration` then trust. The real API server
        serves only TLS, and Go clients (client-go's clientcmd: Helm, kubectl) send a kubeconfig's
        credentials only over TLS: over plain http they ask anonymously and get 401 here."""
        cert, key = directory / "kube-api-cert.pem", directory / "kube-api-key.pem"
        write_self_signed_cert(cert, key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.tls, self.ca_cert_path = context, cert

    def write_kubeconfig(self, path: Path | str, token: str | None = None, namespace: str = "default") -> Path:
        """A kubeconfig for ``kubernetes.config.load_kube_config(config_file=path)``, kubectl or Helm
        (default: the admin token; over TLS it names the certificate to trust)."""
        cluster: Obj = {"server": self.url}
        if self.ca_cert_path is not None:
            cluster["certificate-authority"] = str(self.ca_cert_path)
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "stand-in", "cluster": cluster}],
            "users": [{"name": "stand-in-user", "user": {"token": token or self.admin_token}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in-user",
                                                          "namespace": namespace}}],
            "current-context": "stand-in",
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)
        return path

    def configuration(self, token: str | None = None) -> Configuration:
        """A ``kubernetes.client.Configuration`` for this server (default: the admin token)."""
        from kubernetes import client  # noqa: PLC0415

        configuration = client.Configuration(host=self.url, api_key={"authorization": f"Bearer {token or self.admin_token}"})
        if self.ca_cert_path is not None:
            configuration.ssl_ca_cert = str(self.ca_cert_path)
        return configuration

    # -- direct helpers for tests (no HTTP, no authorization, no audit) -----------------------

    def put(self, obj: Obj, manager: str = "kube-api-stand-in") -> Obj:
        """Create or replace an object (namespace defaults to "default"); returns the stored object."""
        rt = _resource_type(obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace") or "default", meta.get("name", "")
        with self._lock:
            old = self._objects.get((rt.resource, namespace, name))
            return self._write(rt, namespace, name, obj, old, manager=manager)

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """The stored object (a copy), or None. ``resource`` is a plural ("secrets") or a kind ("Secret")."""
        with self._lock:
            obj = self._objects.get((_resource_type(resource).resource, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def delete(self, resource: str, namespace: str, name: str) -> bool:
        """Delete an object; False when there was none."""
        with self._lock:
            return self._objects.pop((_resource_type(resource).resource, namespace, name), None) is not None

    def deployment_history(self, namespace: str, name: str) -> ObjList:
        """Pod-template annotations of a deployment: at creation, then after every change."""
        with self._lock:
            return copy.deepcopy(self._history.get((namespace, name), []))

    # -- HTTP entry point --------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        """Answer one request: (status code, JSON-able payload, or str for text/plain)."""
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        attrs = _Attributes(verb=method.lower())
        with self._lock:
            try:
                code, payload = self._dispatch(method, path, query, headers, body, attrs)
            except ApiError as exc:
                code, payload = exc.code, exc.status()
            except Exception as exc:  # noqa: BLE001 - a stand-in bug must not look like a network failure
                self.internal_errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                code, payload = 500, ApiError(500, "InternalError", f"Internal error occurred: {exc}").status()
            self.audit.append(AuditEvent(attrs.user, attrs.verb, attrs.api_group, attrs.resource, attrs.namespace,
                                         attrs.name, code, path))
        return code, payload

    def _dispatch(self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], body: bytes,
                  attrs: _Attributes) -> tuple[int, Any]:
        if path == "/version" and method == "GET":
            return 200, dict(SERVER_VERSION)
        if path in ("/healthz", "/livez", "/readyz") and method == "GET":
            return 200, "ok"
        user = self._authenticate(headers.get("authorization", ""))
        attrs.user = user.name
        discovery = self._discovery(path)
        if discovery is not None:
            if method != "GET":
                raise method_not_allowed()
            return 200, discovery
        rt, namespace, name = _parse_resource_path(path)
        attrs.api_group, attrs.resource, attrs.namespace, attrs.name = rt.group, rt.resource, namespace, name
        attrs.verb = verb = _verb(method, name, namespace, query)
        self._authorize(user, verb, rt, namespace, name)
        manager = query.get("fieldManager") or headers.get("user-agent", "").split("/")[0] or "unknown"
        dry_run = query.get("dryRun") == "All"
        content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if verb == "patch" and content_type == APPLY and (rt.resource, namespace, name) not in self._objects:
            # An apply that creates the object is also authorized as "create" of that name
            # (createAuthorizerAttributes in the real server's patch handler).
            self._authorize(user, "create", rt, namespace, name)
        creates = verb == "create" or (verb == "patch" and content_type == APPLY and (rt.resource, namespace, name) not in self._objects)
        if creates and namespace in self.absent_namespaces:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"})
        if verb == "get":
            obj = self._objects.get((rt.resource, namespace, name))
            if obj is None:
                raise not_found(rt, name)
            return 200, copy.deepcopy(obj)
        if verb == "list":
            return 200, self._list(rt, namespace, query)
        if verb == "watch":
            raise bad_request("watch is not supported by the kube API stand-in")
        if verb == "create":
            return self._create(rt, namespace, _decode(rt, body, content_type), manager, dry_run)
        if verb == "update":
            return self._update(rt, namespace, name, _decode(rt, body, content_type), manager, dry_run)
        if verb == "patch":
            return self._patch(rt, namespace, name, query, content_type, body, manager, dry_run)
        if verb == "delete":
            return self._delete(rt, namespace, name, dry_run)
        return self._delete_collection(rt, namespace, query, dry_run)

    # -- authentication and authorization ----------------------------------------------------

    def _authenticate(self, header: str) -> UserInfo:
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        user = self._tokens.get(token) if token else None
        if user is None:
            raise unauthorized()
        if user.service_account and ("serviceaccounts", *user.service_account) not in self._objects:
            raise unauthorized()
        return user

    def _authorize(self, user: UserInfo, verb: str, rt: ResourceType, namespace: str, name: str) -> None:
        if user.admin:
            return
        allowed, reason = self._rbac(user, verb, rt, namespace, name)
        if allowed:
            return
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        message = f'User "{user.name}" cannot {verb} resource "{rt.resource}" in API group "{rt.group}" {scope}'
        if reason:
            message += f": {reason}"
        head = f'{rt.qualified_resource} "{name}"' if name else rt.qualified_resource
        raise ApiError(403, "Forbidden", f"{head} is forbidden: {message}", _details(rt, name))

    def _rbac(self, user: UserInfo, verb: str, rt: ResourceType, namespace: str, name: str) -> tuple[bool, str]:
        """(allowed, reason) from the RoleBindings in ``namespace``, like the real RBAC authorizer."""
        if not namespace:
            return False, ""
        errors: list[str] = []
        for (resource, ns, _), binding in sorted(self._objects.items()):
            if resource != "rolebindings" or ns != namespace:
                continue
            if not any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            role = self._objects.get(("roles", namespace, ref.get("name", ""))) if ref.get("kind") == "Role" else None
            if role is None:
                errors.append(f'{str(ref.get("kind", "")).lower()}.{RBAC_GROUP} "{ref.get("name", "")}" not found')
                continue
            if any(_rule_allows(rule, verb, rt, name) for rule in role.get("rules") or []):
                return True, ""
        if not errors:
            return False, ""
        return False, "RBAC: " + (errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")

    # -- verbs -------------------------------------------------------------------------------

    def _list(self, rt: ResourceType, namespace: str, query: dict[str, str]) -> Obj:
        items = []
        for obj in self._select(rt, namespace, query):
            item = copy.deepcopy(obj)
            item.pop("apiVersion", None)
            item.pop("kind", None)
            items.append(item)
        return {"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self._resource_version)}, "items": items}

    def _select(self, rt: ResourceType, namespace: str, query: dict[str, str]) -> ObjList:
        label_selector = query.get("labelSelector", "")
        fields: dict[str, str] = {}
        for requirement in _split_selector(query.get("fieldSelector", "")):
            key, _, value = requirement.replace("==", "=").partition("=")
            if key not in ("metadata.name", "metadata.namespace"):
                raise bad_request(f'field label not supported: {key}')
            fields[key] = value
        out = []
        for (resource, ns, name), obj in sorted(self._objects.items()):
            if resource != rt.resource or (namespace and ns != namespace):
                continue
            if fields.get("metadata.name", name) != name or fields.get("metadata.namespace", ns) != ns:
                continue
            if _labels_match(label_selector, obj["metadata"].get("labels") or {}):
                out.append(obj)
        return out

    def _create(self, rt: ResourceType, namespace: str, obj: Obj, manager: str, dry_run: bool) -> tuple[int, Obj]:
        meta = obj.setdefault("metadata", {})
        _check_namespace(meta, namespace)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name", "")
        if name and (rt.resource, namespace, name) in self._objects:
            raise already_exists(rt, name)
        return 201, self._write(rt, namespace, name, obj, None, manager=manager, dry_run=dry_run)

    def _update(self, rt: ResourceType, namespace: str, name: str, obj: Obj, manager: str,
                dry_run: bool) -> tuple[int, Obj]:
        meta = obj.setdefault("metadata", {})
        _check_namespace(meta, namespace)
        if meta.get("name") != name:
            raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({name})")
        old = self._objects.get((rt.resource, namespace, name))
        if old is None:
            if not rt.create_on_update:
                raise not_found(rt, name)
            return 201, self._write(rt, namespace, name, obj, None, manager=manager, dry_run=dry_run)
        if meta.get("resourceVersion") and meta["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        return 200, self._write(rt, namespace, name, obj, old, manager=manager, dry_run=dry_run)

    def _patch(self, rt: ResourceType, namespace: str, name: str, query: dict[str, str], content_type: str,
               body: bytes, manager: str, dry_run: bool) -> tuple[int, Obj]:
        if content_type not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media "
                           "types include: " + ", ".join(PATCH_TYPES))
        if content_type == APPLY and not query.get("fieldManager"):
            raise invalid("PatchOptions", "", [FieldError("fieldManager", "FieldValueRequired", "is required for apply patch")],
                          "meta.k8s.io")
        if content_type != APPLY and "force" in query:
            raise invalid("PatchOptions", "", [FieldError("force", "FieldValueForbidden",
                                                          "may not be specified for non-apply patch")], "meta.k8s.io")
        old = self._objects.get((rt.resource, namespace, name))
        if content_type == APPLY:
            force = query.get("force", "").lower() in ("true", "1")
            return self._apply(rt, namespace, name, body, old, manager, force, dry_run)
        if old is None:
            raise not_found(rt, name)
        try:
            patch = json.loads(body or b"null")
        except ValueError as exc:
            raise bad_request(f"error decoding patch: {exc}") from None
        if content_type == JSON_PATCH:
            new = json_patch(old, patch)
        else:  # merge and strategic merge (approximated as merge, see the module docstring)
            if not isinstance(patch, dict):
                raise bad_request("json: cannot unmarshal into Go value of type map[string]interface {}")
            new = merge_patch(copy.deepcopy(old), patch)
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise bad_request("the patched object is not a Kubernetes object")
        if new["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        # the real patch handler: rest.EnsureObjectNamespaceMatchesRequestNamespace, then checkName
        _check_namespace(new["metadata"], namespace)
        if new["metadata"].get("name", "") != name:
            raise bad_request(f"the name of the object ({new['metadata'].get('name', '')}) does not match the name on "
                              f"the URL ({name})")
        if new.get("kind", rt.kind) != rt.kind or new.get("apiVersion", rt.api_version) != rt.api_version:
            raise bad_request("a patch may not change apiVersion or kind")
        return 200, self._write(rt, namespace, name, new, old, manager=manager, dry_run=dry_run)

    def _apply(self, rt: ResourceType, namespace: str, name: str, body: bytes, old: Obj | None, manager: str,
               force: bool, dry_run: bool) -> tuple[int, Obj]:
        try:
            config = yaml.safe_load(body or b"")
        except yaml.YAMLError as exc:
            raise bad_request(f"error decoding YAML: {exc}") from None
        if not isinstance(config, dict):
            raise bad_request("error decoding YAML: the apply configuration is not an object")
        if not config.get("kind") or not config.get("apiVersion"):
            missing = "Kind" if not config.get("kind") else "Version"
            raise bad_request(f"Object '{missing}' is missing in '{json.dumps(config)}'")
        if config["kind"] != rt.kind or config["apiVersion"] != rt.api_version:
            raise bad_request(f"the object kind {config['apiVersion']}/{config['kind']} does not match {rt.api_version}/{rt.kind}")
        meta = config.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        _check_namespace(meta, namespace)
        if meta.setdefault("name", name) != name:
            raise bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL ({name})")
        wanted_version = meta.pop("resourceVersion", None)
        if wanted_version and (old is None or wanted_version != old["metadata"]["resourceVersion"]):
            raise conflict(rt, name)
        for key in SERVER_METADATA:
            meta.pop(key, None)
        managed = ManagedFields(old, self.clock.text())
        applied = _field_paths(config)
        conflicts = [(m, p) for (m, _), paths in managed.sets.items() if m != manager
                     for p in sorted(paths & applied) if _get_path(old, p) != _get_path(config, p)]
        if conflicts and not force:
            raise _apply_conflict(conflicts, managed.describe(rt.api_version))
        for other, path in conflicts:
            for key, paths in managed.sets.items():
                if key[0] == other:
                    paths.discard(path)
        new = copy.deepcopy(old) if old is not None else {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": {}}
        for path in managed.sets.get((manager, "Apply"), set()) - applied:
            if not managed.owned_by_others(manager, path):
                _delete_path(new, path)
        _merge_applied(new, config)
        managed.sets[(manager, "Apply")] = applied
        managed.applier = (manager, "Apply")
        code = 200 if old is not None else 201
        return code, self._write(rt, namespace, name, new, old, manager=manager, managed=managed, dry_run=dry_run)

    def _delete(self, rt: ResourceType, namespace: str, name: str, dry_run: bool) -> tuple[int, Obj]:
        old = self._objects.get((rt.resource, namespace, name))
        if old is None:
            raise not_found(rt, name)
        if not dry_run:
            del self._objects[(rt.resource, namespace, name)]
        if rt.resource == "pods":  # the real server answers graceful deletions with the object
            return 200, copy.deepcopy(old)
        details = {**_details(rt, name), "uid": old["metadata"]["uid"]}
        return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _delete_collection(self, rt: ResourceType, namespace: str, query: dict[str, str], dry_run: bool) -> tuple[int, Obj]:
        listing = self._list(rt, namespace, query)
        if not dry_run:
            for item in listing["items"]:
                del self._objects[(rt.resource, namespace, item["metadata"]["name"])]
        return 200, listing

    # -- the one write path ------------------------------------------------------------------

    def _write(self, rt: ResourceType, namespace: str, name: str, obj: Obj, old: Obj | None, *, manager: str,
               managed: ManagedFields | None = None, dry_run: bool = False) -> Obj:
        """Normalize, validate, stamp metadata and store ``obj``; returns the stored copy."""
        new = copy.deepcopy(obj)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            raise cannot_decode(rt, "json: cannot unmarshal into Go struct field .metadata of type v1.ObjectMeta")
        meta["name"], meta["namespace"] = name, namespace
        for key in SERVER_METADATA:
            meta.pop(key, None)
        _check_string_map(rt, meta.get("labels"), "ObjectMeta.metadata.labels")
        _check_string_map(rt, meta.get("annotations"), "ObjectMeta.metadata.annotations")
        errors = _validate_metadata(meta, rt)
        normalize = _NORMALIZERS.get(rt.resource)
        if normalize is not None:
            errors += normalize(rt, new, old)
        if errors:
            raise _invalid_object(rt, name, errors)
        if old is not None:
            meta["uid"], meta["creationTimestamp"] = old["metadata"]["uid"], old["metadata"]["creationTimestamp"]
        else:
            meta["uid"], meta["creationTimestamp"] = str(uuid.uuid4()), self.clock.text()
        if rt.generation:
            generation = old["metadata"].get("generation", 1) if old is not None else 1
            meta["generation"] = generation + 1 if old is not None and old.get("spec") != new.get("spec") else generation
        if managed is None:
            managed = ManagedFields(old, self.clock.text())
            managed.record_update(manager, old, new)
        elif managed.applier is not None and (old is None or _without_server_metadata(old) != _without_server_metadata(new)):
            managed.times[managed.applier] = managed.now  # as the real managedFieldsUpdater: only when the object changed
        entries = managed.render(rt.api_version)
        if entries:
            meta["managedFields"] = entries
        if old is not None:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if _without_times(old) == _without_times(new):
                return copy.deepcopy(old)  # a no-op write changes nothing, not even resourceVersion
        if dry_run:
            return new
        self._resource_version += 1
        meta["resourceVersion"] = str(self._resource_version)
        self._objects[(rt.resource, namespace, name)] = new
        if rt.resource == "deployments":
            self._record_history(namespace, name, new, created=old is None)
        return copy.deepcopy(new)

    def _record_history(self, namespace: str, name: str, deployment: Obj, created: bool) -> None:
        template_meta = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
        annotations = dict(template_meta.get("annotations") or {})
        history = self._history.setdefault((namespace, name), [])
        if created:
            history.clear()
        if created or history[-1:] != [annotations]:
            history.append(annotations)

    # -- discovery ---------------------------------------------------------------------------

    def _discovery(self, path: str) -> Obj | None:
        groups = sorted({rt.group for rt in RESOURCE_TYPES if rt.group})
        if path == "/api":
            host = self.host if self.running else ""
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_entry(g) for g in groups]}
        if path.startswith("/apis/") and path.count("/") == 2 and path[6:] in groups:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(path[6:])}
        for group_version in ["v1", *(f"{g}/v1" for g in groups)]:
            if path == ("/api/v1" if group_version == "v1" else f"/apis/{group_version}"):
                resources = [{"name": rt.resource, "singularName": rt.singular, "namespaced": True, "kind": rt.kind,
                              "verbs": VERBS} for rt in RESOURCE_TYPES if rt.api_version == group_version]
                return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
        return None

    # The built-in ``list`` is shadowed below this point in the class body; keep this method last.
    def list(self, resource: str, namespace: str | None = None) -> ObjList:  # noqa: A003
        """Stored objects of a resource (copies, with kind and apiVersion), in one namespace or all."""
        rt = _resource_type(resource)
        with self._lock:
            return [copy.deepcopy(obj) for obj in self._select(rt, namespace or "", {})]


# -- request helpers ---------------------------------------------------------------------------

def _resource_type(resource: str) -> ResourceType:
    rt = BY_RESOURCE.get(resource) or BY_KIND.get(resource)
    if rt is None:
        raise ValueError(f"the kube API stand-in does not serve {resource!r}")
    return rt


def _group_entry(group: str) -> Obj:
    version = {"groupVersion": f"{group}/v1", "version": "v1"}
    return {"name": group, "versions": [version], "preferredVersion": version}


_CORE_PATH = re.compile(r"/api/(?P<version>v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?")
_GROUP_PATH = re.compile(
    r"/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?")


def _parse_resource_path(path: str) -> tuple[ResourceType, str, str]:
    match = _CORE_PATH.fullmatch(path) or _GROUP_PATH.fullmatch(path)
    if not match:
        raise path_not_found()
    parts = match.groupdict()
    rt = BY_RESOURCE.get(unquote(parts["resource"]))
    if rt is None or rt.group != (parts.get("group") or "") or rt.version != parts["version"]:
        raise path_not_found()
    namespace, name = unquote(parts["ns"] or ""), unquote(parts["name"] or "")
    if not namespace and name:
        raise path_not_found()
    return rt, namespace, name


def _verb(method: str, name: str, namespace: str, query: dict[str, str]) -> str:
    if method == "GET":
        if name:
            return "get"
        return "watch" if query.get("watch", "").lower() in ("true", "1") else "list"
    if not namespace:
        raise method_not_allowed()
    verb = {("POST", False): "create", ("PUT", True): "update", ("PATCH", True): "patch",
            ("DELETE", True): "delete", ("DELETE", False): "deletecollection"}.get((method, bool(name)))
    if verb is None:
        raise method_not_allowed()
    return verb


def _decode(rt: ResourceType, body: bytes, content_type: str) -> Obj:
    try:
        obj = yaml.safe_load(body) if "yaml" in content_type else json.loads(body or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None
    if not isinstance(obj, dict):
        raise bad_request("couldn't get version/kind; json parse error: the body is not a JSON object")
    if obj.get("apiVersion", rt.api_version) != rt.api_version:
        raise bad_request(f"the API version in the data ({obj['apiVersion']}) does not match the expected API version "
                          f"({rt.api_version})")
    if obj.get("kind", rt.kind) != rt.kind:
        raise bad_request(f"the kind in the data ({obj['kind']}) does not match the expected kind ({rt.kind})")
    return obj


def _check_namespace(meta: Obj, namespace: str) -> None:
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise bad_request("the namespace of the provided object does not match the namespace sent on the request")


def _subject_matches(subject: Obj, user: UserInfo, namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "ServiceAccount":
        return user.name == f"system:serviceaccount:{subject.get('namespace') or namespace}:{name}"
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    return False


def _rule_allows(rule: Obj, verb: str, rt: ResourceType, name: str) -> bool:
    def has(values: Any, wanted: str) -> bool:
        return "*" in (values or []) or wanted in (values or [])

    names = rule.get("resourceNames") or []
    return (has(rule.get("verbs"), verb) and has(rule.get("apiGroups"), rt.group) and has(rule.get("resources"), rt.resource)
            and (not names or name in names))


def _apply_conflict(conflicts: list[tuple[str, FieldPath]], shown: Mapping[str, str]) -> ApiError:
    """409 worded like k8s.io/apiserver's fieldmanager (``shown`` prints each manager as it does)."""
    def dotted(path: FieldPath) -> str:
        return "." + ".".join(path)

    if len(conflicts) == 1:
        manager, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {shown[manager]}: {dotted(path)}"
    else:
        lines = []
        for manager in sorted({m for m, _ in conflicts}):
            lines.append(f"conflicts with {shown[manager]}:")
            lines += [f"- {dotted(p)}" for m, p in conflicts if m == manager]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {shown[m]}", "field": dotted(p)}
              for m, p in conflicts]
    return ApiError(409, "Conflict", message, {"causes": causes})


def _without_server_metadata(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    for key in SERVER_METADATA:
        out.get("metadata", {}).pop(key, None)
    return out


def _without_times(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    for entry in out.get("metadata", {}).get("managedFields") or []:
        entry.pop("time", None)
    return out


class _Handler(LoopbackHandler):
    owner: KubeApiServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        code, payload = self.owner.handle(self.command, self.path, headers, body)
        if isinstance(payload, str):
            data, content_type = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = json.dumps(payload).encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
