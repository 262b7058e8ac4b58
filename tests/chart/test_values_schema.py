"""chart/values.schema.yaml is the one source of the values: the generated values.schema.json (Helm's
and the package's copy for the CLI) and the values reference chart/README.md must be what it
generates, and it must describe exactly the values of values.yaml, each of which has a comment."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "sync_chart_data.py"


@pytest.fixture(scope="module")
def sync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_chart_data", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def sources() -> tuple[dict, dict, str]:
    text = (ROOT / "chart" / "values.yaml").read_text()
    return yaml.safe_load((ROOT / "chart" / "values.schema.yaml").read_text()), yaml.safe_load(text), text


def test_generated_schema_package_copies_and_values_reference_match_their_sources():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_every_value_is_described_commented_and_in_both_sources(sync, sources):
    assert sync.disagreements(*sources) == []


def test_a_value_missing_from_either_source_or_without_a_comment_is_named(sync, sources):
    schema, values, text = sources
    del schema["properties"]["image"]["properties"]["tag"]["description"]
    schema["properties"]["hook"]["properties"]["priorityClassName"] = {"type": "string", "description": "Priority class."}
    values["cleanup"]["colour"] = "red"
    text = text.replace("  # -- Always | IfNotPresent | Never.\n", "")
    assert sync.disagreements(schema, values, text) == [
        "image.tag: no description in values.schema.yaml",
        "hook.priorityClassName: described in values.schema.yaml but not in values.yaml (or give x-when-unset)",
        "cleanup.colour: in values.yaml but not described in values.schema.yaml",
        "image.pullPolicy: no comment above it in values.yaml",
    ]


def _walk(node: object) -> list[dict]:
    """Every object in a JSON document."""
    if isinstance(node, dict):
        return [node, *(found for child in node.values() for found in _walk(child))]
    if isinstance(node, list):
        return [found for child in node for found in _walk(child)]
    return []


def test_the_packaged_schema_keeps_every_rule_and_only_the_hints_the_cli_puts_in_its_errors():
    schema = json.loads((ROOT / "hooks" / "binderhub_registry" / "data" / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    for node in _walk(schema):
        assert not [key for key in node if key.startswith("x-")]
        if "description" in node:
            assert "pattern" in node, node  # a description in the JSON is a pattern's hint
    prefix = schema["properties"]["registry"]["properties"]["prefix"]
    assert prefix["description"].startswith("the start of Docker repository path components")
    assert "allOf" in schema["properties"]["registry"]


def test_helms_schema_keeps_only_what_helm_prints_readably_and_every_unknown_key_stays_refused():
    helm_schema = json.loads((ROOT / "chart" / "values.schema.json").read_text())
    full = json.loads((ROOT / "hooks" / "binderhub_registry" / "data" / "values.schema.json").read_text())
    for node in _walk(helm_schema):
        assert not {"pattern", "minLength", "maxLength", "allOf", "if", "then", "description"} & set(node), node
    closed = sum(1 for node in _walk(full) if node.get("additionalProperties") is False)
    assert closed > 20
    assert sum(1 for node in _walk(helm_schema) if node.get("additionalProperties") is False) == closed


def test_every_rule_helms_schema_leaves_out_is_checked_by_the_chart(sync, sources):
    """Each pattern, length and conditional rule of the packaged schema is a rule of
    _value_rules.tpl, which checkValueRules refuses with `fail`."""
    full = json.loads((ROOT / "hooks" / "binderhub_registry" / "data" / "values.schema.json").read_text())
    rules = list(sync.value_rules(full))
    template = (ROOT / "chart" / "templates" / "_value_rules.tpl").read_text()
    patterns = {node["pattern"] for node in _walk(full) if "pattern" in node}
    assert patterns == {check["pattern"] for rule in rules for check in rule["checks"] if "pattern" in check}
    conditional = [rule for rule in rules if rule["when"]]
    assert len(conditional) == sum(len([node for node in _walk(branch["then"]) if "minLength" in node])
                                   for branch in full["properties"]["registry"]["allOf"])
    for rule in rules:
        assert json.dumps(rule["path"]) in template


def test_the_values_reference_lists_every_value_with_its_type_default_and_description(sync, sources):
    readme = (ROOT / "chart" / "README.md").read_text()
    schema, values, _ = sources
    for path, _node in sync.properties(schema):
        assert f"| `{'.'.join(path)}` |" in readme
    assert '| `registry.prefix` | string | `"binder-"` | Last part of BinderHub\'s `image_prefix`' in readme
    assert "| `cleanup.backoffLimit` | integer | unset: `hook.backoffLimit` | Retries of the cleanup Job. |" in readme
