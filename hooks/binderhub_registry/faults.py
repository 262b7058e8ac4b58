"""Named fault points for crash-safety tests, off unless set:

- ``BINDERHUB_REGISTRY_CRASH_AT=<name>``: the process exits at once (like a killed Job pod, exit
  137) when it reaches that step;
- ``BINDERHUB_REGISTRY_HOLD_AT=<name>``: it prints ``holding at <name>`` and waits there for
  ``BINDERHUB_REGISTRY_HOLD_SECONDS`` (default 20), so that a test on a real cluster can delete
  the pod or restart the API server while the hook is at that step, then goes on.
"""

from __future__ import annotations

import os
import sys
import time


def checkpoint(name: str) -> None:
    if os.environ.get("BINDERHUB_REGISTRY_CRASH_AT") == name:
        print(f"crash injected at {name}", file=sys.stderr, flush=True)
        os._exit(137)
    if os.environ.get("BINDERHUB_REGISTRY_HOLD_AT") == name:
        print(f"holding at {name}", file=sys.stderr, flush=True)
        time.sleep(float(os.environ.get("BINDERHUB_REGISTRY_HOLD_SECONDS", "20")))
