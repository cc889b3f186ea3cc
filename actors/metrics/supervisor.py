"""Supervision's metrics, counted by actors/supervisor.py."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

from actors.metrics.registry import NAMESPACE, REGISTRY

__all__ = ["CRASHES", "RESTARTS"]

RESTARTS: Final = Counter(
    "actor_restarts",
    "Actors restarted by their supervisor after a crash, by supervisor and child.",
    ["supervisor", "child"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
CRASHES: Final = Counter(
    "actor_crashes",
    "Actors that crashed (or failed to start), by supervisor and child.",
    ["supervisor", "child"],
    namespace=NAMESPACE,
    registry=REGISTRY,
)
