"""The package's layers, declared here once, and its imports kept pointing down them.

Every import counts: at module level, inside functions (the lazy ones) and under
``if TYPE_CHECKING``. A module may import its own layer or one below; the test fails on an import
of a higher layer, on any cycle between modules, and on a module no layer names (a new module
is placed here on purpose). docs/architecture.md draws the same layers.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

# The package Python imports (scripts/mutate puts its mutated copy first), not a path of its own.
PACKAGE = Path(importlib.util.find_spec("binderhub_registry").origin).parent  # type: ignore[arg-type, union-attr]
ROOT = "binderhub_registry"

# Top first. A name covers the module and, for a package, everything under it.
LAYERS: list[tuple[str, ...]] = [
    ("cli", "__main__"),
    ("commands",),  # one run() per subcommand: orchestration only
    ("helper_service",),  # the registry helper (`serve`), built from the Google provider's targets
    ("providers",),  # the registry types
    ("kube", "render", "helper_client"),  # the cluster's I/O, the templates, the helper's client
    ("rotation", "restart"),  # pure decisions on the release state
    ("state", "dockerconfig", "oci", "pull_proof", "kube_client"),  # the release state, docker config, the registry protocol
    ("values", "settings", "helper_contract", "bounded_http", "registry_auth", "registry_answers"),
    ("credentials", "errors", "faults", "retry", "progress", "schema_check", ""),  # "": the package's __init__
]


def module_names() -> dict[str, Path]:
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join([ROOT, *parts])] = path
    return names


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports anywhere in its code: ``from P import M`` is M when
    M is a module, else P."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names}
    return {target for target in found if target in known and target != name}


def graph() -> dict[str, set[str]]:
    names = module_names()
    return {name: imports_of(name, path, set(names)) for name, path in names.items()}


def layer_of(name: str) -> int | None:
    """The index in LAYERS of the most specific entry covering ``name`` (None: no entry does)."""
    relative = name.removeprefix(ROOT).removeprefix(".")
    best: tuple[int, int] | None = None  # (length of the entry, layer)
    for index, entries in enumerate(LAYERS):
        for entry in entries:
            covers = relative == entry or (entry != "" and relative.startswith(entry + "."))
            if covers and (best is None or len(entry) > best[0]):
                best = (len(entry), index)
    return None if best is None else best[1]


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    found = []
    for source, targets in edges.items():
        for target in sorted(targets):
            source_layer, target_layer = layer_of(source), layer_of(target)
            if source_layer is not None and target_layer is not None and target_layer < source_layer:
                found.append(f"{source} -> {target}")
    return sorted(found)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(components)


def test_the_graph_is_read_from_the_real_package():
    edges = graph()
    assert len(edges) > 40
    # imports of each kind are seen: module level, inside a function, under TYPE_CHECKING
    assert "binderhub_registry.errors" in edges["binderhub_registry.cli"]
    assert "binderhub_registry.kube" in edges["binderhub_registry.commands.common"]  # inside a function
    assert "binderhub_registry.settings" in edges["binderhub_registry.state"]  # under TYPE_CHECKING


def test_every_module_has_a_layer():
    assert [name for name in module_names() if layer_of(name) is None] == []


def test_no_module_imports_a_higher_layer():
    assert upward_imports(graph()) == []


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_checks_see_what_they_must_refuse():
    """The two checks on a graph that breaks them, so that an empty answer above means something."""
    bad = {
        "binderhub_registry.state": {"binderhub_registry.providers.base"},
        "binderhub_registry.providers.base": {"binderhub_registry.state"},
    }
    assert upward_imports(bad) == ["binderhub_registry.state -> binderhub_registry.providers.base"]
    assert cycles(bad) == [["binderhub_registry.providers.base", "binderhub_registry.state"]]
    assert cycles({"binderhub_registry.a": {"binderhub_registry.b"}, "binderhub_registry.b": set()}) == []


# What providers may take from state: its typed answers, never an annotation key to parse.
STATE_FOR_PROVIDERS = {"CurrentState", "Intent"}


def raw_state_names(source: str, filename: str = "<source>") -> list[str]:
    """The names a module takes from ``binderhub_registry.state`` beyond STATE_FOR_PROVIDERS
    (``import binderhub_registry.state`` counts as taking all of them)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.module == f"{ROOT}.state":
            found += [alias.name for alias in node.names if alias.name not in STATE_FOR_PROVIDERS]
        elif isinstance(node, ast.ImportFrom) and node.module == ROOT:
            found += ["state" for alias in node.names if alias.name == "state"]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name == f"{ROOT}.state"]
    return found


def test_no_provider_imports_a_raw_state_key():
    taken = {
        name: names
        for name, path in module_names().items()
        if name.startswith(f"{ROOT}.providers") and (names := raw_state_names(path.read_text(), str(path)))
    }
    assert taken == {}


def test_the_raw_key_check_sees_what_it_must_refuse():
    assert raw_state_names("from binderhub_registry.state import CREATED_AT, CurrentState") == ["CREATED_AT"]
    assert raw_state_names("from binderhub_registry import state") == ["state"]
    assert raw_state_names("import binderhub_registry.state") == ["binderhub_registry.state"]
    assert raw_state_names("from binderhub_registry.state import CurrentState, Intent") == []
