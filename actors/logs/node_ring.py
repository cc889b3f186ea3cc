"""The node's event ring as an ``EventSource`` for its log publisher (publishing.py).

A read takes the events the ring holds (filtered and tailed as the subscription asks,
node_events.py) and, with follow, the events logged after them, from a bounded queue of
the ring's (actors/log.py): events the queue could not take while the publisher was behind
are lost, and the reader is told with a ``logs.events.dropped`` event. ``close_reads``
ends a subscription's read soon (it waits at most ``poll`` seconds per turn).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Final

from actors.log import LogRing, node_id, ring
from actors.logs.node_events import event_record, event_selected, select_events
from actors.logs.wire import LogRecord, SubscriptionMessage
from api.timestamps import format_rfc3339_ns

__all__ = ["NodeEvents"]

FOLLOW_QUEUE: Final = 5000  # events a follow may be behind before it loses some
POLL: Final = 0.2


class NodeEvents:
    def __init__(
        self,
        events: Callable[[], LogRing] = ring,
        *,
        clock_ns: Callable[[], int] | None = None,
        poll: float = POLL,
    ) -> None:
        self._ring = events
        self._poll = poll
        self._lock = threading.Lock()
        self._closing: dict[str, threading.Event] = {}
        self._clock_ns = clock_ns or time.time_ns

    def close_reads(self, message: SubscriptionMessage) -> None:
        with self._lock:
            closing = self._closing.get(message.id)
        if closing is not None:
            closing.set()

    def events(self, message: SubscriptionMessage) -> Iterator[LogRecord]:
        options = message.options
        closing = threading.Event()
        with self._lock:
            self._closing[message.id] = closing
        subscription = self._ring().subscribe(
            maxsize=self._ring().capacity + FOLLOW_QUEUE, replay=True
        )
        try:
            yield from select_events(subscription.drain(), options)
            if not options.follow:
                return
            dropped = 0
            while not closing.is_set():
                event = subscription.get(timeout=self._poll)
                if subscription.dropped > dropped:
                    lost, dropped = subscription.dropped - dropped, subscription.dropped
                    yield event_record(self._dropped(lost))
                if event is not None and event_selected(event, options):
                    yield event_record(event)
        finally:
            subscription.close()
            with self._lock:
                self._closing.pop(message.id, None)

    def _dropped(self, lost: int) -> dict[str, object]:
        return {
            "timestamp": format_rfc3339_ns(self._clock_ns()),
            "level": "warning",
            "subsystem": "logs",
            "event": "logs.events.dropped",
            "node_id": node_id(),
            "dropped": lost,
            "reason": "the node's log publisher did not keep up",
        }
