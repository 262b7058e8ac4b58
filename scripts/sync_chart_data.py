#!/usr/bin/env python3
"""Copy the chart's values.yaml and values.schema.json into the package, so the CLI validates
values with exactly the schema `helm install` uses. `--check` fails when the copies drift."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [(ROOT / "chart" / name, ROOT / "hooks" / "binderhub_registry" / "data" / name)
         for name in ("values.yaml", "values.schema.json")]


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = [dst for src, dst in PAIRS if not dst.exists() or dst.read_bytes() != src.read_bytes()]
    if check:
        for dst in stale:
            print(f"{dst.relative_to(ROOT)} differs from the chart; run scripts/sync_chart_data.py", file=sys.stderr)
        return 1 if stale else 0
    for src, dst in PAIRS:
        dst.write_bytes(src.read_bytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
