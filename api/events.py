"""The words of ``swarmctl events`` (issue 11 item 3), shared by the client and the
managers that serve it: event types and actions, the ``--filter`` language, and where a
watch starts and ends.

- An event's *position* is the Raft index of the change it reports: every manager applies
  the same log, so a position means the same change on every manager, and a watch resumes
  from one (``since`` a position: the changes after it).
- Filters follow ``docker events``: ``key=value``; several values of one key match any of
  them, different keys must all match. Keys: ``type`` (node, service, task, cluster,
  secret, config), ``event`` (create, update, remove), ``service`` (a name or id: the
  service's own events and its tasks'), ``node`` (a hostname or id: the node's own events
  and the tasks on it).
- ``since`` and ``until`` are each a position or a time (seconds since the epoch). As
  typed (`parse_bound`): ``@N`` is position N; a duration (``10m``, ``1h30m``) is that
  long before now, as ``docker events`` reads it; a number is a Unix time; otherwise an
  RFC 3339 / ISO 8601 date or time (without a zone: local time).

Pure: parsing and checking only, each refusal naming what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from api.units import parse_duration

__all__ = [
    "EVENT_ACTIONS",
    "EVENT_TYPES",
    "FILTER_KEYS",
    "MAX_FILTER_VALUES",
    "Bound",
    "EventFilters",
    "check_window",
    "parse_bound",
    "parse_filters",
]

EVENT_TYPES: Final = ("node", "service", "task", "cluster", "secret", "config")
EVENT_ACTIONS: Final = ("create", "update", "remove")
FILTER_KEYS: Final = ("type", "event", "service", "node")
MAX_FILTER_VALUES: Final = 64  # values of all filters of one watch
MAX_FILTER_VALUE_LENGTH: Final = 256


def _no_values() -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True, slots=True)
class EventFilters:
    """The filters of one watch; an empty set lets everything through."""

    types: frozenset[str] = field(default_factory=_no_values)
    actions: frozenset[str] = field(default_factory=_no_values)
    services: frozenset[str] = field(default_factory=_no_values)  # names or ids
    nodes: frozenset[str] = field(default_factory=_no_values)  # hostnames or ids

    def to_wire(self) -> list[str]:
        """Back to ``key=value`` words (what travels in a request)."""
        out: list[str] = []
        for key, values in (
            ("type", self.types),
            ("event", self.actions),
            ("service", self.services),
            ("node", self.nodes),
        ):
            out.extend(f"{key}={v}" for v in sorted(values))
        return out


def parse_filters(items: Iterable[str]) -> EventFilters:
    """``["type=node", "event=update"]`` → `EventFilters`; ValueError names the bad one."""
    values: dict[str, set[str]] = {key: set() for key in FILTER_KEYS}
    for count, item in enumerate(items, start=1):
        key, sep, value = str(item).partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise ValueError(f"invalid filter {item!r} (expected KEY=VALUE)")
        if key not in values:
            raise ValueError(
                f"invalid filter {item!r}: unknown key {key!r} "
                f"(expected one of: {', '.join(FILTER_KEYS)})"
            )
        if len(value) > MAX_FILTER_VALUE_LENGTH:
            raise ValueError(f"filter {key} value longer than {MAX_FILTER_VALUE_LENGTH}")
        if key == "type" and value.lower() not in EVENT_TYPES:
            raise ValueError(
                f"invalid filter {item!r}: unknown type (expected one of: {', '.join(EVENT_TYPES)})"
            )
        if key == "event" and value.lower() not in EVENT_ACTIONS:
            raise ValueError(
                f"invalid filter {item!r}: unknown event (expected one of: "
                f"{', '.join(EVENT_ACTIONS)})"
            )
        if count > MAX_FILTER_VALUES:
            raise ValueError(f"too many filters (at most {MAX_FILTER_VALUES})")
        values[key].add(value.lower() if key in ("type", "event") else value)
    return EventFilters(
        types=frozenset(values["type"]),
        actions=frozenset(values["event"]),
        services=frozenset(values["service"]),
        nodes=frozenset(values["node"]),
    )


@dataclass(frozen=True, slots=True)
class Bound:
    """Where a watch starts (``since``) or stops (``until``): a position, or a time in
    seconds since the epoch; neither: not bounded (``since``: only new events)."""

    position: int | None = None
    time: float | None = None

    def __post_init__(self) -> None:
        if self.position is not None and self.time is not None:
            raise ValueError("a bound is a position or a time, not both")
        if self.position is not None and self.position < 0:
            raise ValueError(f"a position is >= 0, got {self.position}")

    @property
    def unbounded(self) -> bool:
        return self.position is None and self.time is None

    def to_wire(self, prefix: str) -> dict[str, Any]:
        if self.position is not None:
            return {f"{prefix}_position": self.position}
        if self.time is not None:
            return {f"{prefix}_time": self.time}
        return {}

    @classmethod
    def from_wire(cls, body: Mapping[str, Any], prefix: str) -> Bound:
        """ValueError names a bad field."""
        position = body.get(f"{prefix}_position")
        time = body.get(f"{prefix}_time")
        if position is not None and (type(position) is not int or position < 0):
            raise ValueError(f"{prefix}_position must be an integer >= 0")
        if time is not None and not isinstance(time, int | float):
            raise ValueError(f"{prefix}_time must be a number")
        if position is not None and time is not None:
            raise ValueError(f"give {prefix}_position or {prefix}_time, not both")
        return cls(position, None if time is None else float(time))


def check_window(since: Bound, until: Bound) -> None:
    """ValueError when ``until`` comes before ``since`` (both positions, or both times):
    such a watch would show nothing and look like a quiet cluster (Docker's daemon refuses
    a since after an until too)."""
    if since.position is not None and until.position is not None:
        if until.position < since.position:
            raise ValueError(f"until @{until.position} is before since @{since.position}")
    elif since.time is not None and until.time is not None and until.time < since.time:
        raise ValueError(f"until {_shown(until.time)} is before since {_shown(since.time)}")


def _shown(seconds: float) -> str:
    """A time as RFC 3339 in UTC (``2026-12-07T10:00:17Z``; fractions when it has them)."""
    text = datetime.fromtimestamp(seconds, UTC).isoformat(
        timespec="seconds" if seconds == int(seconds) else "microseconds"
    )
    return text.replace("+00:00", "Z")


_UNIX_TIME = re.compile(r"\d+(?:\.\d+)?")


def parse_bound(text: str, now: float) -> Bound:
    """What ``--since``/``--until`` mean (see the module docstring); ``now`` in seconds
    since the epoch. ValueError names the input."""
    s = text.strip()
    if s.startswith("@"):
        digits = s[1:]
        if not digits.isdigit():
            raise ValueError(f"invalid position {text!r} (expected @N, N a Raft index >= 0)")
        return Bound(position=int(digits))
    if _UNIX_TIME.fullmatch(s):
        return Bound(time=float(s))
    try:
        return Bound(time=now - parse_duration(s))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(
            f"invalid time {text!r} (expected @POSITION, a duration such as 10m, a Unix "
            "time, or a date/time such as 2024-05-01T10:00:00Z)"
        ) from None
    return Bound(time=moment.timestamp())
