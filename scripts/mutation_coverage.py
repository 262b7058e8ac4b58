"""Which tests execute which lines of the hook package: the map with which scripts/mutate runs, for
each mutant, only the tests that execute the mutated lines (coverage-guided test selection, as
mutmut and cosmic-ray do).

The map is built by running the suite under coverage.py with this module loaded as a pytest plugin
(``-p mutation_coverage``). Before each test the plugin names it as coverage's dynamic context in
the pytest process, and in the environment (TEST_VARIABLE), which every process the test starts
inherits: such a process (the CLI, run as the hook Job runs it) measures itself because
COVERAGE_PROCESS_START names our configuration (coverage's own .pth starts it), whose static
context is that variable. A test's contexts, in-process and in its subprocesses, are its pytest id.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TEST_VARIABLE = "BINDERHUB_REGISTRY_MUTATE_TEST"  # the running test's id, inherited by its subprocesses
DURATIONS_VARIABLE = "BINDERHUB_REGISTRY_MUTATE_DURATIONS"  # where the plugin writes each test's seconds
PACKAGE_PARTS = ("hooks", "binderhub_registry")
# What the map depends on (with the marker expression): a change in any of these builds it again.
FINGERPRINTED = ("hooks", "tests", "chart", "pyproject.toml", "scripts/mutation_coverage.py")
CONFIGURATION = """\
[run]
source_pkgs = binderhub_registry
parallel = true
data_file = {data_file}
context = ${{{variable}}}
# the crash-safety tests' fault points leave with os._exit (a killed Job pod): save first
patch = _exit
# warnings on a measured CLI's stderr would fail the tests that read it
disable_warnings = module-not-imported, module-not-measured, no-data-collected, couldnt-parse
"""


# -- the pytest plugin -----------------------------------------------------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    import coverage  # only the map's runs load this plugin

    os.environ[TEST_VARIABLE] = item.nodeid
    measuring = coverage.Coverage.current()
    if measuring is not None:
        measuring.switch_context(item.nodeid)
    try:
        return (yield)
    finally:
        os.environ.pop(TEST_VARIABLE, None)


_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds[report.nodeid] = _seconds.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    if path := os.environ.get(DURATIONS_VARIABLE):
        Path(path).write_text(json.dumps(_seconds))


# -- building and reading the map ------------------------------------------------------------------

def test_function(nodeid: str) -> str:
    """A test's id without its parameters: every parametrisation of the function is run (an id's
    parameters are not always the same from one run to the next)."""
    return nodeid.split("[", 1)[0]


@dataclass(frozen=True)
class CoverageMap:
    lines: dict[str, dict[int, frozenset[str]]]  # module (path under the package) -> line -> test functions
    seconds: dict[str, float]  # test function -> seconds it took (all parametrisations)

    def tests_executing(self, module: str, lines: Iterable[int]) -> set[str]:
        executed = self.lines.get(module, {})
        return {test for line in lines for test in executed.get(line, ())}

    def to_json(self) -> str:
        tests = sorted({test for by_line in self.lines.values() for ran in by_line.values() for test in ran} | set(self.seconds))
        index = {test: n for n, test in enumerate(tests)}
        lines = {module: {str(line): sorted(index[test] for test in ran) for line, ran in by_line.items()}
                 for module, by_line in self.lines.items()}
        return json.dumps({"tests": tests, "seconds": self.seconds, "lines": lines})

    @classmethod
    def from_json(cls, text: str) -> CoverageMap:
        stored = json.loads(text)
        tests: list[str] = stored["tests"]
        lines = {module: {int(line): frozenset(tests[n] for n in ran) for line, ran in by_line.items()}
                 for module, by_line in stored["lines"].items()}
        return cls(lines, stored["seconds"])


def fingerprint(root: Path, marker: str) -> str:
    """A hash of everything the map depends on."""
    digest = hashlib.sha256(marker.encode())
    for name in FINGERPRINTED:
        top = root / name
        files = [top] if top.is_file() else sorted(path for path in top.rglob("*") if path.is_file() and "__pycache__" not in path.parts)
        for path in files:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def write_configuration(directory: Path) -> Path:
    """A coverage configuration that writes its data files (one per process) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "coveragerc"
    path.write_text(CONFIGURATION.format(data_file=directory / "coverage", variable=TEST_VARIABLE))
    return path


def measuring_environment(configuration: Path, durations: Path) -> dict[str, str]:
    return {"COVERAGE_PROCESS_START": str(configuration), DURATIONS_VARIABLE: str(durations)}


def package_module(path: str) -> str | None:
    """A measured file's path under the package (as mutations name it), from any workspace."""
    parts = Path(path).parts
    for at in range(len(parts) - 1):
        if parts[at:at + 2] == PACKAGE_PARTS:
            return str(Path(*parts[at + 2:]))
    return None


def read_measurements(directories: Iterable[Path]) -> CoverageMap:
    """The map from the data files and durations the measured runs left in ``directories``."""
    import coverage

    lines: dict[str, dict[int, set[str]]] = {}
    seconds: dict[str, float] = {}
    for directory in directories:
        measured = coverage.Coverage(data_file=str(directory / "coverage"), config_file=str(directory / "coveragerc"))
        measured.combine([str(directory)], keep=True)
        data = measured.get_data()
        for path in data.measured_files():
            module = package_module(path)
            if module is None:
                continue
            by_line = lines.setdefault(module, {})
            for line, contexts in data.contexts_by_lineno(path).items():
                by_line.setdefault(line, set()).update(test_function(context) for context in contexts if context)
        for nodeid, took in json.loads((directory / "durations.json").read_text()).items():
            seconds[test_function(nodeid)] = seconds.get(test_function(nodeid), 0.0) + took
    return CoverageMap({module: {line: frozenset(ran) for line, ran in by_line.items() if ran} for module, by_line in lines.items()},
                       seconds)


# -- the lines a mutation changes ------------------------------------------------------------------

@dataclass(frozen=True)
class MutatedLines:
    lines: frozenset[int]  # every line coverage may record for the statements the mutation changes
    at_import: bool  # one of them runs when the module is imported (module or class level, a def's header)
    names: frozenset[str] = frozenset()  # what those run-at-import statements define (a constant, a class, a function)


Statement = ast.stmt | ast.excepthandler


def _own_lines(node: Statement) -> range:
    """A statement's own lines: a compound statement's header, up to its body."""
    body = getattr(node, "body", None)
    end = node.end_lineno or node.lineno
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        end = body[0].lineno - 1
    return range(node.lineno, max(node.lineno, end) + 1)


def _statements(tree: ast.AST) -> Iterator[tuple[Statement, bool]]:
    """Every statement, and whether it runs when its module is imported (not inside a function)."""
    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[Statement, bool]]:
        if isinstance(node, (ast.stmt, ast.excepthandler)):
            yield node, not in_function
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inside)
    return visit(tree, False)


def _defined(node: Statement) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
    return {name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)}


def _reads(node: Statement, names: frozenset[str] | set[str]) -> bool:
    """Whether a statement's own lines name one of ``names`` (a variable, or an attribute)."""
    own = _own_lines(node)
    return any(isinstance(part, (ast.Name, ast.Attribute)) and getattr(part, "lineno", 0) in own
               and (part.id if isinstance(part, ast.Name) else part.attr) in names for part in ast.walk(node))


def mutated_lines(source: str, old: str) -> MutatedLines:
    """The statements whose lines ``old`` (found once in ``source``) overlaps."""
    first = source.count("\n", 0, source.index(old)) + 1
    changed = range(first, first + old.rstrip("\n").count("\n") + 1)
    lines: set[int] = set()
    names: set[str] = set()
    at_import = False
    for node, runs_at_import in _statements(ast.parse(source)):
        own = _own_lines(node)
        if own.start < changed.stop and changed.start < own.stop:
            lines.update(own)
            if runs_at_import:
                at_import, names = True, names | _defined(node)
    return MutatedLines(frozenset(lines), at_import, frozenset(names))


def lines_reading(package: Path, names: frozenset[str]) -> dict[str, set[int]]:
    """The lines of functions of the package (by module) that read one of ``names``, or a name
    defined at import from one of them (``NAME = re.compile(COMPONENT)``): where a changed constant
    or definition makes a difference when a test runs."""
    trees = {str(path.relative_to(package)): ast.parse(path.read_text()) for path in sorted(package.rglob("*.py"))}
    defined, grown = set(names), True
    while grown:
        more = {name for tree in trees.values() for node, at_import in _statements(tree) if at_import and _reads(node, defined)
                for name in _defined(node)}
        grown, defined = not more <= defined, defined | more
    reading: dict[str, set[int]] = {}
    for module, tree in trees.items():
        for node, at_import in _statements(tree):
            if not at_import and _reads(node, defined):
                reading.setdefault(module, set()).update(_own_lines(node))
    return reading
