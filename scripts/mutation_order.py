"""The order in which scripts/mutate runs a mutant's tests, so that ``pytest -x`` meets a kill soon:
the test that killed the mutant last time first, alone (``KillerRecord``, kept in the repository
beside the list), then the selection, the cheapest first
(``fastest_first``: by the seconds the coverage map recorded, a quarter of them for the mutation's
own tests, half for its area's, which are likelier to kill it). The order changes nothing in what counts as a kill: a killer is
a test that fails on the mutant and passes on the unmutated code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# pytest's short summary line: "FAILED <id> - <why>", where the id's parameters may hold " - " too
SUMMARY_LINE = re.compile(r"(?:FAILED|ERROR) (?P<test>\S+?(?:\[.*?\])?)(?: - |$)")


def within(paths: Iterable[str], test: str) -> bool:
    """Whether a test id is one of ``paths`` (test ids, files or directories) or inside one."""
    return any(test == path or test.startswith((f"{path}::", f"{path}/")) for path in paths)


def function_of(test: str) -> str:
    return test.split("[", 1)[0]  # as the map keys its tests (mutation_coverage.test_function)


def fastest_first(tests: Sequence[str], seconds: Mapping[str, float], likelier: Sequence[tuple[Sequence[str], float]]) -> list[str]:
    """``tests`` (ids, files, directories), each file or directory replaced by the tests ``seconds``
    (test function -> seconds) knows in it, the cheapest first: by its seconds, times the factor of
    the first of ``likelier`` (paths, factor) it is in (a test the mutation names is likelier to kill
    it: worth running before a quicker one). pytest runs ids in the order given. A path with no known
    test in it (its tests deselected by the marker) stays, last."""
    known = sorted(seconds)

    def expanded(test: str) -> list[str]:
        if function_of(test) in seconds:
            return [test]
        return [known_test for known_test in known if within([test], known_test)] or [test]

    def cost(test: str) -> tuple[bool, float]:
        took = seconds.get(function_of(test))
        factor = next((factor for paths, factor in likelier if within(paths, test)), 1.0)
        return took is None, (took or 0.0) * factor

    return sorted(dict.fromkeys(found for test in tests for found in expanded(test)), key=cost)


def killed_by(detail: str) -> str | None:
    """The test id in pytest's short summary line of a failure ("FAILED tests/a.py::test_x[1] - why")."""
    found = SUMMARY_LINE.match(detail)
    return found["test"] if found and "::" in found["test"] else None


@dataclass
class KillerRecord:
    """Each mutation's last killer (mutation name -> pytest id), kept in the repository beside the
    list, so that a run on a fresh clone starts with them. A recorded killer is only where a run
    starts: it kills only by failing on the mutant after passing unmutated (``usable_killers``), and
    one that no longer kills leaves the verdict to the mutant's selection, which records the new one."""

    path: Path
    killers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> KillerRecord:
        return cls(path, json.loads(path.read_text()) if path.is_file() else {})

    def recall(self, name: str) -> str | None:
        return self.killers.get(name)

    def remember(self, name: str, killer: str | None) -> None:
        """Keep the test that killed a mutation; None (it survived) forgets its killer."""
        if killer is None:
            self.killers.pop(name, None)
        else:
            self.killers[name] = killer

    def save(self) -> None:
        self.path.write_text(json.dumps(self.killers, indent=1, sort_keys=True) + "\n")

