"""Harbor's published API (``swagger.yaml``, API v2.0) as the contract the Harbor stand-in and the
hook are held to: every request the hook sends and every answer the stand-in gives is checked
against it, so neither can drift from Harbor.

The document is third-party test data, never committed: it is read from
``../shared/reference/harbor/swagger.yaml`` (beside the repository, or beside its main checkout
for a worktree), or from ``$BINDERHUB_REGISTRY_HARBOR_SWAGGER``; without it the tests that need it
fail with one sentence saying where it was looked for.

Schemas are validated by ``openapi-schema-validator`` (its OpenAPI 3.0 dialect, the JSON Schema
subset Swagger 2.0 schema objects also use); the one Swagger 2.0 extension Harbor's document
relies on, ``x-nullable``, is read as 3.0's ``nullable``. This module only finds, for a method and
a path, the operation, its parameters and the schemas to apply.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

ROOT = Path(__file__).resolve().parents[2]
SWAGGER_ENV = "BINDERHUB_REGISTRY_HARBOR_SWAGGER"
RELATIVE = Path("shared") / "reference" / "harbor" / "swagger.yaml"


def _candidates() -> list[Path]:
    paths = [Path(os.environ[SWAGGER_ENV])] if os.environ.get(SWAGGER_ENV) else []
    paths.append(ROOT.parent / RELATIVE)
    common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True)
    if common.returncode == 0 and common.stdout.strip():
        paths.append(Path(common.stdout.strip()).parent.parent / RELATIVE)
    return list(dict.fromkeys(paths))


@functools.cache
def swagger_document() -> dict[str, Any]:
    """Harbor's swagger.yaml, or a test failure saying where it was looked for."""
    for path in _candidates():
        if path.is_file():
            document: dict[str, Any] = _nullable(yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
            return document
    pytest.fail(f"Harbor's API definition (swagger.yaml) is not at {' or '.join(map(str, _candidates()))}: "
                f"clone the repository with shared/ beside it, or set {SWAGGER_ENV} to the file.")


def _nullable(node: Any) -> Any:
    """Swagger 2.0's ``x-nullable: true`` as OpenAPI 3.0's ``nullable: true``."""
    if isinstance(node, dict):
        out = {key: _nullable(value) for key, value in node.items()}
        if out.get("x-nullable") is True:
            out["nullable"] = True
        return out
    if isinstance(node, list):
        return [_nullable(value) for value in node]
    return node


# Statuses Harbor's handlers answer that its document leaves out, each with Harbor's `Errors` body:
# listing robot accounts checks the caller (src/server/v2.0/handler/robot.go: requireAccess, 401
# without and 403 with too few permissions), and a robot name taken is a ConflictError (409). Only
# these are accepted beyond the document, and their bodies are still checked.
UNDOCUMENTED_ERRORS: dict[tuple[str, str], frozenset[int]] = {
    ("GET", "/robots"): frozenset({401, 403}),
    ("POST", "/robots"): frozenset({409}),
}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # e.g. /robots/{robot_id}
    spec: dict[str, Any]


class HarborContract:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.base = document["basePath"]
        self._templates = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"), template)
            for template in document["paths"]
        ]
        self._validators: dict[str, OAS30Validator] = {}

    # -- lookup ------------------------------------------------------------------------------

    def operation(self, method: str, path: str) -> Operation | None:
        """The documented operation for ``method`` on ``path`` (below the base path), or None.
        A literal path wins over a template (``/projects/x`` vs ``/projects/{id}``)."""
        matches = [template for pattern, template in self._templates if pattern.match(path)]
        matches.sort(key=lambda template: template.count("{"))
        for template in matches:
            spec = self.document["paths"][template].get(method.lower())
            if spec is not None:
                return Operation(method.upper(), template, spec)
        return None

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.document
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _validate(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        key = repr(schema) if "$ref" not in schema else schema["$ref"]
        validator = self._validators.get(key)
        if validator is None:
            rooted = {**schema, "definitions": self.document["definitions"]}
            validator = self._validators[key] = OAS30Validator(rooted, format_checker=oas30_format_checker)
        return [f"{where}: {error.message} at {'/'.join(map(str, error.absolute_path)) or 'top'}"
                for error in validator.iter_errors(value)]

    # -- checks ------------------------------------------------------------------------------

    def check_request(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                      body: Any, has_body: bool) -> list[str]:
        """What in this request Harbor's document does not allow ([] when it is all documented)."""
        operation = self.operation(method, path)
        if operation is None:
            return [f"{method} {path}: no such operation in Harbor's API"]
        where = f"{method} {operation.template}"
        problems: list[str] = []
        parameters = [self._resolve(p) for p in operation.spec.get("parameters", [])]
        known_query = {p["name"] for p in parameters if p["in"] == "query"}
        for name in query:
            if name not in known_query:
                problems.append(f"{where}: query parameter {name!r} is not documented")
        lowered = {key.lower(): value for key, value in headers.items()}
        for parameter in parameters:
            name, place = parameter["name"], parameter["in"]
            if place == "body":
                if not has_body:
                    if parameter.get("required"):
                        problems.append(f"{where}: the required body {name!r} is missing")
                    continue
                problems += self._validate(parameter["schema"], body, f"{where} body")
                continue
            values = {"query": query.get(name, []), "header": [lowered[name.lower()]] if name.lower() in lowered else []}.get(place)
            if place == "path":
                values = [_path_value(operation.template, path, name)]
            if not values:
                if parameter.get("required"):
                    problems.append(f"{where}: required {place} parameter {name!r} is missing")
                continue
            for value in values:
                problems += self._validate(_simple_schema(parameter), _typed(parameter, value), f"{where} {place} {name}")
        if has_body and not any(p["in"] == "body" for p in parameters):
            problems.append(f"{where}: a body is sent to an operation that takes none")
        return problems

    def check_response(self, method: str, path: str, status: int, body: Any, has_body: bool) -> list[str]:
        """What in this answer Harbor's document does not allow."""
        operation = self.operation(method, path)
        if operation is None:
            return [f"{method} {path}: no such operation in Harbor's API"]
        where = f"{method} {operation.template} -> {status}"
        responses = operation.spec["responses"]
        response = responses.get(str(status)) or responses.get("default")
        if response is None and status in UNDOCUMENTED_ERRORS.get((operation.method, operation.template), ()):
            response = {"schema": {"$ref": "#/definitions/Errors"}}
        if response is None:
            return [f"{where}: status {status} is not documented for this operation"]
        response = self._resolve(response)
        schema = response.get("schema")
        if schema is None:
            return [f"{where}: a body is answered where the document has none"] if has_body else []
        if not has_body:
            return [f"{where}: no body, but the document gives one"]
        return self._validate(schema, body, f"{where} body")


def _path_value(template: str, path: str, name: str) -> str:
    pattern = re.sub(r"\\\{([^}]+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template))
    match = re.match("^" + pattern + "$", path)
    return match.group(name) if match else ""


def _simple_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "format", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "items")
    return {key: parameter[key] for key in keys if key in parameter}


def _typed(parameter: dict[str, Any], value: str) -> Any:
    """A query, header or path value as the type the document declares (it stays a string when it
    does not parse, so the schema reports it)."""
    kind = parameter.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


@functools.cache
def harbor_contract() -> HarborContract:
    return HarborContract(swagger_document())
