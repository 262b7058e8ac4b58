"""scripts/mutate's order of a mutant's tests (scripts/mutation_order.py): the cheapest first, by
seconds, less for the tests likelier to kill, in the order pytest runs them; the last killer first,
alone, and only a failing test makes a kill."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

from scripts import mutation_order
from scripts.mutation_order import KillerRecord

ROOT = Path(__file__).resolve().parent.parent
SECONDS = {"tests/a.py::test_slow": 9.0, "tests/a.py::test_quick": 0.1, "tests/b.py::test_medium": 1.5, "tests/f.py::test_fast": 0.15,
           "tests/c/d.py::test_own": 5.0, "tests/c/d.py::test_other": 0.2}


def test_the_cheapest_come_first_by_seconds_less_for_the_likelier_killers():
    ordered = mutation_order.fastest_first(["tests/b.py::test_medium", "tests/f.py", "tests/a.py", "tests/c", "tests/e.py"],
                                           SECONDS, [(["tests/c/d.py::test_own"], 0.25), (["tests/a.py", "tests/c/d.py"], 0.5)])
    # 0.1 x 0.5, 0.2 x 0.5, 0.15, 5.0 x 0.25, 1.5, 9.0 x 0.5; a path the map knows no test in, last
    assert ordered == ["tests/a.py::test_quick", "tests/c/d.py::test_other", "tests/f.py::test_fast", "tests/c/d.py::test_own",
                       "tests/b.py::test_medium", "tests/a.py::test_slow", "tests/e.py"]


def test_a_parametrised_id_keeps_its_parameters_and_its_functions_seconds():
    assert mutation_order.fastest_first(["tests/a.py::test_slow[x]", "tests/b.py::test_medium"], SECONDS, []) == [
        "tests/b.py::test_medium", "tests/a.py::test_slow[x]"]


PROBE = """
def test_c():
    print("ran c")

def test_a():
    print("ran a")

def test_b():
    print("ran b")
"""


def test_pytest_runs_the_ids_in_the_order_given(tmp_path: Path):
    (tmp_path / "test_probe.py").write_text(PROBE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    ids = [f"test_probe.py::test_{name}" for name in "bac"]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", *ids], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert re.findall(r"ran (\w)", proc.stdout) == ["b", "a", "c"], proc.stdout


def test_the_killer_is_read_from_pytests_summary_line():
    assert mutation_order.killed_by("FAILED tests/a.py::test_x[1 - 2] - AssertionError: no") == "tests/a.py::test_x[1 - 2]"
    assert mutation_order.killed_by("ERROR tests/a.py::test_y - fixture 'z' not found") == "tests/a.py::test_y"
    assert mutation_order.killed_by("ERROR tests/a.py - ImportError") is None  # a collection error names no test
    assert mutation_order.killed_by("timed out") is None


def test_a_killer_is_recorded_until_its_mutant_survives(tmp_path: Path):
    record = KillerRecord(tmp_path / "killers.json")
    record.remember("a mutation", "tests/test_module.py::test_value[1]")
    record.remember("another mutation", "tests/test_module.py::test_other")
    record.save()
    kept = KillerRecord.load(record.path)
    assert kept.recall("a mutation") == "tests/test_module.py::test_value[1]"
    kept.remember("another mutation", None)
    assert (kept.recall("another mutation"), kept.recall("a third mutation")) == (None, None)


def test_the_repositorys_record_names_listed_mutations_and_existing_test_files():
    sys.path.insert(0, str(ROOT / "scripts"))
    mutate = importlib.import_module("mutate")
    record = KillerRecord.load(mutate.KILLERS)
    listed = {mutation.name for mutation in mutate.MUTATIONS + mutate.load_rounds()}
    assert set(record.killers) <= listed, "a recorded killer of a mutation no longer listed"
    assert all((ROOT / test.split("::")[0]).is_file() for test in record.killers.values())


# -- in scripts/mutate: only a failing test kills, the remembered killer included -------------------

MODULE = "def value():\n    return 1\n"
TESTS = """
from binderhub_registry.module import value

def test_passes_on_both():
    assert value() in (1, 2)

def test_kills():
    assert value() == 1
"""


def mutant_workspace(tmp_path: Path, tests: str = TESTS):
    sys.path.insert(0, str(ROOT / "scripts"))
    mutate = importlib.import_module("mutate")
    (tmp_path / "hooks" / "binderhub_registry").mkdir(parents=True)
    (tmp_path / "hooks" / "binderhub_registry" / "__init__.py").write_text("")
    (tmp_path / "hooks" / "binderhub_registry" / "module.py").write_text(MODULE)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_module.py").write_text(tests)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    cluster: on the test cluster\n")
    return mutate, mutate.Workspace(tmp_path)


def test_the_recorded_killer_runs_alone_and_kills(tmp_path: Path):
    mutate, workspace = mutant_workspace(tmp_path)
    mutation = mutate.Mutation("returns 2", "layers", "module.py", "return 1", "return 2")
    verdict = mutate.judge_by_killer(mutation, "tests/test_module.py::test_kills", workspace, mutate.Settings(60, 60, True, ""))
    assert (verdict.fate, verdict.remembered, verdict.killer) == ("killed", True, "tests/test_module.py::test_kills")
    assert (tmp_path / "hooks" / "binderhub_registry" / "module.py").read_text() == MODULE


def test_a_recorded_killer_that_passes_or_is_gone_leaves_the_verdict_to_the_selection(tmp_path: Path):
    mutate, workspace = mutant_workspace(tmp_path)
    mutation = mutate.Mutation("returns 2", "layers", "module.py", "return 1", "return 2")
    for killer in ("tests/test_module.py::test_passes_on_both", "tests/test_module.py::test_gone"):  # gone: a usage error
        assert mutate.judge_by_killer(mutation, killer, workspace, mutate.Settings(60, 60, True, "")).fate == mutate.UNDECIDED


RED_AND_CLUSTER = TESTS + """
def test_red():
    assert value() == 3

import pytest

@pytest.mark.parametrize("wanted", [1, 3])
def test_red_in_one_parameter(wanted):
    assert value() == wanted

@pytest.mark.parametrize("wanted", [1])
def test_parametrised(wanted):
    assert value() == wanted

@pytest.mark.cluster
def test_on_the_cluster():
    assert value() == 1
"""


def test_only_recorded_killers_that_pass_unmutated_under_the_marker_are_used(tmp_path: Path):
    mutate, workspace = mutant_workspace(tmp_path, RED_AND_CLUSTER)
    killers = {f"tests/test_module.py::test_{name}" for name in ("kills", "red", "on_the_cluster", "gone", "red_in_one_parameter",
                                                                  "parametrised")}
    killers |= {"tests/test_gone.py::test_x", "tests/test_module.py::test_parametrised[1]"}
    usable = mutate.usable_killers(killers, [workspace], mutate.Settings(60, 60, True, "not cluster"))
    green = {"tests/test_module.py::test_kills", "tests/test_module.py::test_parametrised", "tests/test_module.py::test_parametrised[1]"}
    assert usable == green
    with_the_cluster = mutate.usable_killers(killers, [workspace], mutate.Settings(60, 60, True, ""))
    assert with_the_cluster == {*green, "tests/test_module.py::test_on_the_cluster"}
    mapped = mutate.CoverageMap({}, {"tests/test_module.py::test_kills": 0.1})  # the map's run passed what it knows
    assert mutate.usable_killers(killers, [workspace], mutate.Settings(60, 60, True, "", coverage=mapped)) == {
        "tests/test_module.py::test_kills"}


def test_a_survivors_whole_suite_run_is_the_tests_it_did_not_run_yet_quickest_first(tmp_path: Path):
    sys.path.insert(0, str(ROOT / "scripts"))
    mutate = importlib.import_module("mutate")
    for file in ("tests/a.py", "tests/test_a.py", "tests/test_b.py", "tests/c/test_d.py", "tests/image/test_image.py"):
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text("")
    seconds = {"tests/test_a.py::test_one": 2.0, "tests/test_b.py::test_slow": 9.0, "tests/test_b.py::test_quick": 0.5,
               "tests/c/test_d.py::test_d": 1.0, "tests/image/test_image.py::test_image": 0.1}
    selection = mutate.Selection(["tests/test_a.py::test_one", "tests/test_b.py::test_quick"], "lines")
    assert mutate.rest_of_the_suite(selection, mutate.CoverageMap({}, seconds), tmp_path) == [
        "tests/c/test_d.py::test_d", "tests/test_b.py::test_slow"]
    assert mutate.rest_of_the_suite(mutate.Selection(["tests/c"], "files"), None, tmp_path) == [
        "tests", "--ignore=tests/c", "--ignore=tests/image", "--ignore=tests/release"]


def test_a_mutations_own_tests_are_selected_even_where_the_map_sees_no_line_of_it_run(tmp_path: Path):
    mutate, workspace = mutant_workspace(tmp_path)
    mutation = mutate.Mutation("returns 2", "layers", "module.py", "return 1", "return 2", tests=("tests/test_module.py::test_kills",))
    covered = mutate.CoverageMap({"module.py": {2: frozenset({"tests/test_module.py::test_passes_on_both"})}},
                                 {"tests/test_module.py::test_passes_on_both": 0.1, "tests/test_module.py::test_kills": 0.1})
    selection = mutate.select_tests(mutation, covered, tmp_path)
    assert (selection.how, selection.tests) == ("lines", ["tests/test_module.py::test_kills", "tests/test_module.py::test_passes_on_both"])
