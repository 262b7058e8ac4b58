"""The order in which scripts/mutate runs a mutant's tests, so that ``pytest -x`` meets a kill soon:
the test that killed the mutant last time first, alone (``KillerMemory``, kept in .mutate-cache/
while the mutated file and that test's file are unchanged), then the selection, the cheapest first
(``fastest_first``: by the seconds the coverage map recorded, a quarter of them for the mutation's
own tests, half for its area's, which are likelier to kill it). The order changes nothing in what counts as a kill: a killer is
a test that fails on the mutant and passes on the unmutated code.
"""

from __future__ import annotations

import hashlib
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


def _function(test: str) -> str:
    return test.split("[", 1)[0]  # as the map keys its tests (mutation_coverage.test_function)


def fastest_first(tests: Sequence[str], seconds: Mapping[str, float], likelier: Sequence[tuple[Sequence[str], float]]) -> list[str]:
    """``tests`` (ids, files, directories), each file or directory replaced by the tests ``seconds``
    (test function -> seconds) knows in it, the cheapest first: by its seconds, times the factor of
    the first of ``likelier`` (paths, factor) it is in (a test the mutation names is likelier to kill
    it: worth running before a quicker one). pytest runs ids in the order given. A path with no known
    test in it (its tests deselected by the marker) stays, last."""
    known = sorted(seconds)

    def expanded(test: str) -> list[str]:
        if _function(test) in seconds:
            return [test]
        return [known_test for known_test in known if within([test], known_test)] or [test]

    def cost(test: str) -> tuple[bool, float]:
        took = seconds.get(_function(test))
        factor = next((factor for paths, factor in likelier if within(paths, test)), 1.0)
        return took is None, (took or 0.0) * factor

    return sorted(dict.fromkeys(found for test in tests for found in expanded(test)), key=cost)


def killed_by(detail: str) -> str | None:
    """The test id in pytest's short summary line of a failure ("FAILED tests/a.py::test_x[1] - why")."""
    found = SUMMARY_LINE.match(detail)
    return found["test"] if found and "::" in found["test"] else None


@dataclass
class KillerMemory:
    """Each mutation's last killer, with a hash of the mutated file and the killer's file as they were."""

    path: Path
    killers: dict[str, dict[str, str]] = field(default_factory=dict)  # mutation name -> {"test", "files"}

    @classmethod
    def load(cls, path: Path) -> KillerMemory:
        return cls(path, json.loads(path.read_text()) if path.is_file() else {})

    @staticmethod
    def files_hash(mutated: Path, test: str, root: Path) -> str:
        test_file = root / test.split("::", 1)[0]
        digest = hashlib.sha256(mutated.read_bytes() + b"\0")
        digest.update(test_file.read_bytes() if test_file.is_file() else b"")
        return digest.hexdigest()[:16]

    def recall(self, name: str, mutated: Path, root: Path) -> str | None:
        """The test that killed this mutation last, if neither file changed since (``mutated``: unmutated)."""
        kept = self.killers.get(name)
        return kept["test"] if kept and kept["files"] == self.files_hash(mutated, kept["test"], root) else None

    def remember(self, name: str, killer: str | None, mutated: Path, root: Path) -> None:
        """Keep the test that killed a mutation (``mutated``: the unmutated file); None forgets one."""
        if killer is None:
            self.killers.pop(name, None)
        else:
            self.killers[name] = {"test": killer, "files": self.files_hash(mutated, killer, root)}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.killers, indent=1, sort_keys=True))

