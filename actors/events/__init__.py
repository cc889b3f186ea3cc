"""Cluster events (issue 11 item 3; DESIGN.md §10): ``swarmctl events``.

- model.py: one store change → one `ClusterEvent` (pure);
- query.py: filters, the watch's cursor, the history-gap rule (pure);
- streams.py: the ``control.events`` handler and the actor that streams every watch from
  this manager's own store (the shell; it says what "gone" means).
"""

from actors.events.model import ClusterEvent, describe
from actors.events.query import Cursor, EventMatcher, history_gap
from actors.events.streams import EventStreams, EventStreamsActor

__all__ = [
    "ClusterEvent",
    "Cursor",
    "EventMatcher",
    "EventStreams",
    "EventStreamsActor",
    "describe",
    "history_gap",
]
