"""A fast "valid" for values, so that valid values (every run of the hook) do not wait for
jsonschema: importing it (attrs, referencing, rpds) costs about 40 ms, a third of the CLI's
start. jsonschema stays the authority: when this check says "invalid", or meets a keyword it does
not implement (``Unsure``), values.validate() asks jsonschema, which decides and words the error.

It implements the Draft 7 keywords the chart's schema uses, with jsonschema's semantics (its type
checks, ``re.search`` for patterns, booleans never equal to numbers), and ignores annotations.
tests/test_schema_check.py compares its verdicts with jsonschema's on the chart's values and on
mutations of every value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

ANNOTATIONS = frozenset({"$schema", "$comment", "title", "description", "default", "examples"})


class Unsure(Exception):
    """A keyword (or form of one) this check does not implement: jsonschema must decide."""


def is_valid(instance: Any, schema: Any) -> bool:
    """Whether ``instance`` is valid against the Draft 7 ``schema``; raises ``Unsure``."""
    if schema is True or schema is False:
        return bool(schema)
    if not isinstance(schema, dict):
        raise Unsure(f"schema {schema!r}")
    for keyword, value in schema.items():
        if keyword in ANNOTATIONS or keyword.startswith("x-") or keyword in ("then", "else"):
            continue
        check = KEYWORDS.get(keyword)
        if check is None:
            raise Unsure(keyword)
        if not check(instance, value, schema):
            return False
    return True


def _is_type(instance: Any, name: str) -> bool:
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "string":
        return isinstance(instance, str)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if isinstance(instance, bool) or not isinstance(instance, (int, float)):
        return False
    if name == "number":
        return True
    if name == "integer":
        return isinstance(instance, int) or instance.is_integer()
    raise Unsure(f"type {name!r}")


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: booleans are not numbers; containers compare element-wise."""
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(_equal(one[key], two[key]) for key in one)
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, bool) != isinstance(two, bool):
        return False
    return bool(one == two)


def _number(instance: Any) -> bool:
    return isinstance(instance, (int, float)) and not isinstance(instance, bool)


def _properties(instance: Any, properties: dict[str, Any], schema: dict[str, Any]) -> bool:
    if not isinstance(instance, dict):
        return True
    return all(is_valid(instance[name], sub) for name, sub in properties.items() if name in instance)


def _additional(instance: Any, additional: Any, schema: dict[str, Any]) -> bool:
    if not isinstance(instance, dict):
        return True
    patterns = schema.get("patternProperties", {})
    extra = [name for name in instance
             if name not in schema.get("properties", {}) and not any(re.search(pattern, name) for pattern in patterns)]
    return all(is_valid(instance[name], additional) for name in extra)


def _pattern_properties(instance: Any, patterns: dict[str, Any], schema: dict[str, Any]) -> bool:
    if not isinstance(instance, dict):
        return True
    return all(is_valid(value, sub) for name, value in instance.items() for pattern, sub in patterns.items() if re.search(pattern, name))


def _items(instance: Any, items: Any, schema: dict[str, Any]) -> bool:
    if not isinstance(instance, list):
        return True
    if isinstance(items, list):
        raise Unsure("items as a list")
    return all(is_valid(item, items) for item in instance)


def _if(instance: Any, condition: Any, schema: dict[str, Any]) -> bool:
    branch = "then" if is_valid(instance, condition) else "else"
    return is_valid(instance, schema.get(branch, True))


def _matches(pattern: str, text: str) -> bool:
    """``re.search``; an empty value against a pattern that allows it (``^$|...``, the chart's
    spelling of "or empty") matches without compiling it: most values are empty by default, and
    compiling the long URL patterns costs milliseconds at every start."""
    if not text and pattern.startswith("^$|"):
        return True
    return re.search(pattern, text) is not None


def _type(instance: Any, names: Any, schema: dict[str, Any]) -> bool:
    return any(_is_type(instance, name) for name in ([names] if isinstance(names, str) else names))


KEYWORDS: dict[str, Callable[[Any, Any, dict[str, Any]], bool]] = {
    "type": _type,
    "enum": lambda instance, allowed, _: any(_equal(instance, value) for value in allowed),
    "const": lambda instance, value, _: _equal(instance, value),
    "pattern": lambda instance, pattern, _: not isinstance(instance, str) or _matches(pattern, instance),
    "minLength": lambda instance, length, _: not isinstance(instance, str) or len(instance) >= length,
    "maxLength": lambda instance, length, _: not isinstance(instance, str) or len(instance) <= length,
    "minimum": lambda instance, bound, _: not _number(instance) or instance >= bound,
    "maximum": lambda instance, bound, _: not _number(instance) or instance <= bound,
    "required": lambda instance, names, _: not isinstance(instance, dict) or all(name in instance for name in names),
    "properties": _properties,
    "additionalProperties": _additional,
    "patternProperties": _pattern_properties,
    "items": _items,
    "allOf": lambda instance, schemas, _: all(is_valid(instance, sub) for sub in schemas),
    "if": _if,
}
