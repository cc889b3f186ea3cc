"""What one watch lets through, and how far it has got (pure).

- `EventMatcher` applies the filters (api/events.py). ``node=NAME`` matches a node's own
  events by hostname or id, and the tasks on it by node id: the ids known when the watch
  opened, and those of nodes that show up later under that hostname (learned from their
  own events as they pass).
- `Cursor` is the watch's place in the log. ``position`` is a promise: every change at or
  below it has been sent or filtered out, so a watch resumed ``since`` it misses nothing
  and repeats nothing. Changes arrive in whole entries (the shell drains the watch under
  the store's lock), so after each drain the position is the store's version, capped by
  ``until``. A time ``since`` drops the events committed before it; a time ``until`` ends
  the watch at the first event after it, or once the clock passes it.
- `history_gap` says whether a watch from a time would miss events the manager no longer
  holds (its bounded history starts after that time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from actors.events.model import ClusterEvent
from api.events import Bound, EventFilters

__all__ = ["Cursor", "EventMatcher", "Step", "history_gap"]


class EventMatcher:
    def __init__(self, filters: EventFilters, node_ids: Iterable[str] = ()) -> None:
        self.filters = filters
        self.node_ids = set(node_ids)  # ids of the nodes the node filter names

    def matches(self, event: ClusterEvent) -> bool:
        f = self.filters
        if f.types and event.type not in f.types:
            return False
        if f.actions and event.action not in f.actions:
            return False
        if f.services and not self._service(event):
            return False
        return not f.nodes or self._node(event)

    def _service(self, event: ClusterEvent) -> bool:
        wanted = self.filters.services
        if event.type == "service":
            return event.id in wanted or event.name in wanted
        if event.type == "task":
            return event.service_id in wanted or event.service_name in wanted
        return False

    def _node(self, event: ClusterEvent) -> bool:
        wanted = self.filters.nodes
        if event.type == "node":
            if event.name in wanted or event.id in wanted:
                self.node_ids.add(event.id)
                return True
            return False
        if event.type == "task":
            return bool(event.node_id) and (
                event.node_id in self.node_ids or event.node_id in wanted
            )
        return False


@dataclass(frozen=True, slots=True)
class Step:
    """What one drain gives the watcher: the events to send, the position they leave it
    at, and whether ``until`` was reached (the watch ends)."""

    events: tuple[ClusterEvent, ...]
    position: int
    done: bool = False


@dataclass(slots=True)
class Cursor:
    position: int
    since_time: float | None = None
    until: Bound = field(default_factory=Bound)

    def advance(self, events: Sequence[ClusterEvent], version: int, now: float) -> Step:
        """``events``: every event (matching or not) of the changes after the last drain
        up to ``version``, in order; ``now``: the wall clock (for a time ``until``)."""
        until = self.until
        out: list[ClusterEvent] = []
        for event in events:
            if event.position <= self.position:
                continue  # resumed from a position this manager had not reached yet
            if until.position is not None and event.position > until.position:
                return self._finish(out, until.position)
            if until.time is not None and event.time > until.time:
                return self._finish(out, event.position - 1)
            if self.since_time is not None and event.time < self.since_time:
                continue
            out.append(event)
        reached = max(self.position, version)
        if until.position is not None and reached >= until.position:
            return self._finish(out, until.position)
        if until.time is not None and now >= until.time:
            return self._finish(out, reached)
        self.position = reached
        return Step(tuple(out), reached)

    def _finish(self, out: list[ClusterEvent], position: int) -> Step:
        self.position = max(self.position, position)
        return Step(tuple(out), self.position, done=True)


def history_gap(since_time: float, floor: int, oldest_held: float | None) -> bool:
    """True when a watch from ``since_time`` would miss events: the manager dropped
    history (``floor`` > 0: changes up to it are no longer held) and holds nothing from
    before ``since_time`` (``oldest_held``: the time of its oldest held change, None when
    it holds none), so changes after that time may be among those dropped."""
    if floor == 0:
        return False
    return oldest_held is None or oldest_held > since_time
