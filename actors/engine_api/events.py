"""``docker events`` from our cluster events (actors/events/), pure.

Docker's swarm event types are service, node, network, secret and config (scope
``swarm``; dockerd logs each of these SwarmKit objects' changes); our task and cluster
events have no Docker form and are not shown. Filters: ``type``, ``event``, ``service`` and
``node`` go to the control API's watch (``type`` only when it names kinds the watch
filters); ``network``, ``secret``, ``config``, ``label`` and ``scope`` are matched here;
keys of local objects (container, image, volume, plugin, daemon) match no swarm event, as
on Docker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from actors.engine_api.wire import Filters, label_matches

__all__ = ["DOCKER_TYPES", "EVENT_FILTERS", "docker_event", "local_match", "to_control"]

DOCKER_TYPES: Final = ("service", "node", "network", "secret", "config")
_WATCH_TYPES: Final = ("service", "node", "secret", "config")  # the watch's type filter
EVENT_FILTERS: Final = (
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
)
_LOCAL_ONLY: Final = ("container", "daemon", "image", "plugin", "volume")
_ACTIONS: Final = ("create", "update", "remove")


def to_control(filters: Filters) -> dict[str, Any]:
    """The control.events body for ``filters`` (what the watch can filter itself)."""
    words: list[str] = []
    types = filters.get("type", [])
    if types and all(t in _WATCH_TYPES for t in types):
        words += [f"type={t}" for t in types]
    actions = filters.get("event", [])
    if actions and all(a in _ACTIONS for a in actions):
        words += [f"event={a}" for a in actions]
    words += [f"service={s}" for s in filters.get("service", [])]
    words += [f"node={n}" for n in filters.get("node", [])]
    return {"filters": words} if words else {}


def local_match(filters: Filters, event: Mapping[str, Any]) -> bool:
    """What the control API's watch could not filter (``event``: its wire dict)."""
    if any(filters.get(key) for key in _LOCAL_ONLY):
        return False
    kind = str(event.get("type", ""))
    ids = (str(event.get("id", "")), str(event.get("name", "")))

    def named(key: str) -> bool:
        values = filters.get(key)
        return not values or (kind == key and any(v in ids for v in values))

    types = filters.get("type")
    actions = filters.get("event")
    scopes = filters.get("scope")
    return (
        (not types or kind in types)
        and (not actions or str(event.get("action", "")) in actions)
        and (not scopes or "swarm" in scopes)
        and named("network")
        and named("secret")
        and named("config")
        and label_matches(event.get("attributes") or {}, filters.get("label", ()))
    )


def docker_event(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """One event in Docker's form; None for a kind Docker has no swarm event for."""
    kind = str(event.get("type", ""))
    if kind not in DOCKER_TYPES:
        return None
    seconds = float(event.get("time", 0.0))
    attributes = {str(k): str(v) for k, v in (event.get("attributes") or {}).items()}
    if "name" not in attributes and event.get("name"):
        attributes["name"] = str(event["name"])
    action = str(event.get("action", ""))
    return {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": str(event.get("id", "")), "Attributes": attributes},
        "scope": "swarm",
        "time": int(seconds),
        "timeNano": int(seconds * 1e9),
        # the pre-1.22 names some clients still read
        "status": action,
        "id": str(event.get("id", "")),
        "from": "",
    }
