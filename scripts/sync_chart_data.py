#!/usr/bin/env python3
"""Generate everything that derives from the chart's values, from its two sources:
`chart/values.schema.yaml` (types, rules and a description of every value) and
`chart/values.yaml` (the defaults, one comment per key).

Generated: the package's `values.schema.json` (every rule; the CLI validates with it) and its copy
of values.yaml (`hooks/binderhub_registry/data/`); `chart/values.schema.json`, what Helm validates
with, holding only the rules whose refusals Helm prints readably (types, choices, bounds, unknown
keys, required keys); `chart/templates/_value_rules.tpl`, the other rules (patterns, lengths, the
values each registry type needs) as data that `binderhub-registry.checkValueRules` checks with
`fail` and the CLI's own sentences; and the values reference in `chart/README.md`. Also
`chart/templates/_helper_contract.tpl`, the registry helper's port, token mount and token Secret
name, from the CLI's `helper_contract.py`; and the BinderHub wiring from its one source, values.yaml
`binderhub:`: the binder pod's volume and mount the chart checks and mounts
(`chart/templates/_binderhub_wiring.tpl`) and the hook's companion file
(`hooks/binderhub_registry/templates/binderhub-values.yaml.j2`). So the CLI and
`helm install` accept and reject exactly the same values, with the same sentence. It also checks that the two
sources agree: every value of values.yaml is described in the schema and has a comment, and every
value the schema describes is in values.yaml or says what applies when unset (`x-when-unset`).

    scripts/sync_chart_data.py           write the generated files
    scripts/sync_chart_data.py --check   fail when they drift or the sources disagree (tests, CI)
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "chart"
PACKAGE_DATA = ROOT / "hooks" / "binderhub_registry" / "data"
SCHEMA_SOURCE = CHART / "values.schema.yaml"
VALUES = CHART / "values.yaml"

Node = dict[str, Any]
Path_ = tuple[str, ...]


def json_schema(source: Node) -> Node:
    """The schema Helm and the CLI validate with: the rules without the documentation. A pattern's
    x-pattern-hint becomes its `description`, the one the CLI puts in its error sentence."""
    def strip(node: Any) -> Any:
        if isinstance(node, list):
            return [strip(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: strip(value) for key, value in node.items() if key != "description" and not key.startswith("x-")}
        if "x-pattern-hint" in node:
            out["description"] = node["x-pattern-hint"]
        return out

    stripped: Node = strip(copy.deepcopy(source))
    stripped.pop("description", None)
    return stripped


# Keywords whose refusal Helm prints as a schema dump (a pattern's whole regular expression,
# `'allOf' failed ... minLength: got 0, want 1`): the chart checks them in its templates instead.
TEMPLATE_KEYWORDS = ("pattern", "minLength", "maxLength")
CONDITIONAL_KEYWORDS = ("allOf", "if", "then", "else")


def helm_schema(schema: Node) -> Node:
    """The JSON schema without the rules `binderhub-registry.checkValueRules` checks (and so
    without the hints, which only those rules use)."""
    def strip(node: Any) -> Any:
        if isinstance(node, list):
            return [strip(item) for item in node]
        if not isinstance(node, dict):
            return node
        drop = (*TEMPLATE_KEYWORDS, *CONDITIONAL_KEYWORDS, "description")
        return {key: strip(value) for key, value in node.items() if key not in drop}

    stripped: Node = strip(schema)
    return stripped


def _checks(node: Node) -> list[Node]:
    """The rules on one string value Helm's schema leaves out, in the schema's order (the order
    in which jsonschema reports them, so the CLI and the chart name the same one first)."""
    checks: list[Node] = []
    for key in node:
        if key == "pattern":
            hint = str(node.get("description", "")).rstrip(".")
            checks.append({"pattern": node["pattern"], "hint": hint[:1].lower() + hint[1:]})
        elif key in ("minLength", "maxLength"):
            checks.append({key: node[key]})
    return checks


def _conditions(node: Node, path: Path_) -> list[Node]:
    """An `if` of the chart's form (constants and choices of values, nested) as the values it
    requires: [{path, in: [...]}]."""
    found: list[Node] = []
    for name, child in node.get("properties", {}).items():
        if "const" in child:
            found.append({"path": [*path, name], "in": [child["const"]]})
        elif "enum" in child:
            found.append({"path": [*path, name], "in": list(child["enum"])})
        else:
            found.extend(_conditions(child, (*path, name)))
    return found


def value_rules(schema: Node, path: Path_ = (), when: list[Node] | None = None) -> Iterator[Node]:
    """Every value with rules Helm's schema leaves out: its path (`*` for any item or key), the
    conditions under which the rules apply, and the rules."""
    checks = _checks(schema)
    if checks and path:
        yield {"path": list(path), "when": when or [], "checks": checks}
    children = [(name, child) for name, child in schema.get("properties", {}).items()]
    children += [("*", child) for child in schema.get("patternProperties", {}).values()]
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            children.append(("*", schema[key]))
    for name, child in children:
        yield from value_rules(child, (*path, name), when)
    for branch in schema.get("allOf", []):
        if set(branch) - {"if", "then"}:
            raise ValueError(f"{'.'.join(path)}: allOf entries must be if/then, the form the chart's templates check")
        yield from value_rules(branch["then"], path, [*(when or []), *_conditions(branch["if"], path)])


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def value_rules_template(schema: Node, messages: dict[str, str], secret_fields: frozenset[str]) -> str:
    # In the order the CLI reports the first of several errors: shallowest first, then by path.
    rules = sorted(value_rules(schema), key=lambda rule: (len(rule["path"]), rule["path"]))
    lines = [json.dumps({**rule, "secret": rule["path"][-1] in secret_fields}, ensure_ascii=False) for rule in rules]
    empty = [f"{json.dumps(path)}: {json.dumps(text, ensure_ascii=False)}" for path, text in messages.items()]
    data = '{"rules": [\n' + ",\n".join(lines) + '\n],\n"emptyMessages": {\n' + ",\n".join(empty) + "\n}}"
    if any("{{" in text or "}}" in text for text in _strings([rules, messages])):
        raise ValueError("a rule holds '{{' or '}}', which would end the template's text")
    while "{{" in data or "}}" in data:  # JSON's own braces, kept apart from the template's
        data = data.replace("{{", "{ {").replace("}}", "} }")
    return "\n".join([
        "{{- /* Generated by scripts/sync_chart_data.py from values.schema.yaml; edit that. The rules on",
        "values that Helm's values.schema.json leaves out (its refusals would be schema dumps), checked",
        "by binderhub-registry.checkValueRules (_validate.tpl) with the CLI's sentences. */ -}}",
        '{{- define "binderhub-registry.valueRules" -}}',
        data,
        "{{- end -}}",
        "",
    ])


def properties(node: Node, path: Path_ = ()) -> Iterator[tuple[Path_, Node]]:
    """Every value the schema describes, depth first, in the schema's order."""
    for name, child in node.get("properties", {}).items():
        yield (*path, name), child
        yield from properties(child, (*path, name))


def value_at(values: Any, path: Path_) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False, None
        values = values[key]
    return True, values


def undescribed_values(values: Any, schema: Node, path: Path_ = ()) -> Iterator[Path_]:
    """Keys of values.yaml the schema does not describe (free-form maps such as annotations or
    resources are one value: their content is data, not chart values)."""
    if not isinstance(values, dict) or "properties" not in schema:
        return
    for key, value in values.items():
        child = schema["properties"].get(key)
        if child is None:
            yield (*path, key)
        else:
            yield from undescribed_values(value, child, (*path, key))


def commented_keys(values_text: str) -> dict[Path_, bool]:
    """Each key of values.yaml (block style), and whether a comment line sits right above it."""
    found: dict[Path_, bool] = {}
    stack: list[tuple[int, str]] = []
    previous = ""
    for line in values_text.splitlines():
        if not line.strip():
            continue
        match = re.match(r"^( *)([A-Za-z][\w.\-/]*):(\s|$)", line)
        if match:
            indent, key = len(match[1]), match[2]
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key))
            found[tuple(k for _, k in stack)] = previous.lstrip().startswith("#")
        previous = line
    return found


def disagreements(source: Node, values: Node, values_text: str) -> list[str]:
    problems = []
    described = dict(properties(source))
    for path, node in described.items():
        name = ".".join(path)
        if not str(node.get("description", "")).strip():
            problems.append(f"{name}: no description in values.schema.yaml")
        if "pattern" in node and "x-pattern-hint" not in node:
            problems.append(f"{name}: a pattern without x-pattern-hint (the CLI's error sentence needs it)")
        present, _ = value_at(values, path)
        if not present and "x-when-unset" not in node:
            problems.append(f"{name}: described in values.schema.yaml but not in values.yaml (or give x-when-unset)")
    for path in undescribed_values(values, source):
        problems.append(f"{'.'.join(path)}: in values.yaml but not described in values.schema.yaml")
    for path, commented in commented_keys(values_text).items():
        if path in described and not commented:
            problems.append(f"{'.'.join(path)}: no comment above it in values.yaml")
    return problems


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(node: Node, present: bool, value: Any) -> str:
    if not present:
        return "unset: " + _cell(node.get("x-when-unset", ""))
    if isinstance(value, dict) and "properties" in node:
        return ""
    return "`" + _cell(json.dumps(value)) + "`"


def _type(node: Node) -> str:
    kind = node.get("type", "")
    return " or ".join(kind) if isinstance(kind, list) else str(kind)


def values_reference(source: Node, values: Node, chart: Node) -> str:
    rows = []
    for path, node in properties(source):
        present, value = value_at(values, path)
        rows.append(f"| `{'.'.join(path)}` | {_type(node)} | {_default(node, present, value)} | {_cell(node['description'])} |")
    return "\n".join([
        f"# {chart['name']} chart",
        "",
        "<!-- Generated by scripts/sync_chart_data.py from values.schema.yaml and values.yaml; edit those. -->",
        "",
        f"{chart['description']}. How to install and use it: the [project README](../README.md).",
        "",
        "## Values",
        "",
        "Defaults are those of `values.yaml`; `helm install` rejects values the schema does not allow.",
        "",
        "| Key | Type | Default | Description |",
        "|---|---|---|---|",
        *rows,
        "",
    ])


def helper_contract_template(port: int, token_dir: str, token_secret_suffix: str) -> str:
    """The chart's defines of the registry helper's constants, from the CLI's (helper_contract.py)."""
    return "\n".join([
        "{{- /* Generated by scripts/sync_chart_data.py from hooks/binderhub_registry/helper_contract.py; edit that.",
        "The registry helper's port, token mount and token Secret name, as the CLI uses them. */ -}}",
        f'{{{{- define "binderhub-registry.helperPort" -}}}}{port}{{{{- end -}}}}',
        f'{{{{- define "binderhub-registry.helperTokenDir" -}}}}{token_dir}{{{{- end -}}}}',
        '{{- define "binderhub-registry.helperTokenSecretName" -}}',
        f'{{{{- printf "%s{token_secret_suffix}" (include "binderhub-registry.secretName" .) -}}}}',
        "{{- end -}}",
        "",
    ])


# The BinderHub wiring has one source, chart/values.yaml `binderhub:` (what a release gives BinderHub
# when output.secretName is unset). These of its values are the release's object names: in the
# chart's defines they become the names' defines, in the companion file the template's variables.
WIRING_NAMES: dict[tuple[str | int, ...], tuple[str, str]] = {
    ("extraVolumes", 0, "projected", "sources", 0, "secret", "name"): ("secretName", "secret_name"),
    ("extraVolumes", 0, "projected", "sources", 1, "configMap", "name"): ("settingsName", "settings_name"),
    ("extraVolumes", 0, "projected", "sources", 2, "secret", "name"): ("helperTokenSecretName", "helper_token_secret_name"),
    ("jupyterhub", "imagePullSecrets", 0): ("pullSecretName", "pull_secret_name"),
}

COMPANION_HEADER = """\
{#- Generated by scripts/sync_chart_data.py from chart/values.yaml `binderhub:`; edit that. Static
    wiring of a BinderHub release to the Secret and its settings (companion mode): names only the
    two objects, never the registry, so it is the same for every registry, prefix and credential. -#}
# BinderHub values written by binderhub-registry: copy them into your BinderHub release once,
#   helm upgrade --install binder jupyterhub/binderhub -f <your values> -f binderhub-values.yaml
# BinderHub then reads the current registry settings at every start. Helm replaces lists from
# later files: if your values set extraVolumes, extraVolumeMounts or jupyterhub.imagePullSecrets,
# add these entries to your lists instead.
"""


class _WiringDumper(yaml.SafeDumper):
    """Block style; a multi-line string (the extraConfig snippet) as a literal block."""


_WiringDumper.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def _wiring_yaml(node: Any, names: dict[str, str], at: tuple[str | int, ...] = ()) -> str:
    """``node`` (the wiring's part at path ``at``) as YAML, each name of WIRING_NAMES in it
    replaced by ``names[its define]``."""
    marked = copy.deepcopy(node)
    placeholders = {}
    for path, (define, _) in WIRING_NAMES.items():
        if path[:len(at)] != at:
            continue
        parent = marked
        for key in path[len(at):-1]:
            parent = parent[key]
        placeholders[f"wiring_{define}"] = names[define]
        parent[path[-1]] = f"wiring_{define}"
    text = yaml.dump(marked, Dumper=_WiringDumper, sort_keys=False, default_flow_style=False, width=1000)
    if any(mark in text for mark in ("{{", "}}", "{%", "{#")):
        raise ValueError("binderhub: in values.yaml holds template syntax ({{, {%, {#)")
    for placeholder, name in placeholders.items():
        text = text.replace(placeholder, name)
    return text


def wiring_template(binderhub: Node) -> str:
    """The chart's defines of the binder pod's volume and mount, from values.yaml `binderhub:`."""
    includes = {define: f'{{{{ include "binderhub-registry.{define}" . }}}}' for define, _ in WIRING_NAMES.values()}
    volume = _wiring_yaml(binderhub["extraVolumes"][0], includes, at=("extraVolumes", 0))
    mount = binderhub["extraVolumeMounts"][0]
    return "\n".join([
        "{{- /* Generated by scripts/sync_chart_data.py from values.yaml `binderhub:`; edit that. The binder",
        "pod's volume and mount: what a user's own binderhub.* lists must still contain (_binderhub.tpl),",
        "and what the helm test Pod mounts at the very same path. */ -}}",
        '{{- define "binderhub-registry.binderMountPath" -}}',
        mount["mountPath"],
        "{{- end -}}",
        "",
        '{{- define "binderhub-registry.binderVolume" -}}',
        volume.rstrip("\n"),
        "{{- end -}}",
        "",
        '{{- define "binderhub-registry.binderVolumeMount" -}}',
        _wiring_yaml(mount, {}, at=("extraVolumeMounts", 0)).rstrip("\n"),
        "{{- end -}}",
        "",
    ])


def companion_template(binderhub: Node) -> str:
    """The hook's template of binderhub-values.yaml (companion mode), from values.yaml `binderhub:`."""
    return COMPANION_HEADER + _wiring_yaml(binderhub, {define: f"{{{{ {variable} }}}}" for define, variable in WIRING_NAMES.values()})


def wiring_disagreements(binderhub: Node, settings_dir: str) -> list[str]:
    mount_path = binderhub["extraVolumeMounts"][0]["mountPath"]
    if mount_path != settings_dir:
        return [f"binderhub.extraVolumeMounts mounts at {mount_path}, the hook's settings.BINDER_SETTINGS_DIR is {settings_dir}"]
    return []


def generated_files() -> tuple[dict[Path, str], list[str]]:
    source = yaml.safe_load(SCHEMA_SOURCE.read_text(encoding="utf-8"))
    values_text = VALUES.read_text(encoding="utf-8")
    values = yaml.safe_load(values_text)
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    schema = json_schema(source)
    sys.path.insert(0, str(ROOT / "hooks"))
    from binderhub_registry.credentials import SECRET_NAMES  # noqa: PLC0415  (the CLI's sentences)
    from binderhub_registry.helper_contract import HELPER_PORT, HELPER_TOKEN_DIR, HELPER_TOKEN_SECRET_SUFFIX  # noqa: PLC0415
    from binderhub_registry.settings import BINDER_SETTINGS_DIR  # noqa: PLC0415
    from binderhub_registry.values import EMPTY_VALUES  # noqa: PLC0415

    files = {
        CHART / "values.schema.json": json.dumps(helm_schema(schema), indent=2) + "\n",
        CHART / "templates" / "_value_rules.tpl": value_rules_template(schema, EMPTY_VALUES, SECRET_NAMES),
        PACKAGE_DATA / "values.schema.json": json.dumps(schema, indent=2) + "\n",
        PACKAGE_DATA / "values.yaml": values_text,
        CHART / "README.md": values_reference(source, values, chart),
        CHART / "templates" / "_helper_contract.tpl": helper_contract_template(HELPER_PORT, HELPER_TOKEN_DIR, HELPER_TOKEN_SECRET_SUFFIX),
        CHART / "templates" / "_binderhub_wiring.tpl": wiring_template(values["binderhub"]),
        PACKAGE_DATA.parent / "templates" / "binderhub-values.yaml.j2": companion_template(values["binderhub"]),
    }
    return files, disagreements(source, values, values_text) + wiring_disagreements(values["binderhub"], BINDER_SETTINGS_DIR)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    files, problems = generated_files()
    for problem in problems:
        print(f"chart values: {problem}", file=sys.stderr)
    stale = [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is not what its sources generate; run scripts/sync_chart_data.py", file=sys.stderr)
        return 1 if stale or problems else 0
    if problems:
        return 1
    for path in stale:
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
