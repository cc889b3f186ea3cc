"""The watch queue: every committed change, after it is applied, as an ``Event``.

- ``Event(kind, action, object, version, old, time)``: ``version`` is the Raft index of
  the change (several events can share one); ``object`` is the object after the change
  (for a delete, the deleted object); ``old`` the object before it (``None`` for a
  create); ``time`` the entry's timestamp (the proposing manager's clock).
- A watcher filters by kinds, actions and a predicate. It can resume: ``since=v`` first
  delivers the retained events with version > v. The store keeps a bounded ring of recent
  events; resuming from before it raises ``WatchHistoryTooOld``.
- Delivery never blocks ``apply``: each watcher has a bounded queue; a watcher that falls
  that far behind is closed (``WatchClosed``, reason given) and must re-read the store.
- ``restore`` (a Raft snapshot installed) closes every watcher with ``WatchClosed(reset=
  True)`` and clears the ring: consumers re-read the store with ``view`` and watch again
  from its version. That is the store's "reset" signal.
- A consumer polls (``poll``), blocks (``get``) or is told through ``notify``, a callback
  called without locks after events are queued (an actor sends itself a message there).
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from actors.store.entry import Action
from actors.store.errors import WatchClosed, WatchHistoryTooOld
from api.objects import Object, ObjectKind
from api.objects_init import fast_init

__all__ = ["Event", "EventFilter", "WatchHub", "Watcher"]


@fast_init  # built for every write (api/objects_init.py)
@dataclass(frozen=True, slots=True)
class Event:
    kind: ObjectKind
    action: Action
    object: Object
    version: int
    old: Object | None = None
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class EventFilter:
    kinds: frozenset[ObjectKind] | None = None
    actions: frozenset[Action] | None = None
    predicate: Callable[[Event], bool] | None = None

    def matches(self, event: Event) -> bool:
        if self.kinds is not None and event.kind not in self.kinds:
            return False
        if self.actions is not None and event.action not in self.actions:
            return False
        return self.predicate is None or self.predicate(event)

    def select(self, events: list[Event]) -> list[Event]:
        """The events that match, in order (``matches`` for each, without a call each)."""
        kinds, actions, predicate = self.kinds, self.actions, self.predicate
        if kinds is not None:
            events = [e for e in events if e.kind in kinds]
        if actions is not None:
            events = [e for e in events if e.action in actions]
        if predicate is not None:
            events = [e for e in events if predicate(e)]
        return events


class Watcher:
    """One consumer's queue. Thread-safe: the store pushes, the consumer pops."""

    def __init__(
        self,
        hub: WatchHub,
        event_filter: EventFilter,
        max_queue: int,
        notify: Callable[[], None] | None,
        *,
        grows: bool = False,
    ) -> None:
        self._hub = hub
        self.filter = event_filter
        self._max_queue = max_queue
        # an in-process consumer's bound grows with the store (WatchHub.publish's floor):
        # one that falls behind re-reads the whole store, so a queue smaller than the store
        # makes a burst cost more than the events it held
        self._grows = grows
        self._notify = notify
        self._queue: collections.deque[Event] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._closed: WatchClosed | None = None

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def close_reason(self) -> str | None:
        return self._closed.reason if self._closed is not None else None

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def poll(self, max_events: int | None = None) -> list[Event]:
        """Queued events, without waiting. Raises WatchClosed once closed and drained."""
        with self._cond:
            if not self._queue and self._closed is not None:
                raise self._closed
            n = len(self._queue) if max_events is None else min(max_events, len(self._queue))
            return [self._queue.popleft() for _ in range(n)]

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting up to ``timeout`` seconds (None: forever); None on
        timeout. Raises WatchClosed once closed and drained."""
        with self._cond:
            if not self._queue and self._closed is None:
                self._cond.wait_for(lambda: bool(self._queue) or self._closed is not None, timeout)
            if self._queue:
                return self._queue.popleft()
            if self._closed is not None:
                raise self._closed
            return None

    def close(self) -> None:
        """Stop watching (the consumer's side)."""
        self._hub.remove(self)
        self._shut(WatchClosed("watcher closed by its owner"), keep_queue=True)

    # --- called by the hub, under the store's lock ---

    def _push(self, events: list[Event], floor: int = 0) -> bool:
        """Queue ``events`` (one entry's, matching the filter) and wake a waiting ``get``
        once; False when the watcher overflowed and was closed. ``floor``: the least bound
        of a growing watcher (the store's object count)."""
        with self._cond:
            if self._closed is not None:
                return False
            bound = max(self._max_queue, floor) if self._grows else self._max_queue
            # pushed one at a time, the queue would overflow at the same event count
            if len(self._queue) + len(events) > bound:
                self._queue.clear()
                self._closed = WatchClosed(
                    f"watcher fell behind: {bound} events not consumed; "
                    "re-read the store and watch again"
                )
                self._cond.notify_all()
                return False
            self._queue.extend(events)
            self._cond.notify_all()
            return True

    def _preload(self, events: Iterable[Event]) -> None:
        with self._cond:
            self._queue.extend(events)

    def _shut(self, reason: WatchClosed, *, keep_queue: bool) -> None:
        with self._cond:
            if self._closed is None:
                self._closed = reason
            if not keep_queue:
                self._queue.clear()
            self._cond.notify_all()

    def _wake(self) -> None:
        if self._notify is not None:
            self._notify()


class WatchHub:
    """The watchers of one store and the ring of recent events. The store calls it under
    its own lock (also given here, for a watcher's ``close``); watchers are woken after
    that lock is released."""

    def __init__(
        self,
        history_size: int,
        start_version: int = 0,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self._lock: AbstractContextManager[Any] = lock if lock is not None else nullcontext()
        self._ring: collections.deque[Event] = collections.deque(maxlen=history_size)
        self._history_size = history_size
        # every event with version > floor is in the ring
        self._floor = start_version
        self._watchers: list[Watcher] = []

    @property
    def watchers(self) -> int:
        return len(self._watchers)

    @property
    def oldest_resumable(self) -> int:
        """Every event with a greater version is still held: a watch may resume from
        this version or a later one."""
        return self._floor

    def add(
        self,
        event_filter: EventFilter,
        *,
        since: int | None,
        max_queue: int,
        notify: Callable[[], None] | None,
        grows: bool = False,
    ) -> Watcher:
        if since is not None and since < self._floor:
            raise WatchHistoryTooOld(since, self._floor)
        watcher = Watcher(self, event_filter, max_queue, notify, grows=grows)
        if since is not None:
            watcher._preload(e for e in self._ring if e.version > since and event_filter.matches(e))
        self._watchers.append(watcher)
        return watcher

    def remove(self, watcher: Watcher) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)

    def publish(self, events: list[Event], floor: int = 0) -> list[Watcher]:
        """Record and deliver; returns the watchers to wake once the lock is released.
        ``floor``: the least queue bound of growing watchers."""
        if not events:
            return []
        ring = self._ring
        held = len(ring)
        over = held + len(events) - self._history_size
        if over > 0:  # events are in version order: the last one dropped is the floor
            last = ring[over - 1] if over <= held else events[over - held - 1]
            self._floor = max(self._floor, last.version)
        ring.extend(events)  # the deque's maxlen drops the oldest (a loop here cost 4%)
        to_wake: list[Watcher] = []
        for watcher in list(self._watchers):
            matching = watcher.filter.select(events)
            if not matching:
                continue
            if not watcher._push(matching, floor):
                self.remove(watcher)
            to_wake.append(watcher)  # a closed one is woken to see it was closed
        return to_wake

    def reset(self, version: int, reason: str) -> list[Watcher]:
        """Forget history and close every watcher (after a restore)."""
        self._ring.clear()
        self._floor = version
        closed = self._watchers
        self._watchers = []
        for watcher in closed:
            watcher._shut(WatchClosed(reason, reset=True), keep_queue=False)
        return closed
