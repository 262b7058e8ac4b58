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


def test_the_json_schema_keeps_the_rules_and_only_the_hints_the_cli_puts_in_its_errors(sync, sources):
    schema = json.loads((ROOT / "chart" / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False

    def walk(node: object) -> None:
        if isinstance(node, dict):
            assert not [key for key in node if key.startswith("x-")]
            if "description" in node:
                assert "pattern" in node, node  # a description in the JSON is a pattern's hint
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(schema)
    prefix = schema["properties"]["registry"]["properties"]["prefix"]
    assert prefix["description"].startswith("the start of Docker repository path components")


def test_the_values_reference_lists_every_value_with_its_type_default_and_description(sync, sources):
    readme = (ROOT / "chart" / "README.md").read_text()
    schema, values, _ = sources
    for path, _node in sync.properties(schema):
        assert f"| `{'.'.join(path)}` |" in readme
    assert '| `registry.prefix` | string | `"binder-"` | Last part of BinderHub\'s `image_prefix`' in readme
    assert "| `cleanup.backoffLimit` | integer | unset: `hook.backoffLimit` | Retries of the cleanup Job. |" in readme
