"""Named crash points for crash-safety tests: with BINDERHUB_REGISTRY_CRASH_AT=<name> the process
exits at once (like a killed Job pod, exit 137) when it reaches that step. Off unless set."""

from __future__ import annotations

import os
import sys


def checkpoint(name: str) -> None:
    if os.environ.get("BINDERHUB_REGISTRY_CRASH_AT") == name:
        print(f"crash injected at {name}", file=sys.stderr, flush=True)
        os._exit(137)
