"""scripts/mutate's coverage map (scripts/mutation_coverage.py): a line the CLI runs in a process a
test starts is the test's; a mutant's lines are its whole statements; a changed constant is
found where it is read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from scripts import mutation_coverage
from scripts.mutation_coverage import CoverageMap

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import subprocess, sys

def test_runs_the_cli():
    subprocess.run([sys.executable, "-m", "binderhub_registry", "--help"], check=True, capture_output=True)

def test_runs_nothing_of_the_package():
    assert sum([1, 2]) == 3
"""


def test_lines_a_test_runs_in_the_cli_process_it_starts_are_that_tests(tmp_path: Path):
    (tmp_path / "test_probe.py").write_text(PROBE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    measured = tmp_path / "measured"
    environment = mutation_coverage.measuring_environment(mutation_coverage.write_configuration(measured), measured / "durations.json")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "scripts.mutation_coverage",
                           "-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), str(tmp_path / "test_probe.py")],
                          cwd=ROOT, env={**os.environ, **environment}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    found = mutation_coverage.read_measurements([measured])
    cli_lines = found.lines.get("cli.py", {})
    assert cli_lines, "no line of cli.py measured in the CLI's process"
    assert {test for tests in cli_lines.values() for test in tests} == {"test_probe.py::test_runs_the_cli"}
    assert set(found.seconds) == {"test_probe.py::test_runs_the_cli", "test_probe.py::test_runs_nothing_of_the_package"}


SOURCE = '''\
import re

_PART = r"[a-z]+"
NAME = re.compile(_PART)


def check(value):
    if (value and
            NAME.fullmatch(value)):
        return True
    return False
'''


def test_a_mutants_lines_are_its_whole_statement_and_whether_it_runs_at_import():
    inside = mutation_coverage.mutated_lines(SOURCE, "NAME.fullmatch(value)):")
    assert inside == mutation_coverage.MutatedLines(frozenset({8, 9}), at_import=False)
    at_import = mutation_coverage.mutated_lines(SOURCE, '_PART = r"[a-z]+"')
    assert (at_import.lines, at_import.at_import, at_import.names) == (frozenset({3}), True, frozenset({"_PART"}))


def test_a_constant_is_found_where_it_is_read_through_what_is_built_from_it(tmp_path: Path):
    (tmp_path / "names.py").write_text(SOURCE)
    (tmp_path / "user.py").write_text("from names import NAME\n\n\ndef use(value):\n    return NAME.match(value)\n")
    assert mutation_coverage.lines_reading(tmp_path, frozenset({"_PART"})) == {"names.py": {8, 9}, "user.py": {5}}


def test_a_parametrised_test_is_selected_as_its_function():
    assert mutation_coverage.test_function("tests/a.py::test_x[3-b::c]") == "tests/a.py::test_x"
    assert mutation_coverage.test_function("tests/a.py::Case::test_y") == "tests/a.py::Case::test_y"


def test_the_map_survives_its_cache_file():
    kept = CoverageMap({"cli.py": {3: frozenset({"tests/a.py::test_x", "tests/b.py::test_y"})}}, {"tests/a.py::test_x": 0.5})
    assert CoverageMap.from_json(kept.to_json()) == kept
