"""Load the same values files a user gives `helm install -f`, merged like Helm, and validated
with the chart's own ``values.schema.json``.

The chart's ``values.yaml`` and ``values.schema.json`` ship inside the package (``data/``, a
copy kept identical by ``scripts/sync_chart_data.py`` and checked by the tests), so the CLI and
`helm install` accept and reject exactly the same values.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

from binderhub_registry import schema_check
from binderhub_registry.credentials import SECRET_NAMES
from binderhub_registry.errors import InvalidConfiguration

Values = dict[str, Any]


class HelmLoader(yaml.SafeLoader):
    """YAML as Helm reads values: Helm turns YAML into JSON, so an unquoted date stays the string
    it is written as (PyYAML alone would make it a ``datetime.date``)."""


HelmLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# The package is installed as a directory (never zipped): its data files are read from it directly,
# without importlib.resources (which imports zipfile, tempfile and shutil on every start).
PACKAGE_DIR = Path(__file__).resolve().parent


def _data_file(name: str) -> str:
    return (PACKAGE_DIR / "data" / name).read_text(encoding="utf-8")


def chart_defaults() -> Values:
    defaults: Values = yaml.safe_load(_data_file("values.yaml"))
    return defaults


def chart_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_data_file("values.schema.json"))
    return schema


def merge(base: Values, override: Values) -> Values:
    """Deep-merge ``override`` into a copy of ``base`` the way Helm merges values files:
    maps merge key by key, anything else replaces, and ``null`` removes a key."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_values_file(path: str) -> Values:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidConfiguration(f"Values file {path} does not exist; pass the file you give `helm install -f`.") from None
    except OSError as exc:
        raise InvalidConfiguration(f"Cannot read values file {path} ({exc.strerror}); check the path and its permissions.") from None
    try:
        loaded = yaml.load(text, Loader=HelmLoader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidConfiguration(f"Values file {path} is not valid YAML{where}; fix its syntax.") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidConfiguration(
            f"Values file {path} must hold a YAML mapping (like registry: {{type: ...}}), not a {type(loaded).__name__}."
        )
    values: Values = _as_helm_reads(loaded, path, ())
    return values


def _as_helm_reads(node: Any, path: str, where: tuple[str, ...]) -> Any:
    """Map keys as strings (Helm's JSON has no other keys); a value JSON cannot hold (an explicit
    !!binary, !!set or !!timestamp) is refused with its place named."""
    if isinstance(node, str):
        return _unicode(node, path, where)
    if isinstance(node, dict):
        return {_unicode(str(key), path, where): _as_helm_reads(value, path, (*where, str(key))) for key, value in node.items()}
    if isinstance(node, list):
        return [_as_helm_reads(value, path, (*where, str(index))) for index, value in enumerate(node)]
    if node is None or isinstance(node, str | int | float | bool):
        return node
    raise InvalidConfiguration(
        f"{'.'.join(where) or 'A value'} in values file {path} is a YAML {type(node).__name__}, which Helm cannot pass on; "
        f"write it as a plain string, number, list or mapping."
    )


def _unicode(text: str, path: str, where: tuple[str, ...]) -> str:
    """``text`` with escaped surrogate pairs (``"\\ud83d\\ude00"``, as JSON writes them) joined; an
    unpaired surrogate is no character at all and is refused."""
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        raise InvalidConfiguration(
            f"{'.'.join(where) or 'A key'} in values file {path} holds an unpaired \\uD800-\\uDFFF escape, which is no character; "
            f"fix the escape."
        ) from None


def load_values(paths: list[str]) -> Values:
    """Chart defaults, then each file in order, then validation against the chart's schema."""
    values = chart_defaults()
    for path in paths:
        values = merge(values, read_values_file(path))
    validate(values)
    return values


def validate(values: Values) -> None:
    """Nothing when valid; else ``InvalidConfiguration`` with jsonschema's most specific error."""
    schema = chart_schema()
    try:
        if schema_check.is_valid(values, schema):
            return
    except schema_check.Unsure:
        pass
    from jsonschema import Draft7Validator  # noqa: PLC0415  (the authority on invalid values; slow to import)

    validator = Draft7Validator(schema)
    errors = sorted(validator.iter_errors(values), key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path))))
    if not errors:
        return
    error = _most_specific(errors[0])
    raise InvalidConfiguration(describe_schema_error(error, values))


# Values the schema requires to be set (some only with a registry type or mode), in the words the
# CLI and the chart (chart/templates/_value_rules.tpl, generated with these) refuse an empty one.
_PROJECT_EMPTY = ("{field} is empty: set it to the GCP project id (it may be left out only with "
                  "registry.google.adminKeySecret or registry.google.mode=validate, whose key names the project).")
EMPTY_VALUES = {
    **{
        f"registry.{section}.password": f"registry.{section}.password is empty; set it, or name a Secret with a `password` key "
        f"in registry.existingSecret."
        for section in ("generic", "dockerhub")
    },
    "registry.google.key": "registry.google.key is empty: registry.google.mode=validate needs a service account key; set it "
    "(e.g. --set-file registry.google.key=key.json), or name a Secret with a key.json key in registry.existingSecret.",
    "registry.gcr.project": _PROJECT_EMPTY.format(field="registry.gcr.project"),
    "registry.artifactRegistry.project": _PROJECT_EMPTY.format(field="registry.artifactRegistry.project"),
    "image.repository": "image.repository is empty: set it to the hook image you pushed "
    "(--set image.repository=\"$HOOK_IMAGE\", with HOOK_IMAGE exported in the same shell).",
}


def _most_specific(error: Any) -> Any:
    # if/then failures carry the failing sub-error in its context; report the leaf.
    while error.context:
        error = sorted(error.context, key=lambda e: -len(list(e.absolute_path)))[0]
    return error


def describe_schema_error(error: Any, values: Values | None = None) -> str:
    """One sentence naming the field and the rule; the given value is quoted only for fields
    that are names, URLs or choices (never for a password, a key or a value of the wrong type)."""
    path = ".".join(str(p) for p in error.absolute_path)
    instance = error.instance
    validator = error.validator
    field = path or "values"
    if validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a required value"
        required = f"{path}.{missing}" if path else missing
        return f"{required} is required; set it in your values."
    if validator == "additionalProperties":
        unknown = sorted(set(instance) - set(error.schema.get("properties", {}))) if isinstance(instance, dict) else []
        names = ", ".join(f"{path}.{u}" if path else u for u in unknown) or path
        return f"Unknown value {names}; remove it or check its spelling against the chart's values.yaml."
    if validator == "enum":
        allowed = " | ".join(str(v) for v in error.validator_value)
        return f"{field} must be one of {allowed}{_got(error)}."
    if validator == "minLength" and instance == "" and path in EMPTY_VALUES:
        return EMPTY_VALUES[path]
    if validator == "minLength" and instance == "":
        registry_type = _registry_type(values or {})
        return f"{field} must be set" + (f" for registry.type={registry_type}." if registry_type else "; set it in your values.")
    if validator == "pattern":
        hint = error.schema.get("description", "").rstrip(".")
        if hint:
            return f"{field} must be {hint[0].lower() + hint[1:]}{_got(error)}."
        return f"{field} has an invalid format{_got(error)}; check it against the chart's values.yaml."
    if validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, str) else " or ".join(error.validator_value)
        return f"{field} must be of type {expected}, not {_json_type(instance)}."
    rule = SCHEMA_RULES.get(str(validator), "does not satisfy the schema rule {validator} ({value})")
    return f"{field} {rule.format(validator=validator, value=error.validator_value)}; check it against the chart's values.yaml."


# What a schema keyword requires, in words (never with the given value, which may be a secret).
SCHEMA_RULES = {
    "minimum": "must be at least {value}",
    "maximum": "must be at most {value}",
    "exclusiveMinimum": "must be more than {value}",
    "exclusiveMaximum": "must be less than {value}",
    "minLength": "must be at least {value} characters long",
    "maxLength": "must be at most {value} characters long",
    "minItems": "must have at least {value} items",
    "maxItems": "must have at most {value} items",
    "uniqueItems": "must not repeat items",
    "const": "must be {value}",
}
KNOWN_TYPES = frozenset({"gcr", "artifact-registry", "dockerhub", "generic", "ecr"})


def _got(error: Any) -> str:
    """`` (got 'value')`` for a string in a non-secret field, else the JSON type, else nothing."""
    last = str(error.absolute_path[-1]) if error.absolute_path else ""
    if not isinstance(error.instance, str):
        return f" (got a JSON {_json_type(error.instance)})"
    if last in SECRET_NAMES:  # never quoted, whatever the rule
        return ""
    return f" (got {_show(error.instance)})"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", int: "integer", float: "number"}.get(type(value), "null")


def _registry_type(values: Values) -> str:
    """registry.type of the values being validated, or "" when it is not a known type."""
    registry = values.get("registry")
    registry_type = registry.get("type") if isinstance(registry, dict) else None
    return registry_type if isinstance(registry_type, str) and registry_type in KNOWN_TYPES else ""


# scheme://user:password@ at the start of a URL: never echoed (CI logs keep what Helm prints).
USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@")


def _show(value: str) -> str:
    text = repr(USERINFO.sub(r"\1***@", value))
    return text if len(text) <= 60 else text[:57] + "..."


def secret_values(values: Values) -> list[str]:
    """The secrets written in values: every registry.<section> value named in SECRET_NAMES."""
    sections = [section for section in values["registry"].values() if isinstance(section, dict)]
    return [value for section in sections for name, value in section.items() if name in SECRET_NAMES and isinstance(value, str) and value]
