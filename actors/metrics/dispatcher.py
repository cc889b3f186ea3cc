"""The dispatcher's metrics, set by its shell (actors/dispatcher/actor.py, writer.py)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from actors.metrics.registry import NAMESPACE, REGISTRY

__all__ = ["HEARTBEATS_MISSED", "SESSIONS", "WRITES_GIVEN_UP", "WRITES_HELD"]

SESSIONS: Final = Gauge(
    "dispatcher_sessions",
    "Open worker sessions on this manager's dispatcher (0 when it is not the leader).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
HEARTBEATS_MISSED: Final = Counter(
    "dispatcher_heartbeats_missed",
    "Nodes this dispatcher marked down because their heartbeats stopped.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
WRITES_HELD: Final = Gauge(
    "dispatcher_writes_held",
    "Node and task status writes the store failed, held for another attempt.",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
WRITES_GIVEN_UP: Final = Counter(
    "dispatcher_writes_given_up",
    "Node and task status writes given up after the store failed them (logged with ids).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
