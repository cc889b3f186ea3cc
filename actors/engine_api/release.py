"""Removing what a stack's services used, as ``docker stack rm`` does it (pure part).

Docker deletes a service at once, so the stack's secrets, configs and networks can go
right after. Ours marks the service for removal and the control API keeps refusing to
remove what its tasks may still use (``in_use``) until they are gone. The Engine API's
delete therefore waits, bounded, while every service still naming the object is one being
removed; a live service using it is refused at once, with the control API's words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["live_users"]


def _references(kind: str, spec: Mapping[str, Any]) -> set[str]:
    task = spec.get("task") or {}
    if kind == "network":
        return {str(n.get("target", "")) for n in task.get("networks") or ()}
    container = task.get("container") or {}
    return {str(r.get(f"{kind}_id", "")) for r in container.get(f"{kind}s") or ()}


def live_users(kind: str, object_id: str, services: Iterable[Mapping[str, Any]]) -> list[str]:
    """Names of the services (summaries with their ``object``) not being removed whose spec
    names ``object_id`` (a secret, config or network id)."""
    return sorted(
        str(s["name"])
        for s in services
        if not s.get("pending_delete") and object_id in _references(kind, s["object"]["spec"])
    )
