#!/usr/bin/env python3
"""Time and memory of the hook against registries that misbehave: every case of
tests/hook/test_hostile_registry.py, `provision --output -` as a separate process like the Job,
with the deadline the test uses. Prints each case's exit code, wall seconds (the bound is 2 x the
deadline) and peak RSS from the child's own rusage (the bound is 128 MiB).

    .venv/bin/python benchmarks/hostile.py [--deadline SECONDS]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import generic_values, run_cli_bounded, write_values  # noqa: E402
from tests.hook.test_hostile_registry import CASES, DEADLINE, MEMORY_LIMIT_MIB  # noqa: E402
from tests.stand_ins.hostile_registry import HostileRegistry  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=DEADLINE)
    deadline = parser.parse_args().deadline
    print(f"{'case':42} exit  seconds (bound {2 * deadline:g})  peak MiB (bound {MEMORY_LIMIT_MIB})")
    worst_seconds = worst_memory = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for mode, scheme, _code, _sentence in CASES:
            with HostileRegistry(mode) as registry:
                values = write_values(Path(tmp) / "values.yaml", generic_values(f"{scheme}://{registry.host}", "alice", "pw"))
                run = run_cli_bounded("provision", "--values", str(values), "--output", "-", kill_after=4 * deadline,
                                      env={"BINDERHUB_REGISTRY_REQUEST_DEADLINE_SECONDS": str(deadline)})
            worst_seconds, worst_memory = max(worst_seconds, run.seconds), max(worst_memory, run.max_rss_mib)
            print(f"{mode + '-' + scheme:42} {run.result.code:4}  {run.seconds:7.2f}  {run.max_rss_mib:8.1f}")
    print(f"{'worst':42}       {worst_seconds:7.2f}  {worst_memory:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
