"""What goes in and out of the log broker's core (broker_core.py): its limits, its refusals,
where a task is, and the effects its shell carries out. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from actors.logs.wire import SubscriptionMessage

__all__ = [
    "TOO_MANY",
    "UNKNOWN_SUBSCRIPTION",
    "BrokerError",
    "BrokerLimits",
    "Delivery",
    "Effects",
    "PublishResult",
    "TaskPlace",
]

UNKNOWN_SUBSCRIPTION: Final = "unknown_subscription"
TOO_MANY: Final = "too_many_subscriptions"


class BrokerError(Exception):
    """A request the broker refuses; ``code`` goes on the wire."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class BrokerLimits:
    max_subscriptions: int = 256
    buffer_records: int = 20_000  # per subscription
    buffer_bytes: int = 8 * 1024 * 1024  # per subscription
    total_bytes: int = 64 * 1024 * 1024  # all subscriptions together
    read_records: int = 5000  # per read
    read_bytes: int = 4 * 1024 * 1024  # per read
    idle_timeout: float = 30.0  # a subscription nobody reads for this long is dropped
    node_timeout: float = 30.0  # a node silent this long has ended its part (no follow)
    done_grace: float = 10.0  # a finished subscription answers done this long


@dataclass(frozen=True, slots=True)
class TaskPlace:
    """Where the store says a task is, for judging a publisher."""

    node_id: str
    service_id: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """Subscription messages for one node's listen stream."""

    node_id: str
    messages: tuple[SubscriptionMessage, ...]


@dataclass(slots=True)
class Effects:
    deliveries: list[Delivery] = field(default_factory=list)
    wake: set[str] = field(default_factory=set)  # subscriptions a waiting read may take
    # subscriptions dropped by time, with why: "idle" (nobody read them for the idle
    # timeout: their reader went away without closing) or "done" (read to their end)
    expired: list[tuple[str, str]] = field(default_factory=list)

    def send(self, node_id: str, *messages: SubscriptionMessage) -> None:
        self.deliveries.append(Delivery(node_id, messages))


@dataclass(frozen=True, slots=True)
class PublishResult:
    accepted: int
    refused: int
    stop: bool  # the node should stop publishing to this subscription
    backlog: int = 0  # records the subscription holds that its reader has not read
