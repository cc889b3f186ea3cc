"""A node's log events as records, filtered as a subscription asks (node_events.py), read
from a ring (node_ring.py), and rendered by ``swarmctl node logs`` (cli/node_logs.py)."""

from __future__ import annotations

import json

from actors.log import LogRing
from actors.logs.node_events import event_time, select_events
from actors.logs.node_ring import NodeEvents
from actors.logs.wire import Kind, LogOptions, SubscriptionMessage
from cli.node_logs import render_event


def event(second: int, level: str, subsystem: str, name: str, **rest: object) -> dict[str, object]:
    return {
        "timestamp": f"2026-01-01T00:00:{second:02d}.5Z",
        "level": level,
        "subsystem": subsystem,
        "event": name,
        "node_id": "n1",
        **rest,
    }


EVENTS = [
    event(1, "info", "raft", "raft.election.won"),
    event(2, "warning", "agent", "agent.session.ended", reason="gone"),
    event(3, "error", "worker", "worker.task.failed"),
    event(4, "info", "agent", "agent.session.opened"),
]


def names(options: LogOptions) -> list[str]:
    return [json.loads(r.data)["event"] for r in select_events(EVENTS, options)]


def test_events_are_kept_by_time_level_subsystem_and_tail() -> None:
    assert names(LogOptions()) == [e["event"] for e in EVENTS]
    assert names(LogOptions(since=event_time(EVENTS[2]))) == [
        "worker.task.failed",
        "agent.session.opened",
    ]
    assert names(LogOptions(min_level="warning")) == ["agent.session.ended", "worker.task.failed"]
    assert names(LogOptions(subsystems=("agent",))) == [
        "agent.session.ended",
        "agent.session.opened",
    ]
    assert names(LogOptions(tail=1)) == ["agent.session.opened"]
    assert names(LogOptions(tail=0)) == []


def test_a_record_is_the_event_stamped_with_its_time() -> None:
    (record,) = select_events(EVENTS[:1], LogOptions())
    assert record.stream == "event" and record.task_id == ""
    assert record.ts == event_time(EVENTS[0]) > 0


def test_a_follow_reads_the_held_events_then_new_ones() -> None:
    ring = LogRing(10)
    for e in EVENTS:
        ring.append(e)
    source = NodeEvents(lambda: ring, poll=0.01)
    message = SubscriptionMessage("sub", Kind.NODE, LogOptions(follow=True, subsystems=("agent",)))
    read = source.events(message)
    held = [json.loads(next(read).data)["event"] for _ in range(2)]
    assert held == ["agent.session.ended", "agent.session.opened"]
    ring.append(event(5, "info", "raft", "raft.ignored"))
    ring.append(event(6, "info", "agent", "agent.new"))
    assert json.loads(next(read).data)["event"] == "agent.new"
    source.close_reads(message)
    assert list(read) == []


def test_the_default_view_is_one_readable_line_per_event() -> None:
    line = render_event(EVENTS[1] | {"detail": "two words"})
    assert line == (
        "2026-01-01T00:00:02.5Z WARNING  agent        agent.session.ended reason=gone "
        'detail="two words"\n'
    )
