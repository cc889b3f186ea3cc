"""The dispatcher's metrics, set by its shell (actors/dispatcher/actor.py)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from actors.metrics.registry import NAMESPACE, REGISTRY

__all__ = ["HEARTBEATS_MISSED", "SESSIONS"]

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
