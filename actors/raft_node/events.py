"""Leadership changes, delivered to subscribers on one thread, in order.

The thread waits on a queue (it is not periodic, so it is no `PeriodicActor`); the loop
thread publishes without ever blocking on a subscriber. A subscriber that raises, or the
thread dying, is a failure of the node: it is logged and handed to ``report`` (the
RaftNode's failure, which crashes its actor so that the supervisor restarts it and the new
node delivers the current leadership again), never swallowed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["LeadershipChange", "LeadershipNotifier"]


@dataclass(frozen=True, slots=True)
class LeadershipChange:
    is_leader: bool
    leader_id: int  # 0: no leader known
    term: int


Subscriber = Callable[[LeadershipChange], None]


class LeadershipNotifier:
    def __init__(self, log: Any, report: Callable[[BaseException], None]) -> None:
        self._log = log
        self._report = report
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[tuple[Subscriber, ...], LeadershipChange] | None]
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="raft-events", daemon=True)
        self._thread.start()

    def subscribe(self, callback: Subscriber, current: LeadershipChange) -> Callable[[], None]:
        """Deliver ``current`` to ``callback``, then every change; returns the unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)
        self._queue.put(((callback,), current))

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, change: LeadershipChange) -> None:
        with self._lock:
            subscribers = tuple(self._subscribers)
        if subscribers:
            self._queue.put((subscribers, change))

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                callbacks, change = item
                for cb in callbacks:
                    try:
                        cb(change)
                    except Exception as exc:
                        self._log.exception("raft.leadership.callback_failed", error=repr(exc))
                        with contextlib.suppress(Exception):
                            self._report(exc)
        except BaseException as exc:
            self._log.exception("raft.events.crashed", error=repr(exc))
            with contextlib.suppress(Exception):
                self._report(exc)
