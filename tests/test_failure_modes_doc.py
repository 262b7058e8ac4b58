"""docs/failure-modes.md stays true: at least 40 failures, each naming a test that exists and a
sentence fragment the package (or that test) really writes, with a documented exit code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "failure-modes.md"
ROW = re.compile(r"^\| (\d+) \| (.+?) \| ([0-9 or]+) \| `(.+?)` \| `(tests/[^`]+)` \|$")


def rows() -> list[tuple[str, str, str, str, str]]:
    return [match.groups() for line in DOC.read_text().splitlines() if (match := ROW.match(line))]  # type: ignore[misc]


def package_text() -> str:
    """The package's code and the schema whose hints its sentences quote."""
    package = ROOT / "hooks" / "binderhub_registry"
    return "\n".join(path.read_text() for path in [*package.rglob("*.py"), package / "data" / "values.schema.json"])


def test_the_failure_modes_table_has_at_least_40_rows_numbered_in_order():
    table_lines = [line for line in DOC.read_text().splitlines() if re.match(r"^\| \d+ \|", line)]
    assert len(rows()) == len(table_lines), "a row does not have the shape | n | cause | exit | `sentence` | `test` |"
    assert len(table_lines) >= 40
    assert [int(row[0]) for row in rows()] == list(range(1, len(table_lines) + 1))


def test_every_row_names_a_test_that_exists_and_a_sentence_that_is_written_somewhere():
    package = package_text()
    problems = []
    for number, _cause, code, fragment, test in rows():
        assert set(code.replace(" or ", " ").split()) <= {"0", "1", "2", "3"}, f"row {number}: exit {code}"
        path, _, name = test.partition("::")
        function = name.split("[")[0]
        source_file = ROOT / path
        if not source_file.exists() or not re.search(rf"^def {re.escape(function)}\(", source_file.read_text(), re.M):
            problems.append(f"row {number}: no test {test}")
            continue
        fragment = fragment.replace("\\|", "|")
        if fragment not in package and fragment not in source_file.read_text():
            problems.append(f"row {number}: {fragment!r} is written neither in hooks/ nor in {path}")
        case = name.partition("[")[2].rstrip("]")
        if case and case.rsplit("-", 1)[0] not in source_file.read_text():
            problems.append(f"row {number}: {path} has no case {case!r}")
    assert problems == []
