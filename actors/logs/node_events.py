"""A node's own structured log events as log records, filtered as a subscription asks.

Events are the dicts the node's event ring keeps (actors/log.py): ``timestamp`` (ISO 8601,
UTC), ``level``, ``subsystem``, ``event`` and the event's own keys. A record carries one
event as its JSON object (``stream`` ``event``, no task), stamped with the event's time.

Rules: ``since`` keeps events stamped at or after it; ``min_level`` those at that level or
above (a level this node does not know counts as info); ``subsystems``, when given, those of
one of them; ``tail`` the last N of what is kept. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from actors.logs.wire import EVENT, LEVELS, MAX_RECORD_BYTES, LogOptions, LogRecord
from api.timestamps import parse_rfc3339_ns

__all__ = ["event_record", "event_selected", "event_time", "select_events"]

_INFO: Final = LEVELS.index("info")
_ALIASES: Final = {"warn": "warning", "exception": "error", "fatal": "critical"}


def _rank(level: object) -> int:
    name = str(level or "info").lower()
    name = _ALIASES.get(name, name)
    return LEVELS.index(name) if name in LEVELS else _INFO


def event_time(event: Mapping[str, Any]) -> int:
    """The event's time in nanoseconds since the epoch (0 when it has none)."""
    try:
        return parse_rfc3339_ns(str(event["timestamp"]))
    except (KeyError, ValueError):
        return 0


def event_selected(event: Mapping[str, Any], options: LogOptions) -> bool:
    if options.since and event_time(event) < options.since:
        return False
    if options.min_level and _rank(event.get("level")) < LEVELS.index(options.min_level):
        return False
    return not options.subsystems or str(event.get("subsystem")) in options.subsystems


def event_record(event: Mapping[str, Any]) -> LogRecord:
    data = json.dumps(event, default=str, separators=(",", ":")).encode()
    if len(data) > MAX_RECORD_BYTES:  # an event with a huge value: say so, within bounds
        cut = {k: event.get(k) for k in ("timestamp", "level", "subsystem", "event", "node_id")}
        cut["truncated"] = f"the event's JSON was {len(data)} bytes"
        data = json.dumps(cut, default=str).encode()
    return LogRecord("", event_time(event), EVENT, data)


def select_events(events: Iterable[Mapping[str, Any]], options: LogOptions) -> list[LogRecord]:
    """The records of the held ``events`` the options keep (``tail`` applied)."""
    kept = [event_record(e) for e in events if event_selected(e, options)]
    return kept[max(0, len(kept) - options.tail) :] if options.tail >= 0 else kept
