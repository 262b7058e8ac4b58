"""The fast "valid" (schema_check.py) says valid exactly when jsonschema (the chart's schema, as Helm
checks it) finds no error: on the chart's example values and on mutations of every value in them
(wrong types, empty and malformed strings, out-of-range numbers, unknown and missing keys). It
never lets values through that `helm install` would refuse, and it answers every run of valid
values without asking jsonschema (else the speed it exists for is gone)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from binderhub_registry import schema_check
from binderhub_registry.values import chart_defaults, chart_schema, merge
from jsonschema import Draft7Validator

EXAMPLES = sorted((Path(__file__).parent / "chart" / "values").glob("*.yaml"))
REPLACEMENTS: list[Any] = [None, "", "Upper Case", "http://registry.example:5000", "a/b", 0, -1, 59, 3600, 1.5, 2.0, True, [], ["x"], {},
                           {"x": 1}]


def bases() -> list[dict[str, Any]]:
    return [merge(chart_defaults(), yaml.safe_load(path.read_text()) or {}) for path in EXAMPLES]


def paths(node: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))


def mutations(values: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path in list(paths(values)):
        *parents, last = path
        for replacement in [*REPLACEMENTS, "<deleted>"]:
            mutated = copy.deepcopy(values)
            parent = mutated
            for key in parents:
                parent = parent[key]
            if replacement == "<deleted>":
                del parent[last]
            else:
                parent[last] = copy.deepcopy(replacement)
            yield mutated
        mutated = copy.deepcopy(values)
        node = mutated
        for key in path:
            node = node[key]
        if isinstance(node, dict):
            node["unknownKey"] = "x"
            yield mutated


def test_the_example_values_are_answered_without_jsonschema():
    schema = chart_schema()
    assert EXAMPLES
    for values in bases():
        assert schema_check.is_valid(values, schema) is True


def test_its_verdict_is_jsonschemas_on_every_mutation_of_the_examples():
    schema = chart_schema()
    reference = Draft7Validator(schema)
    checked, disagreements = 0, []
    for base in bases():
        for values in mutations(base):
            try:
                fast = schema_check.is_valid(values, schema)
            except schema_check.Unsure:
                continue
            checked += 1
            if fast != reference.is_valid(values):
                disagreements.append(values)
    assert disagreements == []
    assert checked > 1000


def test_a_run_with_valid_values_does_not_import_jsonschema(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text(EXAMPLES[0].read_text())
    code = ("import sys; from binderhub_registry.values import load_values; load_values([sys.argv[1]]); "
            "print('jsonschema' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout == "False\n"


def schema_patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from schema_patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from schema_patterns(value)


def test_an_empty_value_matches_a_pattern_exactly_when_re_search_says_so():
    """The shortcut for empty values (no compiling ``^$|...`` patterns) answers as re.search does,
    for every pattern of the chart's schema, whatever other rule (minLength) also refuses ""."""
    patterns = sorted(set(schema_patterns(chart_schema())))
    assert any(p.startswith("^$|") for p in patterns) and any(not p.startswith("^$|") for p in patterns)
    for pattern in patterns:
        assert schema_check.is_valid("", {"pattern": pattern}) == (re.search(pattern, "") is not None), pattern
