"""Kubernetes label selectors and NetworkPolicy ingress rules, evaluated as the API server and a
NetworkPolicy-enforcing CNI read them: which pods a selector picks and which ports a policy opens
to a pod. Only what the chart's tests need: pods (by labels, in a namespace named by
``kubernetes.io/metadata.name``), no ipBlocks (they admit no pod by its labels)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]


def selector_matches(selector: Obj | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions, all of them) against an object's labels;
    an empty selector matches everything."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator, values = requirement["key"], requirement["operator"], requirement.get("values") or []
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"unknown label selector operator {operator!r}")
        if not ok:
            return False
    return True


def peer_admits(peer: Obj, pod_labels: Mapping[str, str], pod_namespace: str, policy_namespace: str) -> bool:
    """A NetworkPolicyPeer: podSelector alone means pods of the policy's namespace."""
    if "ipBlock" in peer:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": pod_namespace}):
            return False
    elif pod_namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selector_matches(peer["podSelector"], pod_labels)


def ingress_ports(policy: Obj, pod_labels: Mapping[str, str], pod_namespace: str, policy_namespace: str) -> list[Obj | None]:
    """The `ports` entries of the ingress rules that admit the pod (None: a rule opening every port)."""
    ports: list[Obj | None] = []
    for rule in policy["spec"].get("ingress") or []:
        peers = rule.get("from")
        if peers and not any(peer_admits(p, pod_labels, pod_namespace, policy_namespace) for p in peers):
            continue
        ports.extend(rule.get("ports") or [None])
    return ports
