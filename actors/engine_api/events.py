"""``docker events`` from our cluster events (actors/events/), pure.

Docker's swarm event types are service, node, network, secret and config (scope
``swarm``; dockerd logs each of these SwarmKit objects' changes); our task and cluster
events have no Docker form and are not shown. Filters: ``type``, ``event``, ``service`` and
``node`` go to the control API's watch (``type`` only when it names kinds the watch
filters); ``network``, ``secret``, ``config``, ``label`` and ``scope`` are matched here;
keys of local objects (container, image, volume, plugin, daemon) match no swarm event, as
on Docker.

A service's ``remove`` is shown when ``service rm`` commits (our ``update`` whose changes
say ``removing``), as SwarmKit deletes a service at once; the store's later delete, once
its tasks are gone, is not shown again.
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
        # a service's Docker remove is our update that says "removing"
        wanted = set(actions) | ({"update"} if "remove" in actions else set())
        words += [f"event={a}" for a in _ACTIONS if a in wanted]
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
        and (not actions or _docker_action(event) in actions)
        and (not scopes or "swarm" in scopes)
        and named("network")
        and named("secret")
        and named("config")
        and label_matches(event.get("attributes") or {}, filters.get("label", ()))
    )


def _docker_action(event: Mapping[str, Any]) -> str | None:
    """Docker's action for ``event``; None where Docker logs nothing (a service's store
    delete: its remove was shown when ``service rm`` committed)."""
    action = str(event.get("action", ""))
    if event.get("type") != "service":
        return action
    if action == "remove":
        return None
    if action == "update" and "removing" in (event.get("changes") or ()):
        return "remove"
    return action


def docker_event(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """One event in Docker's form (dockerd's cluster events: no pre-1.22 ``status``,
    ``id`` or ``from``, which it fills for container and image events only); None for
    a kind or change Docker has no swarm event for."""
    kind = str(event.get("type", ""))
    action = _docker_action(event)
    if kind not in DOCKER_TYPES or action is None:
        return None
    seconds = float(event.get("time", 0.0))
    attributes = {str(k): str(v) for k, v in (event.get("attributes") or {}).items()}
    if "name" not in attributes and event.get("name"):
        attributes["name"] = str(event["name"])
    if action == "remove":
        attributes = {"name": attributes["name"]} if "name" in attributes else {}
    return {
        "Type": kind,
        "Action": action,
        "Actor": {"ID": str(event.get("id", "")), "Attributes": attributes},
        "scope": "swarm",
        "time": int(seconds),
        "timeNano": int(seconds * 1e9),
    }
