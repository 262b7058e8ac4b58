"""Whether a BinderHub Deployment must restart to read the Secret and settings: pure decisions on
what the API server returned, no I/O.

BinderHub reads the docker config (the Secret) and registry.json (the settings ConfigMap) once,
at start. A Deployment's pods run with what the Secret's fingerprint names when:

* its pod template's ``credential-fingerprint`` annotation is that fingerprint (the hook set it,
  which rolled the pods), or, without one, the Deployment's own annotation of that name is (the
  hook found that its pods already read it and noted so without a rollout);
* it has neither, nothing BinderHub reads changes in this run, and the Deployment was created
  strictly after the Secret and the settings ConfigMap last changed: its pods started after
  that. In one release Helm creates ``binder`` after the pre-install hook wrote both, so the
  first ``helm upgrade`` need not restart it.

Both times are the API server's (the Deployment's ``creationTimestamp``; the latest ``time`` of
any entry in the objects' ``managedFields``, which the server sets when a write changes the
object and leaves alone on a write that changes nothing), never the hook's clock. They have a
resolution of one second, so the same second counts as "not after". Any time that is missing or
unreadable means "restart": the only way this rule can be wrong is an unneeded restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from binderhub_registry.state import DEPLOYMENT_FINGERPRINT, FINGERPRINT, CurrentState, parse_time

Decision = Literal["unchanged", "note", "restart"]


def last_change(*objects: dict[str, Any] | None) -> datetime | None:
    """When any field manager last changed any of ``objects`` (absent ones, None, count for
    nothing), by the API server's clock; None when that cannot be told: an object without
    managedFields, or an entry without a readable time."""
    times = []
    for obj in objects:
        if obj is None:
            continue
        entries = (obj.get("metadata") or {}).get("managedFields") or []
        if not entries:
            return None
        for entry in entries:
            time = parse_time(str(entry.get("time") or ""))
            if time is None:
                return None
            times.append(time)
    return max(times, default=None)


def decide(deployment: dict[str, Any], fingerprint: str, current: CurrentState) -> Decision:
    """For a Deployment as the API returns it, with this run writing ``fingerprint`` over the
    ``current`` state read before it: "unchanged" (its pods run with it), "note" (they do, and it
    is not recorded on the Deployment yet) or "restart"."""
    metadata = deployment.get("metadata") or {}
    template_metadata = ((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}
    running = (template_metadata.get("annotations") or {}).get(DEPLOYMENT_FINGERPRINT) or (metadata.get("annotations") or {}).get(
        DEPLOYMENT_FINGERPRINT
    )
    if running:
        return "unchanged" if running == fingerprint else "restart"
    if current.annotation(FINGERPRINT) != fingerprint:
        return "restart"  # this run changes what BinderHub reads
    created = parse_time(str(metadata.get("creationTimestamp") or ""))
    if created is None or current.changed_at is None or created <= current.changed_at:
        return "restart"
    return "note"
