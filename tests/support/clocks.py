"""A manual clock and timer for tests of actors that take ``ctx.clock`` and ``ctx.timer``:
the test moves time and fires what is due; nothing sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["ManualClock", "ManualTime", "ManualTimer"]


class ManualClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ManualTime:
    """A clock and a sleep for code that polls with a deadline (``clock=``, ``sleep=``):
    each sleep is recorded and moves the clock on by as much."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class ManualTimer:
    """Records ``call_later`` requests (thread-safe); `fire_all` runs the pending ones,
    `advance` runs those due by the clock's new time."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock()
        self._lock = threading.Lock()
        self.pending: list[tuple[float, Callable[[], None]]] = []  # (due time, callback)
        self.delays: list[float] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        entry = (self.clock() + delay, callback)
        with self._lock:
            self.pending.append(entry)
            self.delays.append(delay)

        def cancel() -> None:
            with self._lock:
                if entry in self.pending:
                    self.pending.remove(entry)

        return cancel

    def fire_all(self) -> int:
        with self._lock:
            due, self.pending = self.pending, []
        for _, callback in due:
            callback()
        return len(due)

    def advance(self, seconds: float) -> int:
        """Move the clock on and run every callback due by then; how many ran."""
        self.clock.advance(seconds)
        now = self.clock()
        with self._lock:
            due = [e for e in self.pending if e[0] <= now]
            self.pending = [e for e in self.pending if e[0] > now]
        for _, callback in sorted(due, key=lambda e: e[0]):
            callback()
        return len(due)

    def has_pending(self) -> bool:
        with self._lock:
            return bool(self.pending)
