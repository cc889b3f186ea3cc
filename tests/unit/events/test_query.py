"""Filters, the cursor's promise (every change at or below the position is seen) and the
history-gap rule."""

from __future__ import annotations

import pytest

from actors.events.model import ClusterEvent
from actors.events.query import Cursor, EventMatcher, history_gap
from api.events import Bound, parse_bound, parse_filters


def ev(position: int, type_: str = "node", **kw: str) -> ClusterEvent:
    return ClusterEvent(
        position=position,
        time=float(kw.pop("time", position)),
        type=type_,
        action=kw.pop("action", "update"),
        id=kw.pop("id", f"id{position}"),
        name=kw.pop("name", ""),
        **kw,
    )


def test_filters_parse_and_refuse_with_reasons() -> None:
    f = parse_filters(["type=node", "type=Service", "event=update", "service=web", "node=w1"])
    assert f.types == {"node", "service"} and f.actions == {"update"}
    assert parse_filters(f.to_wire()) == f
    for bad, why in (
        ("type", "KEY=VALUE"),
        ("type=volume", "unknown type"),
        ("event=die", "unknown event"),
        ("label=x", "unknown key"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_filters([bad])
    with pytest.raises(ValueError, match="too many"):
        parse_filters([f"service=s{i}" for i in range(65)])


def test_matcher_types_actions_services_and_nodes() -> None:
    m = EventMatcher(parse_filters(["service=web"]))
    assert m.matches(ev(1, "service", name="web"))
    assert m.matches(ev(2, "task", service_name="web"))
    assert not m.matches(ev(3, "task", service_name="db"))
    assert not m.matches(ev(4, "node", name="web"))

    nodes = EventMatcher(parse_filters(["node=w1", "event=update"]))
    assert not nodes.matches(ev(5, "task", node_id="n9"))
    assert nodes.matches(ev(6, "node", name="w1", id="n9"))  # learns n9 is w1
    assert nodes.matches(ev(7, "task", node_id="n9"))
    assert not nodes.matches(ev(8, "node", name="w1", id="n9", action="create"))


def test_cursor_position_covers_filtered_changes_and_stops_at_until() -> None:
    cursor = Cursor(position=10)
    step = cursor.advance([ev(9), ev(11), ev(12)], version=15, now=0.0)
    assert [e.position for e in step.events] == [11, 12]
    assert step.position == 15 and not step.done  # 13..15 were filtered out, not missed

    until = Cursor(position=0, until=Bound(position=20))
    step = until.advance([ev(19), ev(20), ev(21)], version=25, now=0.0)
    assert [e.position for e in step.events] == [19, 20]
    assert (step.position, step.done) == (20, True)


def test_cursor_time_bounds() -> None:
    since = Cursor(position=0, since_time=100.0)
    step = since.advance([ev(1, time="99"), ev(2, time="100"), ev(3, time="101")], 3, now=200.0)
    assert [e.position for e in step.events] == [2, 3]

    until = Cursor(position=0, until=Bound(time=150.0))
    step = until.advance([ev(4, time="140"), ev(5, time="160")], 5, now=170.0)
    assert [e.position for e in step.events] == [4]
    assert (step.position, step.done) == (4, True)
    quiet = Cursor(position=0, until=Bound(time=150.0))
    assert not quiet.advance([], 9, now=149.0).done
    assert quiet.advance([], 9, now=151.0).done


def test_history_gap() -> None:
    assert not history_gap(50.0, floor=0, oldest_held=None)  # nothing ever dropped
    assert history_gap(50.0, floor=100, oldest_held=None)  # dropped, nothing held
    assert history_gap(50.0, floor=100, oldest_held=60.0)  # dropped after 50 maybe
    assert not history_gap(70.0, floor=100, oldest_held=60.0)


def test_bounds_as_typed() -> None:
    now = 10_000.0
    assert parse_bound("@42", now) == Bound(position=42)
    assert parse_bound("10m", now) == Bound(time=now - 600)
    assert parse_bound("1700000000.5", now) == Bound(time=1700000000.5)
    assert parse_bound("1970-01-01T01:00:00Z", now) == Bound(time=3600.0)
    for bad in ("@x", "@-1", "yesterday", ""):
        with pytest.raises(ValueError):
            parse_bound(bad, now)
