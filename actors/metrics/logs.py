"""The log broker's metrics, set by its shell (actors/logs/broker.py)."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from actors.metrics.registry import NAMESPACE, REGISTRY

__all__ = ["LOG_SUBSCRIPTIONS", "LOG_SUBSCRIPTIONS_EXPIRED"]

LOG_SUBSCRIPTIONS: Final = Gauge(
    "log_subscriptions",
    "Log subscriptions the leader's broker holds (0 when this manager is not the leader).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
LOG_SUBSCRIPTIONS_EXPIRED: Final = Counter(
    "log_subscriptions_expired",
    "Log subscriptions the broker dropped because nobody read them for its idle timeout "
    "(a reader gone without closing).",
    namespace=NAMESPACE,
    registry=REGISTRY,
)
