"""No values file crashes the CLI: property-based tests.

`render` reads values exactly as `provision` does (merge, schema, provider settings), offline.
Whatever the file holds, it ends in exit 0, or exit 2 with one sentence; never exit 3 with
"Unexpected error", never a traceback. Two sources of files:

* values generated from the chart's own JSON schema (hypothesis-jsonschema): the schema accepts
  them, so the CLI must handle them;
* the chart's example values files, mutated: a leaf replaced by any YAML value (dates, huge
  numbers, NaN, lists, mappings, null), a key removed, an unknown key added.

Runs in process (``cli.main``), bounded by ``max_examples``, a few seconds each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from binderhub_registry import cli
from binderhub_registry.values import chart_schema
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "chart" / "values").glob("*.yaml"))
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

# Any value YAML can hold, as a user might write it: dates (written unquoted), huge and odd numbers.
LEAVES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
          | st.text(max_size=40) | st.dates() | st.datetimes() | st.just(10**400) | st.just("2026-11-29"))
ANY_VALUE = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                         max_leaves=6)


def render(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    path = tmp_path / "values.yaml"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    code = cli.main(["render", "--values", str(path)])
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def assert_clean_end(code: int, lines: list[str], text: str) -> None:
    assert code in (0, 2), f"exit {code}: {lines[-1:]} for\n{text}"
    if code == 2:
        last = lines[-1]
        assert last.startswith("error: ") and last.endswith("."), last
        assert "Unexpected error" not in last and "Traceback" not in "\n".join(lines)


def leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict) and node:
        return [p for key, value in node.items() for p in leaf_paths(value, (*path, key))] + [path]
    if isinstance(node, list) and node:
        return [p for index, value in enumerate(node) for p in leaf_paths(value, (*path, index))] + [path]
    return [path]


@st.composite
def mutated_examples(draw: st.DrawFn) -> str:
    values = yaml.safe_load(draw(st.sampled_from(EXAMPLES)).read_text())
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in leaf_paths(values) if p]
        if not paths:  # an earlier mutation removed everything
            break
        target = draw(st.sampled_from(paths))
        parent = values
        for key in target[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace" or not isinstance(parent, dict):
            parent[target[-1]] = draw(ANY_VALUE)
        elif action == "remove":
            del parent[target[-1]]
        else:
            parent[draw(st.text(min_size=1, max_size=8))] = draw(ANY_VALUE)
    return yaml.safe_dump(values, allow_unicode=True)


def schema_values() -> st.SearchStrategy[dict[str, Any]]:
    """Values from the chart's schema. Its per-type conditions (registry.allOf: what each
    registry.type requires) make hypothesis-jsonschema minutes slow, so values come from the schema
    without them, and each is completed with what its type requires, drawn from the same rules."""
    schema = chart_schema()
    conditions = schema["properties"]["registry"].pop("allOf")
    required = st.fixed_dictionaries({
        "generic": st.fixed_dictionaries({"url": st.sampled_from(["https://registry.example.org", "http://localhost:5000"]),
                                          "username": st.text(min_size=1, max_size=8).filter(lambda u: ":" not in u),
                                          "password": st.text(min_size=1, max_size=8)}),
        "dockerhub": st.fixed_dictionaries({"username": st.from_regex(r"\A[a-z0-9]{1,12}\Z"), "password": st.text(min_size=1, max_size=8)}),
        "artifactRegistry": st.fixed_dictionaries({"location": st.sampled_from(["us-central1", "europe", "us"])}),
    })
    assert len(conditions) >= 3  # the conditions this completes

    @st.composite
    def complete(draw: st.DrawFn) -> dict[str, Any]:
        values = draw(from_schema(schema))
        registry = values["registry"]
        for section, fields in draw(required).items():
            if draw(st.booleans()) or registry["type"] in (section, "artifact-registry" if section == "artifactRegistry" else ""):
                registry[section] = {**registry.get(section, {}), **fields}
        return values

    return complete()


@SETTINGS
@given(values=schema_values())
def test_values_the_schema_accepts_render_or_end_in_one_sentence(tmp_path, capsys, values):
    text = json.dumps(values)  # JSON is YAML
    assert_clean_end(*render(tmp_path, text, capsys), text)


@SETTINGS
@given(text=mutated_examples())
def test_mutated_example_values_render_or_end_in_one_sentence(tmp_path, capsys, text):
    assert_clean_end(*render(tmp_path, text, capsys), text)


@pytest.mark.parametrize("text", [
    "registry: {type: gcr, gcr: {project: binder-test}}\nrotation: {trigger: 2026-11-29}\n",
    "registry: {type: gcr, gcr: {project: binder-test}}\nrotation: {trigger: 2026-11-29T10:00:00Z}\n",
    "registry: {type: gcr, gcr: {project: binder-test}}\nrotation: {policy: interval, interval: 999999999999999999999d}\n",
    "registry: {type: gcr, gcr: {project: binder-test}}\nrotation: {revision: 100000000000000000000000000000000}\n",
    "registry: {type: gcr, gcr: {project: binder-test}, google: {propagationTimeoutSeconds: 1e400}}\n",
    "registry: {type: generic, generic: {url: 'https://r.example.org', username: u, password: !!binary aGk=}}\n",
    "registry: {type: generic, generic: {url: 'https://r.example.org', username: u, password: pw}}\n1: x\n",
    "registry: {type: generic, generic: {url: 'https://r.example.org', username: u, password: pw}}\n? [a, b]\n: x\n",
])
def test_the_known_crashes_end_in_one_sentence(tmp_path, capsys, text):
    code, lines = render(tmp_path, text, capsys)
    assert_clean_end(code, lines, text)


def test_an_unquoted_date_trigger_is_the_string_helm_passes(tmp_path, capsys):
    code, lines = render(tmp_path, "registry: {type: gcr, gcr: {project: binder-test}}\nrotation: {trigger: 2026-11-29}\n", capsys)
    assert code == 0, lines


def test_the_mutation_strategy_reaches_every_example_file():
    assert len(EXAMPLES) >= 5
    assert all(leaf_paths(yaml.safe_load(path.read_text())) for path in EXAMPLES)


